// The experiments slice: results of every A/B split (email variants, workflow random splits) and
// of rule holdouts, and decisions the email service acts on. Drip subscriptions carry no variant
// yet, so drip tests are not projected (add a consumer once cmis.drip.subscriptions.v1 has one).
import { analyticsTimers } from '../segments';
import type { AnalyticsSlice, SliceContext } from '../slice';
import { BANDIT_TIMER, publishAllocation } from './allocations';
import { experimentRoutes } from './api';
import { DEFAULT_BANDIT_THROTTLE } from './bandit';
import { startExperimentConsumers } from './consumer';
import { experimentsMigrations } from './migrations';

/** Bandit allocations fire on the segments slice's poller (it owns the schema's timers table). */
const registered = new WeakSet<SliceContext>();
function handleBanditTimers(ctx: SliceContext) {
  if (registered.has(ctx)) return;
  registered.add(ctx);
  analyticsTimers(ctx).handle(BANDIT_TIMER, async (trx, timer) => {
    const { experimentId } = timer.payload as { experimentId: string };
    await publishAllocation(ctx.rt, trx, timer.orgId, experimentId, ctx.now());
  });
}

export const experimentsSlice: AnalyticsSlice = {
  name: 'experiments',
  migrations: experimentsMigrations,
  routes(router, ctx) {
    handleBanditTimers(ctx);
    experimentRoutes(router, { rt: ctx.rt, now: ctx.now });
  },
  async start(ctx) {
    handleBanditTimers(ctx);
    await startExperimentConsumers(ctx.rt, {
      now: ctx.now,
      throttle: { ...DEFAULT_BANDIT_THROTTLE, ...ctx.bandit },
    });
  },
};
