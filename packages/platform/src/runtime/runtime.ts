import { tenancyTopic } from '@cmis/contracts';
import { Router } from 'express';
import type { Subscription } from '../bus';
import { createDatabase } from '../db';
import { createEventStore, eventStoreMigrations } from '../eventstore';
import { createMetrics, type Metrics } from '../http';
import { createInboxPruner, inboxMigrations, startInbox } from '../inbox';
import { createOutboxRelay, outboxMigrations } from '../outbox';
import { createApiKeyAuth, startTenancyProjection, tenancyMigrations } from '../tenancy';
import { currentTraceHeaders } from '../telemetry';
import type { Platform } from './platform';
import type { CreateService, ServiceModule, ServiceRuntime } from './service';

/** Migrations every service runs before its own. */
export const platformMigrations = [
  ...eventStoreMigrations,
  ...outboxMigrations,
  ...inboxMigrations,
  ...tenancyMigrations,
];

export interface RunningService {
  readonly runtime: ServiceRuntime;
  readonly module: ServiceModule;
  /** The service's routes, to mount under its prefix (or at the root when it runs alone). */
  readonly router: Router;
  readiness(): Promise<Record<string, boolean>>;
  /** Drains consumers, stops the relay after a last flush, closes the service's pools. */
  stop(): Promise<void>;
}

export interface StartServiceOptions {
  name: string;
  metrics?: Metrics;
  /** How often outbox depth and consumer lag are measured for /metrics. */
  gaugeIntervalMs?: number;
  /** How long the inbox remembers processed event ids (default 7 days, see inbox/prune.ts). */
  inboxRetentionMs?: number;
}

/**
 * Builds a service's runtime on the shared platform, migrates its schema, starts its relay
 * and tenancy projection, then the service itself.
 */
export async function startService(
  platform: Platform,
  create: CreateService,
  options: StartServiceOptions,
): Promise<RunningService> {
  const { name } = options;
  const logger = platform.logger.child({ service: name });
  const metrics = options.metrics ?? createMetrics({ service: name });
  const db = createDatabase({ url: platform.databaseUrl, schema: name.replace(/-/g, '_') });
  const subscriptions: Subscription[] = [];
  const consumed: Array<{ groupId: string; topics: string[] }> = [];
  const onRetry = (error: unknown, attempt: number) =>
    logger.warn({ err: error, attempt }, 'consumer batch failed; retrying with backoff');
  const relay = createOutboxRelay({
    db,
    bus: platform.bus,
    codec: platform.codec,
    source: `/cmis/${name}`,
    onError: (error) => logger.error({ err: error }, 'outbox relay round failed'),
  });

  const runtime: ServiceRuntime = {
    name,
    logger,
    metrics,
    bus: platform.bus,
    codec: platform.codec,
    redis: platform.redis,
    db,
    eventStore: createEventStore(db),
    relay,
    auth: createApiKeyAuth({ db }),
    async consume(inbox) {
      const sub = await startInbox({
        ...inbox,
        bus: platform.bus,
        db,
        codec: platform.codec,
        onRetry: inbox.onRetry ?? onRetry,
        onDeadLetter:
          inbox.onDeadLetter ??
          ((message, reason) =>
            logger.warn({ topic: message.topic, offset: message.offset, reason }, 'dead-lettered')),
      });
      subscriptions.push(sub);
      consumed.push({ groupId: inbox.groupId, topics: inbox.topics });
      return sub;
    },
    eventMetadata(chain = {}) {
      const metadata: Record<string, string> = { ...currentTraceHeaders() };
      for (const [k, v] of Object.entries(chain)) if (v !== undefined) metadata[k] = v;
      return metadata;
    },
  };

  const module = await create(runtime);
  await db.migrate([...platformMigrations, ...module.migrations]);
  relay.start();
  const pruner = createInboxPruner({
    db,
    retentionMs: options.inboxRetentionMs,
    size: metrics.inboxProcessedRows,
    onError: (error) => logger.warn({ err: error }, 'inbox prune failed; next pass retries'),
  });
  pruner.start();
  subscriptions.push(
    await startTenancyProjection({ bus: platform.bus, db, codec: platform.codec, service: name, onRetry }),
  );
  consumed.push({ groupId: `${name}.tenancy`, topics: [tenancyTopic.name] });
  await module.start?.();
  const gauges = startGauges();
  const router = Router();
  module.routes?.(router);

  /** Outbox depth and consumer lag for /metrics, refreshed in the background. */
  let refreshing: Promise<void> = Promise.resolve();
  function startGauges(): NodeJS.Timeout {
    const refresh = async () => {
      metrics.outboxDepth.set(await relay.depth());
      for (const { groupId, topics } of consumed) {
        for (const topic of topics) {
          for (const { partition, lag } of await platform.bus.lag(groupId, topic)) {
            metrics.consumerLag.set({ topic, partition: String(partition), group: groupId }, lag);
          }
        }
      }
    };
    const timer = setInterval(() => {
      refreshing = refresh().catch((error: unknown) =>
        logger.debug({ err: error }, 'metrics refresh failed'),
      );
    }, options.gaugeIntervalMs ?? 10_000);
    timer.unref();
    return timer;
  }

  let stopping: Promise<void> | undefined;
  return {
    runtime,
    module,
    router,
    async readiness() {
      const database = await db.app
        .raw('select 1')
        .then(() => true)
        .catch(() => false);
      return { database, ...(await module.readiness?.()) };
    },
    stop() {
      stopping ??= (async () => {
        clearInterval(gauges);
        await refreshing;
        await module.stop?.();
        await Promise.allSettled(subscriptions.map((s) => s.stop()));
        await pruner.stop();
        await relay.stop();
        await db.destroy();
      })();
      return stopping;
    },
  };
}
