import type { Express } from 'express';
import { z } from 'zod';
import {
  baseConfig,
  ConfigError,
  loadConfig,
  urlSetting,
  type BaseConfig,
  type BaseConfigDefaults,
} from '../config';
import { createHttpApp, createMetrics, startHttpServer, type RunningHttpServer } from '../http';
import { SchemaNotMigratedError } from '../db';
import { createLogger, type Logger } from '../logging';
import { createTenancyAdmin, tenancyAdminRouter } from '../tenancy';
import { createPlatform, type Platform } from './platform';
import { ensureCatalogTopics } from './provision';
import { migrateService, startService, type RunningService } from './runtime';
import type { CreateService } from './service';

export interface ServiceMainOptions {
  service: string;
  httpPort: number;
  create: CreateService;
  /** How often outbox depth and consumer lag are refreshed for /metrics (default 10 s). */
  gaugeIntervalMs?: number;
}

export interface RunningServiceProcess {
  url: string;
  platform: Platform;
  service: RunningService;
  server: RunningHttpServer;
  shutdown(): Promise<void>;
}

/**
 * The settings of a service process: the shared ones plus how its database is set up.
 * DATABASE_MIGRATIONS=verify (Kubernetes, after the migration Job) makes the process connect as
 * DATABASE_URL (the app role) and DATABASE_OWNER_URL (a login of the owner role) without creating
 * anything, and refuse to start while a migration is pending; `startup` keeps the one-step start.
 */
export function serviceProcessConfig(defaults: BaseConfigDefaults) {
  return baseConfig(defaults).extend({
    DATABASE_OWNER_URL: urlSetting(['postgres', 'postgresql']).optional(),
    DATABASE_MIGRATIONS: z.enum(['startup', 'verify']).default('startup'),
  });
}

function processConfig(options: ServiceMainOptions, env: NodeJS.ProcessEnv) {
  return loadConfig(serviceProcessConfig({ service: options.service, httpPort: options.httpPort }), env);
}

/** Mounts the admin routes when CMIS_ADMIN_TOKEN is set (orgs and API keys over HTTP). */
export function mountAdmin(app: Express, platform: Platform, config: BaseConfig): void {
  if (!config.CMIS_ADMIN_TOKEN) return;
  app.use(
    '/admin',
    tenancyAdminRouter(
      createTenancyAdmin({ bus: platform.bus, codec: platform.codec }),
      config.CMIS_ADMIN_TOKEN,
    ),
  );
}

/**
 * One service as its own process: config from env, platform on Kafka/Postgres/Redis, the
 * service's routes at `/`, graceful shutdown on SIGTERM/SIGINT (stop intake, drain consumers,
 * flush the relay, close pools).
 */
export async function startServiceProcess(
  options: ServiceMainOptions,
  env: NodeJS.ProcessEnv = process.env,
): Promise<RunningServiceProcess> {
  const config = processConfig(options, env);
  const logger = createLogger({ service: config.SERVICE_NAME, level: config.LOG_LEVEL });
  const platform = createPlatform({ config, logger, clientId: config.SERVICE_NAME });
  await ensureCatalogTopics(platform.bus);
  const metrics = createMetrics({ service: config.SERVICE_NAME });
  const service = await startService(platform, options.create, {
    name: options.service,
    metrics,
    gaugeIntervalMs: options.gaugeIntervalMs,
    inboxRetentionMs: config.CMIS_INBOX_RETENTION_DAYS * 86_400_000,
    database: { ownerUrl: config.DATABASE_OWNER_URL, migrations: config.DATABASE_MIGRATIONS },
  }).catch(async (error: unknown) => {
    await platform.close();
    throw error;
  });
  const app = createHttpApp({
    logger,
    metrics,
    readiness: async () => ({
      ...(await service.readiness()),
      bus: await platform.bus.ready(),
      redis: await platform.redis.ping(),
    }),
    routes: (a) => {
      mountAdmin(a, platform, config);
      a.use(service.router);
    },
  });
  const server = await startHttpServer(app, config.HTTP_PORT);
  logger.info({ url: server.url, transport: platform.bus.transport }, `${options.service} listening`);
  let down: Promise<void> | undefined;
  return {
    url: server.url,
    platform,
    service,
    server,
    shutdown() {
      down ??= (async () => {
        await server.close();
        await service.stop();
        await platform.close();
      })();
      return down;
    },
  };
}

/**
 * `main.js migrate`: creates the service's roles and schema and applies its migrations with
 * DATABASE_OWNER_URL (an admin login; default DATABASE_URL), sets the app role's password from
 * DATABASE_URL when it names the app role, then returns. Needs the same settings as the service
 * (its create function runs, nothing is started). Resolves to the names applied now.
 */
export async function migrateServiceProcess(
  options: ServiceMainOptions,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string[]> {
  const config = processConfig(options, env);
  const logger = createLogger({ service: config.SERVICE_NAME, level: config.LOG_LEVEL });
  const platform = createPlatform({ config, logger, clientId: `${config.SERVICE_NAME}-migrate` });
  try {
    const applied = await migrateService(platform, options.create, {
      name: options.service,
      database: { ownerUrl: config.DATABASE_OWNER_URL },
    });
    logger.info({ applied }, `${options.service} migrated (${applied.length} applied now)`);
    return applied;
  } finally {
    await platform.close();
  }
}

/**
 * For main.ts: no argument starts the service (stop on signals); `migrate` runs only the
 * migration step and exits 0. Exits non-zero with a clear message on bad config.
 */
export function runServiceMain(
  options: ServiceMainOptions,
  args: readonly string[] = process.argv.slice(2),
): void {
  const [command] = args;
  if (command === 'migrate') {
    migrateServiceProcess(options).then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`${options.service} did not migrate: ${describe(error)}\n`);
        process.exit(1);
      },
    );
    return;
  }
  if (command !== undefined) {
    process.stderr.write(
      `${options.service}: unknown command ${command} (run without one, or with migrate)\n`,
    );
    process.exit(2);
  }
  let logger: Logger | undefined;
  startServiceProcess(options).then(
    (running) => {
      logger = running.platform.logger;
      const stop = (signal: string) => {
        logger?.info({ signal }, 'shutting down');
        running.shutdown().then(
          () => process.exit(0),
          (error: unknown) => {
            logger?.error({ err: error }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    },
    (error: unknown) => {
      process.stderr.write(`${options.service} did not start: ${describe(error)}\n`);
      process.exit(1);
    },
  );
}

/** Bad settings and an unmigrated schema are the operator's to fix: their message, no stack. */
function describe(error: unknown): string {
  if (error instanceof ConfigError || error instanceof SchemaNotMigratedError) return error.message;
  return (error as Error).stack ?? String(error);
}
