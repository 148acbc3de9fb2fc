// The RFM slice: orders from track calls, per-contact recency/frequency/monetary scores by
// quintiles within the org over its window, named segments (README "RFM segments"), a move
// between them an rfm-changed event; aged daily by a timer per org (on the segments slice's
// poller, which owns the schema's timers table).
import { userActionsTopic, type ActionTracked } from '@cmis/contracts';
import type { AnalyticsSlice, SliceContext } from '../slice';
import { analyticsTimers } from '../segments';
import { rfmRoutes } from './api';
import { rfmMigrations } from './migrations';
import { AGING_TIMER, createRfm, type Rfm } from './scores';
import { orderOf } from './scoring';

export function createRfmSlice(): AnalyticsSlice {
  const byContext = new WeakMap<SliceContext, Rfm>();
  const rfmOf = (ctx: SliceContext): Rfm => {
    const existing = byContext.get(ctx);
    if (existing) return existing;
    const rfm = createRfm({ rt: ctx.rt, now: ctx.now });
    analyticsTimers(ctx).handle(AGING_TIMER, async (trx, timer) => {
      await rfm.rescoreOrg(trx, timer.orgId);
      await rfm.scheduleAging(trx, timer.orgId);
    });
    byContext.set(ctx, rfm);
    return rfm;
  };
  return {
    name: 'rfm',
    migrations: rfmMigrations,
    routes(router, ctx) {
      rfmRoutes(router, { rt: ctx.rt, rfm: rfmOf(ctx) });
    },
    async start(ctx) {
      const rfm = rfmOf(ctx);
      await ctx.rt.consume({
        groupId: `${ctx.rt.name}.rfm.user-actions`,
        topics: [userActionsTopic.name],
        handle: async ({ envelope }, { trx, orgId }) => {
          if (envelope.type !== 'cmis.triggers.action-tracked') return;
          const data = envelope.data as ActionTracked;
          const order = orderOf(data.event, data.properties);
          if (!order) return;
          await rfm.order(
            trx,
            orgId,
            (data.userId ?? data.anonymousId)!,
            { at: new Date(data.timestamp), amount: order.amount },
            { correlationId: envelope.correlationId, causationId: envelope.id },
          );
        },
      });
    },
  };
}

export const rfmSlice = createRfmSlice();
