import type { Express } from 'express';
import { baseConfig, ConfigError, loadConfig, type BaseConfig } from '../config';
import { createHttpApp, createMetrics, startHttpServer, type RunningHttpServer } from '../http';
import { createLogger, type Logger } from '../logging';
import { createTenancyAdmin, tenancyAdminRouter } from '../tenancy';
import { createPlatform, type Platform } from './platform';
import { ensureCatalogTopics } from './provision';
import { startService, type RunningService } from './runtime';
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
  const config = loadConfig(baseConfig({ service: options.service, httpPort: options.httpPort }), env);
  const logger = createLogger({ service: config.SERVICE_NAME, level: config.LOG_LEVEL });
  const platform = createPlatform({ config, logger, clientId: config.SERVICE_NAME });
  await ensureCatalogTopics(platform.bus);
  const metrics = createMetrics({ service: config.SERVICE_NAME });
  const service = await startService(platform, options.create, {
    name: options.service,
    metrics,
    gaugeIntervalMs: options.gaugeIntervalMs,
    inboxRetentionMs: config.CMIS_INBOX_RETENTION_DAYS * 86_400_000,
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

/** For main.ts: start, stop on signals, exit non-zero with a clear message on bad config. */
export function runServiceMain(options: ServiceMainOptions): void {
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
      process.stderr.write(
        `${options.service} did not start: ${error instanceof ConfigError ? error.message : (error as Error).stack}\n`,
      );
      process.exit(1);
    },
  );
}
