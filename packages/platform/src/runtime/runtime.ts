import { tenancyTopic } from '@cmis/contracts';
import { Router } from 'express';
import type { BusMessage, MessageBatch, Subscription } from '../bus';
import { createDatabase, type Database } from '../db';
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
  database?: ServiceDatabaseOptions;
}

export interface ServiceDatabaseOptions {
  /** Login for the owner connection (migrations, relay, pollers); default the platform's URL. */
  ownerUrl?: string;
  /**
   * `startup` (default): create roles and schema and migrate before starting. `verify`: a
   * separate step (migrateService, `main.js migrate`) did that; refuse to start if it did not.
   */
  migrations?: 'startup' | 'verify';
}

function openDatabase(platform: Platform, name: string, options: ServiceDatabaseOptions = {}) {
  return createDatabase({
    url: platform.databaseUrl,
    schema: name.replace(/-/g, '_'),
    ownerUrl: options.ownerUrl,
    bootstrap: options.migrations !== 'verify',
  });
}

/**
 * Only the migration step of a service: roles, schema and every migration (the platform's, then
 * the service's), as startService would run them, without starting anything. Resolves to the
 * names applied now.
 */
export async function migrateService(
  platform: Platform,
  create: CreateService,
  options: { name: string; database?: Omit<ServiceDatabaseOptions, 'migrations'> },
): Promise<string[]> {
  const db = openDatabase(platform, options.name, options.database);
  try {
    const { runtime } = buildRuntime(platform, db, options.name, createMetrics({ service: options.name }));
    const module = await create(runtime);
    return await db.migrate([...platformMigrations, ...module.migrations]);
  } finally {
    await db.destroy();
  }
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
  const metrics = options.metrics ?? createMetrics({ service: name });
  const db = openDatabase(platform, name, options.database);
  const { runtime, relay, subscriptions, consumed, logger, onRetryOf, onDeadLetterOf, countFromZero } =
    buildRuntime(platform, db, name, metrics);

  const module = await create(runtime);
  const migrations = [...platformMigrations, ...module.migrations];
  try {
    if (options.database?.migrations === 'verify') await db.verifyMigrated(migrations);
    else await db.migrate(migrations);
  } catch (error) {
    await db.destroy();
    throw error;
  }
  relay.start();
  const pruner = createInboxPruner({
    db,
    retentionMs: options.inboxRetentionMs,
    size: metrics.inboxProcessedRows,
    onError: (error) => logger.warn({ err: error }, 'inbox prune failed; next pass retries'),
  });
  pruner.start();
  countFromZero(`${name}.tenancy`, [tenancyTopic.name]);
  subscriptions.push(
    await startTenancyProjection({
      bus: platform.bus,
      db,
      codec: platform.codec,
      service: name,
      onRetry: onRetryOf(`${name}.tenancy`),
      onDeadLetter: onDeadLetterOf(`${name}.tenancy`),
    }),
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

/** The runtime handed to a service's create function; nothing in it connects until used. */
function buildRuntime(platform: Platform, db: Database, name: string, metrics: Metrics) {
  const logger = platform.logger.child({ service: name });
  const subscriptions: Subscription[] = [];
  const consumed: Array<{ groupId: string; topics: string[] }> = [];
  const logRetry = (error: unknown, attempt: number) =>
    logger.warn({ err: error, attempt }, 'consumer batch failed; retrying with backoff');
  const logDeadLetter = (message: BusMessage, reason: string) =>
    logger.warn({ topic: message.topic, offset: message.offset, reason }, 'dead-lettered');
  /** Counted whether or not the consumer brought its own handler (which then replaces the log line). */
  const onRetryOf =
    (group: string, own: (error: unknown, attempt: number, batches: MessageBatch[]) => void = logRetry) =>
    (error: unknown, attempt: number, batches: MessageBatch[]) => {
      for (const topic of new Set(batches.map((b) => b.topic))) metrics.inboxRetries.inc({ group, topic });
      own(error, attempt, batches);
    };
  // The inbox calls this once the dead-letter publish succeeded.
  const onDeadLetterOf =
    (group: string, own: (message: BusMessage, reason: string) => void = logDeadLetter) =>
    (message: BusMessage, reason: string) => {
      metrics.deadLetters.inc({ group, topic: message.topic });
      own(message, reason);
    };
  /**
   * Each consumer's series start at 0: a series born at 1 shows no increase() to Prometheus, so
   * the first dead letter after a restart would not fire DeadLettersArriving.
   */
  const countFromZero = (group: string, topics: string[]) => {
    for (const topic of topics) {
      metrics.inboxRetries.inc({ group, topic }, 0);
      metrics.deadLetters.inc({ group, topic }, 0);
    }
  };
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
      countFromZero(inbox.groupId, inbox.topics);
      const sub = await startInbox({
        ...inbox,
        bus: platform.bus,
        db,
        codec: platform.codec,
        onRetry: onRetryOf(inbox.groupId, inbox.onRetry),
        onDeadLetter: onDeadLetterOf(inbox.groupId, inbox.onDeadLetter),
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

  return { runtime, relay, subscriptions, consumed, logger, onRetryOf, onDeadLetterOf, countFromZero };
}
