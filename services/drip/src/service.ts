// Wires the drip slices into the runtime (also used by the all-in-one process).
import { createTimerPoller, type CreateService } from '@cmis/platform';
import { dripRoutes } from './campaigns/api';
import { createCampaignStore } from './campaigns/store';
import { dripMigrations } from './db/migrations';
import { openApiDocument } from './openapi';
import { startConsumers } from './subscriptions/consumer';
import { createSubscriptionRunner, STEP_TIMER } from './subscriptions/runner';

export interface DripServiceOptions {
  /** The service's clock: when steps fall due and windows open; tests inject one. */
  now?: () => Date;
  /** Timer poller's idle pause (ms). */
  timerIntervalMs?: number;
  /** Timers one round fires per org (the burst a due wave is taken in). */
  timerBatch?: number;
}

export function createDripService(options: DripServiceOptions = {}): CreateService {
  return (rt) => {
    const now = options.now ?? (() => new Date());
    const store = createCampaignStore(rt);
    const wake = { timers: () => {} };
    const runner = createSubscriptionRunner({ rt, store, onDueSoon: () => wake.timers() });
    const timers = createTimerPoller({
      db: rt.db,
      logger: rt.logger,
      metrics: rt.metrics,
      service: rt.name,
      now,
      intervalMs: options.timerIntervalMs ?? 1_000,
      ...(options.timerBatch ? { perOrgBatch: options.timerBatch, batchSize: options.timerBatch * 4 } : {}),
      onFired: () => rt.relay.wake(),
      handlers: {
        // Fired by its due time (the service's clock decided it is due): the step's send time.
        [STEP_TIMER]: async (trx, timer) => {
          await runner.fire(
            trx,
            timer.orgId,
            (timer.payload as { subscriptionId: string }).subscriptionId,
            maxDate(timer.dueAt, now()),
          );
        },
      },
    });
    wake.timers = () => timers.wake();
    return {
      migrations: dripMigrations,
      routes(router) {
        router.get('/openapi.json', (_req, res) => res.json(openApiDocument));
        dripRoutes(router, { rt, store, runner, now });
      },
      async start() {
        await startConsumers({ rt, store, runner });
        timers.start();
      },
      async stop() {
        await timers.stop();
      },
    };
  };
}

const maxDate = (a: Date, b: Date) => (a.getTime() >= b.getTime() ? a : b);

export const createService: CreateService = createDripService();
