// Wires the workflows slices into the runtime (also used by the all-in-one process).
import { userActionsTopic } from '@cmis/contracts';
import {
  createReadThrough,
  createTimerPoller,
  createWebhookSender,
  parseAllowlist,
  systemResolver,
  withOrg,
  withSystem,
  type CreateService,
  type Resolver,
  type WebhookSenderOptions,
} from '@cmis/platform';
import { workflowsMigrations } from './db/migrations';
import { workflowsRoutes } from './definitions/api';
import { createWorkflowStore } from './definitions/store';
import { startAllocationConsumer } from './instances/allocations';
import { buildActiveIndex, startConsumers, userActionsGroup, type ActiveIndex } from './instances/consumer';
import { createRunner, STEP_TIMER } from './instances/runner';
import { stepTimerHandler } from './instances/timeouts';
import { createWebhookWorker } from './webhooks/worker';
import { openApiDocument } from './openapi';

export interface WorkflowsServiceOptions {
  /** The service's clock: what is due, event times of API entries; tests inject one. */
  now?: () => Date;
  /** CIDRs webhook steps may reach although private; default: env WORKFLOWS_WEBHOOK_ALLOWLIST. */
  webhookAllowlist?: string;
  resolve?: Resolver;
  webhook?: Omit<WebhookSenderOptions, 'allowlist' | 'resolve' | 'now'>;
  /** Timer poller's idle pause (ms). */
  timerIntervalMs?: number;
  /**
   * Most a wait's timeout waits past its deadline for the user-actions consumer to read the
   * contact's partition through it (ms, default 60 s); then it fires regardless.
   */
  timeoutReadThroughMs?: number;
  /** Days recorded track calls are kept for waits' look-back and backtests (env WORKFLOWS_EVENT_RETENTION_DAYS, default 30). */
  eventRetentionDays?: number;
}

const PRUNE_EVERY_MS = 60 * 60_000;

export function createWorkflowsService(options: WorkflowsServiceOptions = {}): CreateService {
  return (rt) => {
    const now = options.now ?? (() => new Date());
    const allowlist = parseAllowlist(options.webhookAllowlist ?? process.env.WORKFLOWS_WEBHOOK_ALLOWLIST);
    const resolve = options.resolve ?? systemResolver;
    const store = createWorkflowStore(rt);
    const index = rt.redis.invalidatingCache<ActiveIndex>({
      name: `${rt.name}.active-workflows`,
      loader: (orgId) =>
        withOrg(rt.db.app, orgId, async (trx) =>
          buildActiveIndex(
            await Promise.all(
              (await store.active(trx)).map((v) => store.compiled(trx, orgId, v.workflowId, v.version)),
            ),
          ),
        ),
      ttlMs: 5 * 60_000,
    });
    const wake = { timers: () => {}, webhooks: () => {} };
    const runner = createRunner({
      rt,
      store,
      onTimers: () => wake.timers(),
      onWebhooks: () => wake.webhooks(),
    });
    const timers = createTimerPoller({
      db: rt.db,
      logger: rt.logger,
      metrics: rt.metrics,
      service: rt.name,
      now,
      intervalMs: options.timerIntervalMs ?? 1_000,
      onFired: () => rt.relay.wake(),
      handlers: {
        [STEP_TIMER]: stepTimerHandler({
          rt,
          runner,
          now,
          readThrough: createReadThrough({
            bus: rt.bus,
            groupId: userActionsGroup(rt.name),
            topic: userActionsTopic.name,
            now,
          }),
          capMs: options.timeoutReadThroughMs,
        }),
      },
    });
    const sender = createWebhookSender({ ...options.webhook, allowlist, resolve, now });
    const webhooks = createWebhookWorker({ rt, sender, runner, now });
    const retentionDays =
      options.eventRetentionDays ?? Number(process.env.WORKFLOWS_EVENT_RETENTION_DAYS ?? 30);
    let pruner: NodeJS.Timeout | undefined;
    const prune = () =>
      withSystem(rt.db.owner, (trx) =>
        trx('contact_events')
          .where('occurred_at', '<', new Date(now().getTime() - retentionDays * 86_400_000))
          .delete(),
      ).catch((err: unknown) => rt.logger.warn({ err }, 'pruning recorded track calls failed'));
    wake.timers = () => timers.wake();
    wake.webhooks = () => webhooks.wake();
    return {
      migrations: workflowsMigrations,
      routes(router) {
        router.get('/openapi.json', (_req, res) => res.json(openApiDocument));
        workflowsRoutes(router, { rt, store, runner, index, allowlist, now });
      },
      async start() {
        await startConsumers({ rt, store, runner, index });
        await startAllocationConsumer(rt);
        timers.start();
        webhooks.start();
        pruner = setInterval(() => void prune(), PRUNE_EVERY_MS).unref();
      },
      async stop() {
        clearInterval(pruner);
        await timers.stop();
        await webhooks.stop();
        await sender.close();
      },
    };
  };
}

export const createService: CreateService = createWorkflowsService();
