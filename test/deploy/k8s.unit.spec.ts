// deploy/k8s rendered as kubectl renders it, every object checked against the Kubernetes API
// schemas offline, and against the code: every service, every variable its code reads, every
// catalog topic; the Dockerfile's targets against the Deployments.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { allTopics, deadLetterTopicOf, provisionTopics, type TopicAdmin } from '@cmis/contracts';
import { serviceProcessConfig } from '@cmis/platform';
import { SERVICES } from '@cmis/cli';
import { consumerGroupsOf, envReadBy, render, ROOT, schemaProblems, type K8sObject } from './k8s-render';
import { dockerfileTargets } from './dockerfile';

const OVERLAYS = ['overlays/dev', 'overlays/prod'];
const RENDERED = ['base', 'components/hpa', 'components/keda', ...OVERLAYS];
const OUTSIDE = new Set(['email', 'workflows', 'rules']);

/** Read by the code but left to its default on Kubernetes, and why. */
const DEFAULTED: Record<string, string> = {
  CMIS_TRACING: 'tracing is on whenever OTEL_EXPORTER_OTLP_ENDPOINT is set',
  OTEL_SERVICE_NAME: 'SERVICE_NAME names the traces',
  TRIGGERS_ORG_EVENTS_PER_SECOND: 'the ingest rate limits of the code',
  TRIGGERS_SOURCE_EVENTS_PER_SECOND: 'the ingest rate limits of the code',
  TRIGGERS_SCHEDULE_POLL_MS: 'the schedule poller wakes for the next due tick by itself',
  RULES_WEBHOOK_ALLOWLIST: 'no private address is reachable by a webhook',
  WORKFLOWS_WEBHOOK_ALLOWLIST: 'no private address is reachable by a webhook',
  WORKFLOWS_EVENT_RETENTION_DAYS: '30 days of track calls for waits and backtests',
  EMAIL_SMTP_RECEIVER_PORT: 'no SMTP receiver (dev inbox, DSNs) runs on Kubernetes',
  EMAIL_SMTP_RECEIVER_HOST: 'no SMTP receiver runs on Kubernetes',
  EMAIL_DEV_INBOX: 'off without a receiver',
  EMAIL_SNS_CERT_HOSTS: 'tests only (a loopback SNS signer)',
  EMAIL_SMTP_MAX_PER_SECOND: 'the default provider is not throttled; per-org providers set their own',
  CMIS_BUDGET_INTERVAL_MS: 'budget recommendations hourly',
  KAFKA_SESSION_TIMEOUT_MS: "kafkajs's consumer session timeout",
  KAFKA_HEARTBEAT_INTERVAL_MS: "kafkajs's consumer heartbeat",
  KAFKA_FETCH_MAX_BYTES: 'the platform bounds a fetch to 1 MiB',
};

const rendered = new Map(RENDERED.map((dir) => [dir, render(dir)]));
const objectsOf = (dir: string) => rendered.get(dir)!;
const find = (objects: K8sObject[], kind: string, name: string) =>
  objects.find((o) => o.kind === kind && o.metadata.name === name);
const httpPortOf = (service: string) =>
  Number(
    /httpPort:\s*(\d+)/.exec(readFileSync(join(ROOT, 'services', service, 'src', 'main.ts'), 'utf8'))![1],
  );
const container = (workload: K8sObject | undefined) => workload?.spec.template.spec.containers[0];

/** Every variable a container gets, by where it comes from. */
function envOf(objects: K8sObject[], workload: K8sObject): Map<string, string> {
  const c = container(workload);
  const vars = new Map<string, string>();
  for (const from of c.envFrom ?? []) {
    const map = find(objects, 'ConfigMap', from.configMapRef.name);
    expect(map).toBeDefined();
    for (const key of Object.keys(map!.data ?? {})) vars.set(key, `configmap ${map!.metadata.name}`);
  }
  for (const e of c.env ?? []) {
    const secret = e.valueFrom?.secretKeyRef;
    const map = e.valueFrom?.configMapKeyRef;
    if (map) expect(find(objects, 'ConfigMap', map.name)?.data?.[map.key]).toBeDefined();
    vars.set(
      e.name,
      secret ? `secret ${secret.name}/${secret.key}` : map ? `configmap ${map.name}` : 'value',
    );
  }
  return vars;
}

describe('deploy/k8s', () => {
  // One validator process for all of them (loading the models is most of its time).
  const problems = schemaProblems(RENDERED.flatMap((dir) => objectsOf(dir).map((o) => ({ ...o, dir }))));
  it.each(RENDERED)('%s: every object is valid against the Kubernetes API schemas', (dir) => {
    expect(objectsOf(dir).length).toBeGreaterThan(0);
    expect(problems.filter((p) => p.startsWith(`${dir} `))).toEqual([]);
  });

  describe.each(OVERLAYS)('%s', (overlay) => {
    const objects = objectsOf(overlay);

    it.each(SERVICES.map((s) => s.name))(
      '%s: a hardened Deployment with probes, resources, a Service, a PDB and an autoscaler',
      (service) => {
        const name = `cmis-${service}`;
        const port = httpPortOf(service);
        const deployment = find(objects, 'Deployment', name);
        expect(deployment).toBeDefined();
        const pod = deployment!.spec.template.spec;
        const c = container(deployment);
        expect(c.command).toEqual(['node', `services/${service}/dist/main.js`]);
        expect(c.ports).toEqual([expect.objectContaining({ name: 'http', containerPort: port })]);
        expect(c.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'http' });
        expect(c.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
        for (const kind of ['requests', 'limits']) {
          expect(c.resources?.[kind]).toEqual({ cpu: expect.anything(), memory: expect.anything() });
        }
        expect(pod.securityContext).toMatchObject({
          runAsNonRoot: true,
          seccompProfile: { type: 'RuntimeDefault' },
        });
        expect(c.securityContext).toMatchObject({
          runAsNonRoot: true,
          runAsUser: expect.any(Number),
          readOnlyRootFilesystem: true,
          allowPrivilegeEscalation: false,
          capabilities: { drop: ['ALL'] },
          seccompProfile: { type: 'RuntimeDefault' },
        });
        expect(c.securityContext.runAsUser).toBeGreaterThan(0);
        const tmp = c.volumeMounts?.find((m: { mountPath: string }) => m.mountPath === '/tmp');
        expect(pod.volumes?.find((v: { name: string }) => v.name === tmp?.name)?.emptyDir).toBeDefined();

        const selects = (selector: Record<string, string>) =>
          Object.entries(selector).every(([k, v]) => deployment!.spec.template.metadata.labels[k] === v);
        const svc = find(objects, 'Service', name);
        expect(svc?.spec.ports).toEqual([expect.objectContaining({ port, targetPort: 'http' })]);
        expect(selects(svc!.spec.selector)).toBe(true);
        expect(selects(find(objects, 'PodDisruptionBudget', name)!.spec.selector.matchLabels)).toBe(true);

        // One autoscaler: an autoscaling/v2 HPA, or a KEDA ScaledObject (which makes its own HPA).
        const hpa = find(objects, 'HorizontalPodAutoscaler', name);
        const scaled = find(objects, 'ScaledObject', name);
        expect([hpa, scaled].filter(Boolean)).toHaveLength(1);
        if (hpa) {
          expect(hpa.apiVersion).toBe('autoscaling/v2');
          expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name });
        } else {
          expect(scaled!.spec.scaleTargetRef.name).toBe(name);
        }
      },
    );

    it.each(SERVICES.map((s) => s.name))(
      '%s: migrated by its Job as the owner, served as the app role without migrating',
      (service) => {
        const deployment = find(objects, 'Deployment', `cmis-${service}`)!;
        const job = find(objects, 'Job', `cmis-${service}-migrate`);
        expect(job).toBeDefined();
        expect(container(job).command).toEqual(['node', `services/${service}/dist/main.js`, 'migrate']);
        expect(container(job).image).toBe(container(deployment).image);
        expect(container(job).securityContext).toEqual(container(deployment).securityContext);

        const served = envOf(objects, deployment);
        const migrating = envOf(objects, job!);
        expect(served.get('DATABASE_URL')).toBe(`secret cmis-${service}-database/app-url`);
        expect(migrating.get('DATABASE_URL')).toBe(`secret cmis-${service}-database/app-url`);
        expect(served.get('DATABASE_OWNER_URL')).toBe(`secret cmis-${service}-database/owner-url`);
        expect(migrating.get('DATABASE_OWNER_URL')).toBe(`secret cmis-${service}-database/migrate-url`);
        expect(find(objects, 'ConfigMap', 'cmis-platform')!.data.DATABASE_MIGRATIONS).toBe('verify');
      },
    );

    it.each(SERVICES.map((s) => s.name))(
      '%s: every variable its code reads is set from a ConfigMap or a Secret, or deliberately defaulted',
      (service) => {
        const env = envOf(objects, find(objects, 'Deployment', `cmis-${service}`)!);
        const schema = serviceProcessConfig({ service, httpPort: httpPortOf(service) });
        const read = new Set([...envReadBy(service), ...Object.keys(schema.shape)]);
        const unset = [...read].filter((name) => !env.has(name) && !(name in DEFAULTED));
        expect(unset).toEqual([]);
        // Credentials never sit in a ConfigMap.
        for (const name of ['DATABASE_URL', 'DATABASE_OWNER_URL', 'REDIS_URL', 'SCHEMA_REGISTRY_URL']) {
          expect(env.get(name)).toMatch(/^secret /);
        }
      },
    );

    it('provisions every catalog topic with its dead-letter topic, and the schemas, in one Job', async () => {
      const job = find(objects, 'Job', 'cmis-provision');
      expect(container(job).command).toEqual(['node', 'packages/cli/dist/main.js', 'provision']);
      const env = envOf(objects, job!);
      expect(env.get('KAFKA_BROKERS')).toBe('configmap cmis-platform');
      expect(env.get('SCHEMA_REGISTRY_URL')).toMatch(/^secret /); // cmis provision registers with it

      // What `cmis provision` runs (packages/cli/src/admin-commands.ts), against a broker with no topic.
      const created: Array<{ topic: string; numPartitions?: number; configEntries?: unknown }> = [];
      const admin: TopicAdmin = {
        listTopics: async () => [],
        createTopics: async ({ topics }) => (created.push(...topics), true),
        fetchTopicMetadata: async ({ topics } = { topics: [] }) =>
          ({
            topics: (topics ?? []).map((name) => ({ name, partitions: [{ leader: 1 }] })),
          }) as never,
      };
      await provisionTopics(admin);
      const wanted = allTopics().flatMap((t) => [t, deadLetterTopicOf(t)]);
      expect(created.map((t) => t.topic).sort()).toEqual(wanted.map((t) => t.name).sort());
      for (const t of wanted) {
        expect(created.find((c) => c.topic === t.name)).toMatchObject({
          numPartitions: t.partitions,
          configEntries: [{ name: 'retention.ms', value: String(t.retentionMs) }],
        });
      }
    });

    it('denies by default; services take traffic on their HTTP port; only email, workflows and rules reach the outside', () => {
      const policies = objects.filter((o) => o.kind === 'NetworkPolicy');
      const deny = find(objects, 'NetworkPolicy', 'cmis-default-deny');
      expect(deny?.spec).toEqual({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
      const outsideReachedBy = new Set<string>();
      for (const policy of policies) {
        for (const rule of policy.spec.egress ?? []) {
          const open = (rule.to ?? [{}]).some((to: { ipBlock?: { cidr: string } }) =>
            to.ipBlock ? to.ipBlock.cidr === '0.0.0.0/0' : Object.keys(to).length === 0,
          );
          if (open)
            outsideReachedBy.add(policy.spec.podSelector.matchLabels?.['app.kubernetes.io/name'] ?? '*');
        }
      }
      expect([...outsideReachedBy].sort()).toEqual([...OUTSIDE].map((s) => `cmis-${s}`).sort());
      for (const { name: service } of SERVICES) {
        const own = find(objects, 'NetworkPolicy', `cmis-${service}`);
        expect(own?.spec.podSelector.matchLabels).toEqual({ 'app.kubernetes.io/name': `cmis-${service}` });
        expect(own?.spec.ingress).toEqual([{ ports: [{ protocol: 'TCP', port: httpPortOf(service) }] }]);
      }
      const infra = find(objects, 'NetworkPolicy', 'cmis-allow-infrastructure')!;
      const ports = infra.spec.egress.flatMap((r: { ports: Array<{ port: number }> }) =>
        r.ports.map((p) => p.port),
      );
      expect(ports).toEqual(expect.arrayContaining([9092, 8080, 5432, 6379, 4318]));
      expect(find(objects, 'NetworkPolicy', 'cmis-allow-dns')!.spec.egress[0].ports).toContainEqual({
        protocol: 'UDP',
        port: 53,
      });
    });

    it('scales on lag of consumer groups the services really have', () => {
      for (const scaled of objects.filter((o) => o.kind === 'ScaledObject')) {
        const service = scaled.metadata.labels['cmis.dev/service'] as string;
        const groups = consumerGroupsOf(service);
        for (const trigger of scaled.spec.triggers.filter((t: { type: string }) => t.type === 'kafka')) {
          const group = trigger.metadata.consumerGroup as string;
          expect({ group, named: groups.some((g) => g.test(group)) }).toEqual({ group, named: true });
        }
      }
    });
  });

  it('prod scales the consumer services with KEDA, dev with HPAs', () => {
    expect(objectsOf('overlays/prod').filter((o) => o.kind === 'ScaledObject').length).toBeGreaterThan(0);
    expect(objectsOf('overlays/dev').filter((o) => o.kind === 'ScaledObject')).toEqual([]);
  });

  it('Dockerfile: a target per service whose command and port are its Deployment’s, and one for the provisioning Job', () => {
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    const targets = dockerfileTargets(ROOT);
    const objects = objectsOf('overlays/prod');
    for (const { name } of SERVICES) {
      expect(targets.get(name)).toEqual({
        cmd: container(find(objects, 'Deployment', `cmis-${name}`)).command,
        expose: httpPortOf(name),
      });
    }
    expect(targets.get('cli')?.cmd).toEqual(container(find(objects, 'Job', 'cmis-provision')).command);
    expect(dockerfile).toMatch(/pnpm .*--prod[\s\\]+deploy/);
    expect(dockerfile).toMatch(/^USER\s+10001/m);
    expect(readFileSync(join(ROOT, '.dockerignore'), 'utf8')).toMatch(/node_modules/);
  });
});
