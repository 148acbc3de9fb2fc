// What docker-compose.yml must say about each CMIS service, as checks that return the problems
// they find (the spec asserts none for the real file, and the expected ones for broken copies).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, loadConfig, serviceProcessConfig } from '@cmis/platform';
import { commandOf, dependsOn, environmentOf, REPO, type ComposeFile } from './compose-file';
import type { DockerTarget } from './dockerfile';

export const CMIS_SERVICES = {
  triggers: 3001,
  rules: 3002,
  workflows: 3003,
  drip: 3004,
  email: 3005,
  analytics: 3006,
} as const;
export type CmisService = keyof typeof CMIS_SERVICES;

/** The infrastructure every service needs healthy before it starts. */
export const INFRA = ['kafka', 'schema-registry', 'postgres', 'redis'] as const;

/** Settings a service process cannot run the full stack without (the schema makes them optional). */
const REQUIRED = [
  'KAFKA_BROKERS',
  'SCHEMA_REGISTRY_URL',
  'DATABASE_URL',
  'DATABASE_OWNER_URL',
  'REDIS_URL',
  'OTEL_EXPORTER_OTLP_ENDPOINT',
] as const;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return entry === 'testing' ? [] : sourceFiles(path);
    return path.endsWith('.ts') && !path.endsWith('.spec.ts') ? [path] : [];
  });
}

const ENV_READS = [
  /\benv\.([A-Z][A-Z0-9_]+)/g, // process.env.X, env.X
  /\benv\[['"]([A-Z][A-Z0-9_]+)['"]\]/g, // env['X']
  /\bnumber\(['"]([A-Z][A-Z0-9_]+)['"]\)/g, // triggersOptionsFromEnv's number('X')
  /^\s+([A-Z][A-Z0-9_]+): z\./gm, // keys of a zod schema of the environment (email's config)
];

/** Variables read in these files, by the patterns above. */
export function envReadsIn(files: readonly string[]): Set<string> {
  const names = new Set<string>();
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    for (const pattern of ENV_READS) for (const m of text.matchAll(pattern)) names.add(m[1]!);
  }
  return names;
}

/**
 * Every variable a service's process reads: the platform's process config (from the schema
 * itself), what `@cmis/platform/otel` reads at import, and what the service's own source reads.
 */
export function variablesRead(service: CmisService): Set<string> {
  const schema = serviceProcessConfig({ service, httpPort: CMIS_SERVICES[service] });
  return new Set([
    ...Object.keys(schema.shape),
    ...envReadsIn([join(REPO, 'packages/platform/src/otel.ts')]),
    ...envReadsIn(sourceFiles(join(REPO, 'services', service, 'src'))),
  ]);
}

function userOf(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    return decodeURIComponent(new URL(url).username);
  } catch {
    return undefined;
  }
}

/** The host of a URL, or of a broker's `host:port`. */
function hostOf(value: string): string | undefined {
  const broker = /^([a-z0-9.-]+):\d+$/i.exec(value);
  if (broker) return broker[1];
  try {
    return new URL(value).hostname || undefined;
  } catch {
    return undefined;
  }
}

/** Problems with one CMIS service and its migration step, in words a reviewer can act on. */
export function checkCmisService(compose: ComposeFile, name: CmisService): string[] {
  const problems: string[] = [];
  const port = CMIS_SERVICES[name];
  const service = compose.services[name];
  const migrateName = `${name}-migrate`;
  const migrate = compose.services[migrateName];
  if (!service) return [`${name}: missing`];
  if (!migrate) problems.push(`${migrateName}: missing`);

  const build = typeof service.build === 'object' ? service.build : undefined;
  if (build?.context !== '.' || build.args?.SERVICE !== name)
    problems.push(`${name}: build must be the repo's Dockerfile with SERVICE=${name}`);
  if (JSON.stringify(commandOf(service)) !== JSON.stringify(['node', `services/${name}/dist/main.js`]))
    problems.push(`${name}: command must be node services/${name}/dist/main.js`);

  // Environment: what the code reads, all of what it needs, and values its config accepts.
  const env = environmentOf(service);
  const read = variablesRead(name);
  for (const variable of Object.keys(env))
    if (!read.has(variable)) problems.push(`${name}: sets ${variable}, which nothing in the service reads`);
  for (const variable of REQUIRED) if (!env[variable]) problems.push(`${name}: ${variable} is not set`);
  if (name === 'email' && !env.EMAIL_SECRETS && !env.CMIS_ADMIN_TOKEN)
    problems.push('email: EMAIL_SECRETS (or CMIS_ADMIN_TOKEN) is not set; it signs tracking links');
  if (env.DATABASE_MIGRATIONS !== 'verify')
    problems.push(`${name}: DATABASE_MIGRATIONS must be verify (its migration step migrated)`);
  try {
    const config = loadConfig(serviceProcessConfig({ service: name, httpPort: port }), env);
    if (config.HTTP_PORT !== port) problems.push(`${name}: listens on ${config.HTTP_PORT}, not ${port}`);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(`${name}: config refused: ${error.message}`);
  }
  const appRole = `cmis_${name}_app`;
  if (userOf(env.DATABASE_URL) !== appRole)
    problems.push(`${name}: DATABASE_URL must log in as the app role ${appRole}`);
  if (env.DATABASE_OWNER_URL && userOf(env.DATABASE_OWNER_URL) === appRole)
    problems.push(`${name}: DATABASE_OWNER_URL must be an admin login, not the app role`);
  for (const variable of [
    'KAFKA_BROKERS',
    'SCHEMA_REGISTRY_URL',
    'DATABASE_URL',
    'REDIS_URL',
    'OTEL_EXPORTER_OTLP_ENDPOINT',
  ]) {
    const value = env[variable];
    if (!value) continue;
    for (const entry of value.split(',')) {
      const host = hostOf(entry.trim());
      if (!host || !compose.services[host])
        problems.push(`${name}: ${variable} names ${host ?? entry}, which is no service of this file`);
    }
  }

  // Liveness: an HTTP GET of /healthz on the service's own port, with the node the image has.
  const test = service.healthcheck?.test;
  if (!Array.isArray(test) || test[0] !== 'CMD' || test[1] !== 'node' || test[2] !== '-e')
    problems.push(`${name}: health check must run node -e (the image has no curl)`);
  else if (!String(test[3]).includes(`http://127.0.0.1:${port}/healthz`))
    problems.push(`${name}: health check must GET http://127.0.0.1:${port}/healthz`);

  // Start order: its migration done, the topics provisioned, the infrastructure healthy.
  const deps = dependsOn(service);
  if (deps[migrateName] !== 'service_completed_successfully')
    problems.push(`${name}: must depend on ${migrateName} completing successfully`);
  if (deps.provision !== 'service_completed_successfully')
    problems.push(`${name}: must depend on provision completing successfully`);
  for (const infra of INFRA)
    if (deps[infra] !== 'service_healthy') problems.push(`${name}: must depend on ${infra} being healthy`);

  if (migrate) {
    if (
      JSON.stringify(commandOf(migrate)) !==
      JSON.stringify(['node', `services/${name}/dist/main.js`, 'migrate'])
    )
      problems.push(`${migrateName}: command must be node services/${name}/dist/main.js migrate`);
    if (JSON.stringify(migrate.build) !== JSON.stringify(service.build) || migrate.image !== service.image)
      problems.push(`${migrateName}: must run the service's own image`);
    if (migrate.restart !== 'no') problems.push(`${migrateName}: a one-shot step needs restart: 'no'`);
    const migrateEnv = environmentOf(migrate);
    const { DATABASE_MIGRATIONS: _verify, ...serviceEnv } = env;
    if (JSON.stringify(migrateEnv) !== JSON.stringify(serviceEnv))
      problems.push(`${migrateName}: must have the service's environment (less DATABASE_MIGRATIONS)`);
    if (dependsOn(migrate).postgres !== 'service_healthy')
      problems.push(`${migrateName}: must depend on postgres being healthy`);
  }
  return problems;
}

/** Problems with the topic provisioning step. */
export function checkProvision(compose: ComposeFile): string[] {
  const provision = compose.services.provision;
  if (!provision) return ['provision: missing'];
  const problems: string[] = [];
  if (
    JSON.stringify(commandOf(provision)) !==
    JSON.stringify(['node', 'packages/cli/dist/main.js', 'provision'])
  )
    problems.push('provision: command must be node packages/cli/dist/main.js provision');
  const env = environmentOf(provision);
  if (!env.KAFKA_BROKERS) problems.push('provision: KAFKA_BROKERS is not set');
  if (!env.SCHEMA_REGISTRY_URL)
    problems.push('provision: SCHEMA_REGISTRY_URL is not set (schemas are registered too)');
  const deps = dependsOn(provision);
  for (const infra of ['kafka', 'schema-registry'])
    if (deps[infra] !== 'service_healthy') problems.push(`provision: must depend on ${infra} being healthy`);
  if (provision.restart !== 'no') problems.push("provision: a one-shot step needs restart: 'no'");
  return problems;
}

/**
 * Every container built from the repo names its Dockerfile target and the same SERVICE (without a
 * target docker builds the file's last stage, the cli, which refuses any other SERVICE), and its
 * command runs a file of the one package `pnpm deploy` put in that image.
 */
export function checkBuilds(compose: ComposeFile, targets: ReadonlyMap<string, DockerTarget>): string[] {
  const problems: string[] = [];
  for (const [name, service] of Object.entries(compose.services)) {
    const build = typeof service.build === 'string' ? { context: service.build } : service.build;
    if (build?.context !== '.') continue;
    const target = build.target;
    const packageName = build.args?.SERVICE;
    if (!target || !targets.has(target)) {
      problems.push(`${name}: build must name a target of the Dockerfile`);
      continue;
    }
    if (packageName !== target) problems.push(`${name}: build target ${target} needs SERVICE=${target}`);
    const command = commandOf(service) ?? targets.get(target)!.cmd ?? [];
    const script = command[0] === 'node' ? command[1] : undefined;
    const inImage = [`services/${target}/`, `packages/${target}/`];
    if (!script || !inImage.some((dir) => script.startsWith(dir)))
      problems.push(`${name}: runs ${script ?? '?'}, which the ${target} image does not hold`);
  }
  return problems;
}

/**
 * Every long-running container has a health check (one-shot steps have restart: 'no'), except
 * images built FROM scratch that have nothing to run one with; and a dependency on a container's
 * health names one that has a health check.
 */
export function checkHealthchecks(compose: ComposeFile, scratchImages: readonly string[]): string[] {
  const problems: string[] = [];
  for (const [name, service] of Object.entries(compose.services)) {
    const oneShot = service.restart === 'no';
    const probed = service.healthcheck?.test !== undefined && service.healthcheck.disable !== true;
    if (!oneShot && !probed && !scratchImages.includes(name)) problems.push(`${name}: no health check`);
    for (const [dep, condition] of Object.entries(dependsOn(service))) {
      const target = compose.services[dep];
      if (!target) problems.push(`${name}: depends on ${dep}, which is no service of this file`);
      else if (condition === 'service_healthy' && !target.healthcheck?.test)
        problems.push(`${name}: waits for ${dep} to be healthy, but ${dep} has no health check`);
      else if (condition === 'service_completed_successfully' && target.restart !== 'no')
        problems.push(`${name}: waits for ${dep} to complete, but ${dep} is not a one-shot step`);
    }
  }
  return problems;
}
