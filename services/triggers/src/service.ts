import type { CreateService } from '@cmis/platform';
import { triggersMigrations } from './db/migrations';
import { ingestRoutes } from './ingest/api';
import { createFactPublisher } from './ingest/publisher';
import { createIngestAdmission, DEFAULT_RATE_LIMITS, type IngestRateLimits } from './ingest/rate-limits';
import { metricsRoutes } from './metrics/api';
import { openApiDocument } from './openapi';
import { scheduleRoutes } from './schedules/api';
import { createSchedulePoller } from './schedules/poller';
import { ingestEdge } from './shared/edge';
import { DAY_MS } from './shared/timestamps';
import { sourceRoutes } from './sources/api';
import { webhookRoutes } from './webhooks/api';

export interface TriggersOptions {
  rateLimits?: Partial<IngestRateLimits>;
  /** Longest pause of the idle timer poller (it also wakes for the next due tick by itself). */
  schedulePollMs?: number;
  /** How long a messageId is remembered per org (default a day). */
  idempotencyTtlMs?: number;
}

/** Options from the environment (TRIGGERS_*), for the process entry and the all-in-one. */
export function triggersOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): TriggersOptions {
  const number = (name: string) => {
    const raw = env[name];
    if (raw === undefined || raw === '') return undefined;
    const value = Number(raw);
    if (!Number.isFinite(value) || value <= 0)
      throw new Error(`${name} must be a positive number, got ${raw}`);
    return value;
  };
  return {
    rateLimits: {
      ...(number('TRIGGERS_ORG_EVENTS_PER_SECOND')
        ? { orgEventsPerSecond: number('TRIGGERS_ORG_EVENTS_PER_SECOND') }
        : {}),
      ...(number('TRIGGERS_SOURCE_EVENTS_PER_SECOND')
        ? { sourceEventsPerSecond: number('TRIGGERS_SOURCE_EVENTS_PER_SECOND') }
        : {}),
    },
    schedulePollMs: number('TRIGGERS_SCHEDULE_POLL_MS'),
  };
}

export function createTriggersService(options: TriggersOptions = {}): CreateService {
  return (rt) => {
    const limits: IngestRateLimits = { ...DEFAULT_RATE_LIMITS, ...options.rateLimits };
    const admission = createIngestAdmission(rt, limits, { claimTtlMs: options.idempotencyTtlMs ?? DAY_MS });
    const publish = createFactPublisher(rt, admission);
    const poller = createSchedulePoller({
      db: rt.db,
      eventStore: rt.eventStore,
      logger: rt.logger,
      metrics: rt.metrics,
      service: rt.name,
      intervalMs: options.schedulePollMs,
      onFired: () => rt.relay.wake(),
    });
    return {
      migrations: triggersMigrations,
      routes(router) {
        router.get('/openapi.json', (_req, res) => res.json(openApiDocument));
        const edge = ingestEdge(rt);
        ingestRoutes(rt, router, edge, publish);
        metricsRoutes(rt, router, edge, publish);
        webhookRoutes(rt, router, publish);
        sourceRoutes(rt, router);
        scheduleRoutes(rt, router);
      },
      async start() {
        poller.start();
      },
      async stop() {
        await poller.stop();
      },
    };
  };
}

export const createService: CreateService = (rt) => createTriggersService(triggersOptionsFromEnv())(rt);
