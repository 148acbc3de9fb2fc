# syntax=docker/dockerfile:1
# One image per CMIS service (and `cli` for the provisioning Job), from one build of the workspace:
#   docker build --build-arg SERVICE=rules --target rules -t cmis/rules .
# SERVICE and --target name the same thing: SERVICE picks what `pnpm deploy` copies, the target
# sets the command. deploy/k8s/README.md documents it; test/deploy/k8s.unit.spec.ts checks that
# every service has a target whose command is its Deployment's.
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
ENV COREPACK_INTEGRITY_KEYS=0 \
    PNPM_HOME=/pnpm \
    CI=true
RUN corepack enable
WORKDIR /src
# Dependencies first (from the lockfile alone), so source changes reuse this layer.
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml .npmrc ./
COPY patches ./patches
RUN corepack pnpm fetch
COPY . .
RUN corepack pnpm install --offline --frozen-lockfile \
 && corepack pnpm exec tsc -b tsconfig.json

FROM build AS deploy
ARG SERVICE
# The package with its production dependencies only, workspace packages copied in (pnpm 10's
# deploy needs inject-workspace-packages; given here so the workspace's own install is unchanged).
RUN test -n "$SERVICE" || { echo "build with --build-arg SERVICE=<service>" >&2; exit 1; } \
 && dir="services/$SERVICE" && { [ -d "$dir" ] || dir="packages/$SERVICE"; } \
 && corepack pnpm --config.inject-workspace-packages=true --filter "@cmis/$SERVICE" --prod \
      deploy --offline "/out/$dir"

FROM ${NODE_IMAGE} AS runtime
ARG SERVICE
# Build args do not reach later stages; the targets below check this one.
ENV NODE_ENV=production \
    CMIS_IMAGE_SERVICE=${SERVICE}
WORKDIR /app
# Owned by root and not writable by the service user; Kubernetes mounts the root read-only too.
COPY --from=deploy /out /app
USER 10001:10001

FROM runtime AS triggers
RUN test "$CMIS_IMAGE_SERVICE" = triggers || { echo "target triggers needs --build-arg SERVICE=triggers" >&2; exit 1; }
EXPOSE 3001
CMD ["node", "services/triggers/dist/main.js"]

FROM runtime AS rules
RUN test "$CMIS_IMAGE_SERVICE" = rules || { echo "target rules needs --build-arg SERVICE=rules" >&2; exit 1; }
EXPOSE 3002
CMD ["node", "services/rules/dist/main.js"]

FROM runtime AS workflows
RUN test "$CMIS_IMAGE_SERVICE" = workflows || { echo "target workflows needs --build-arg SERVICE=workflows" >&2; exit 1; }
EXPOSE 3003
CMD ["node", "services/workflows/dist/main.js"]

FROM runtime AS drip
RUN test "$CMIS_IMAGE_SERVICE" = drip || { echo "target drip needs --build-arg SERVICE=drip" >&2; exit 1; }
EXPOSE 3004
CMD ["node", "services/drip/dist/main.js"]

FROM runtime AS email
RUN test "$CMIS_IMAGE_SERVICE" = email || { echo "target email needs --build-arg SERVICE=email" >&2; exit 1; }
EXPOSE 3005
CMD ["node", "services/email/dist/main.js"]

FROM runtime AS analytics
RUN test "$CMIS_IMAGE_SERVICE" = analytics || { echo "target analytics needs --build-arg SERVICE=analytics" >&2; exit 1; }
EXPOSE 3006
CMD ["node", "services/analytics/dist/main.js"]

FROM runtime AS cli
RUN test "$CMIS_IMAGE_SERVICE" = cli || { echo "target cli needs --build-arg SERVICE=cli" >&2; exit 1; }
CMD ["node", "packages/cli/dist/main.js", "provision"]
