import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import {
  baseConfig,
  createEmbeddedBus,
  createHttpApp,
  createLogger,
  createMetrics,
  createPlatform,
  defaultDataDir,
  ensureCatalogTopics,
  loadConfig,
  mountAdmin,
  startEmbeddedPostgres,
  startHttpServer,
  startService,
  type EmbeddedPostgres,
  type Logger,
  type Platform,
  type RunningService,
} from '@cmis/platform';
import { SERVICES, type ServiceEntry } from './services';

export interface AllInOneOptions {
  env?: NodeJS.ProcessEnv;
  services?: ServiceEntry[];
  /** Lines for the person at the terminal (where things listen, how to switch, the demo). */
  print?: (line: string) => void;
}

export interface RunningPlatform {
  url: string;
  dataDir: string;
  adminToken: string;
  mode: { transport: string; database: string; redis: string };
  services: RunningService[];
  platform: Platform;
  logger: Logger;
  stop(): Promise<void>;
}

export class StartupError extends Error {
  override name = 'StartupError';
}

const AllInOneConfig = baseConfig({ service: 'cmis', httpPort: 3000 });

/** Fails before anything starts when the HTTP port is taken: no half-started platform. */
function assertPortFree(port: number, host: string): Promise<void> {
  if (port === 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new StartupError(
          error.code === 'EADDRINUSE'
            ? `port ${port} is already in use; stop what holds it or set HTTP_PORT`
            : `cannot listen on ${host}:${port}: ${error.message}`,
        ),
      ),
    );
    probe.listen(port, host, () => probe.close(() => resolve()));
  });
}

/** The admin token of an embedded platform: generated once, kept in the data folder. */
function embeddedAdminToken(dataDir: string): string {
  const file = join(dataDir, 'admin-token');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(dataDir, { recursive: true });
  const token = randomBytes(24).toString('base64url');
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  return token;
}

/**
 * Every service in one process on one HTTP port, each under `/<service>`. With no
 * KAFKA_BROKERS / DATABASE_URL / REDIS_URL it runs on the embedded default: the embedded bus
 * (in Postgres), a private Postgres in the data folder, in-memory Redis helpers. Same code paths
 * as production otherwise.
 */
export async function startAllInOne(options: AllInOneOptions = {}): Promise<RunningPlatform> {
  const env = options.env ?? process.env;
  const print = options.print ?? (() => undefined);
  const config = loadConfig(AllInOneConfig, env);
  const logger = createLogger({ service: 'cmis', level: config.LOG_LEVEL });
  const host = env.HTTP_HOST ?? '127.0.0.1';
  await assertPortFree(config.HTTP_PORT, host);

  const dataDir = env.CMIS_DATA_DIR ?? defaultDataDir();
  const cleanups: Array<() => Promise<unknown>> = [];
  const cleanup = async () => {
    for (const fn of cleanups.reverse())
      await fn().catch((error: unknown) => logger.error({ err: error }, 'cleanup failed'));
  };
  try {
    let postgres: EmbeddedPostgres | undefined;
    if (!config.DATABASE_URL) {
      postgres = await startEmbeddedPostgres({
        dataDir,
        port: env.CMIS_EMBEDDED_PG_PORT ? Number(env.CMIS_EMBEDDED_PG_PORT) : undefined,
        logger,
      });
      cleanups.push(() => postgres!.stop());
    }
    const databaseUrl = config.DATABASE_URL ?? postgres!.url;
    const metrics = createMetrics({ service: 'cmis' });
    const bus = config.KAFKA_BROKERS
      ? undefined
      : createEmbeddedBus({
          databaseUrl,
          clientId: 'cmis',
          onError: (message, error) => logger.error({ err: error }, message),
          onStuckHandler: (stuck) => {
            metrics.busStuckHandlers.inc({ group: stuck.groupId, topic: stuck.topic });
            logger.error(
              { ...stuck },
              'handler stuck past the stop deadline: partition released uncommitted, its batch goes to the next owner',
            );
          },
        });
    const platform = createPlatform({ config, logger, clientId: 'cmis', embedded: { bus, databaseUrl } });
    cleanups.push(() => platform.close());
    await ensureCatalogTopics(platform.bus);

    const adminToken = config.CMIS_ADMIN_TOKEN ?? embeddedAdminToken(dataDir);
    const entries = options.services ?? SERVICES;
    const services: RunningService[] = [];
    // Known once the server listens, which is after the services started (they serve its routes).
    const listening: { url?: string } = {};
    for (const entry of entries) {
      const create = entry.build({
        env,
        adminToken,
        publicUrl: () => `${listening.url ?? `http://${host}:${config.HTTP_PORT}`}/${entry.name}`,
      });
      const running = await startService(platform, create, { name: entry.name, metrics });
      services.push(running);
      cleanups.push(() => running.stop());
    }
    const app = createHttpApp({
      logger,
      metrics,
      readiness: async () => {
        const checks: Record<string, boolean> = {
          bus: await platform.bus.ready(),
          redis: await platform.redis.ping(),
        };
        for (const [i, s] of services.entries()) {
          for (const [name, ok] of Object.entries(await s.readiness()))
            checks[`${entries[i]!.name}.${name}`] = ok;
        }
        return checks;
      },
      routes: (a) => {
        mountAdmin(a, platform, { ...config, CMIS_ADMIN_TOKEN: adminToken });
        for (const [i, s] of services.entries()) a.use(`/${entries[i]!.name}`, s.router);
      },
    });
    const server = await startHttpServer(app, config.HTTP_PORT, host);
    listening.url = server.url;
    cleanups.push(() => server.close());

    const mode = {
      transport:
        platform.bus.transport === 'kafka'
          ? `Kafka ${config.KAFKA_BROKERS!.join(',')}`
          : 'embedded bus (in Postgres, schema cmis_bus)',
      database: postgres
        ? `embedded Postgres ${postgres.url} (data in ${postgres.dataDir})`
        : `Postgres ${redact(databaseUrl)}`,
      redis: config.REDIS_URL
        ? `Redis ${redact(config.REDIS_URL)}`
        : 'in-memory Redis helpers (this process only)',
    };
    print(`CMIS all-in-one: ${entries.map((e) => e.name).join(', ')}`);
    print(
      `  HTTP         ${server.url} (each service under /<name>: ${entries.map((e) => `${server.url}/${e.name}`).join(', ')})`,
    );
    print(
      `  admin API    ${server.url}/admin (Authorization: Bearer <admin token>; token in ${config.CMIS_ADMIN_TOKEN ? 'CMIS_ADMIN_TOKEN' : join(dataDir, 'admin-token')})`,
    );
    print(`  transport    ${mode.transport}`);
    print(`  database     ${mode.database}`);
    print(`  cache        ${mode.redis}`);
    print(`  metrics      ${server.url}/metrics, health ${server.url}/healthz, ${server.url}/readyz`);
    if (!config.KAFKA_BROKERS || !config.DATABASE_URL || !config.REDIS_URL) {
      print('  to run on clusters, set KAFKA_BROKERS (and SCHEMA_REGISTRY_URL), DATABASE_URL and REDIS_URL');
    }
    let stopping: Promise<void> | undefined;
    return {
      url: server.url,
      dataDir,
      adminToken,
      mode,
      services,
      platform,
      logger,
      stop() {
        stopping ??= cleanup();
        return stopping;
      },
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}
