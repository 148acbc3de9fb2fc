// The segments slice: versioned definitions evaluated per contact as events arrive, entries and
// exits on cmis.analytics.segments.v1, exits by time through durable timers, backfills on change.
// It owns the analytics schema's timers table and poller (timers.ts).
import type { AnalyticsSlice, SliceContext } from '../slice';
import { segmentRoutes } from './api';
import { BACKFILL_TIMER, backfillHandler } from './backfill';
import { startSegmentConsumers } from './consumer';
import { createMembership, WINDOW_TIMER, type Membership } from './membership';
import { segmentMigrations } from './migrations';
import { createSegmentStore, type SegmentStore } from './store';
import { analyticsTimers, type AnalyticsTimers } from './timers';

export { analyticsTimers, type AnalyticsTimers } from './timers';

type Parts = { store: SegmentStore; membership: Membership; timers: AnalyticsTimers };

export function createSegmentsSlice(): AnalyticsSlice {
  const byContext = new WeakMap<SliceContext, Parts>();
  const started = new Set<Parts>();
  const partsOf = (ctx: SliceContext): Parts => {
    const existing = byContext.get(ctx);
    if (existing) return existing;
    const store = createSegmentStore(ctx.rt);
    const membership = createMembership({ rt: ctx.rt, store, now: ctx.now });
    const timers = analyticsTimers(ctx);
    timers.handle(WINDOW_TIMER, async (trx, timer) => {
      await membership.evaluate(trx, timer.orgId, (timer.payload as { contactId: string }).contactId, {
        reason: 'a window closed',
      });
    });
    timers.handle(BACKFILL_TIMER, backfillHandler({ membership, store, now: ctx.now }));
    const parts = { store, membership, timers };
    byContext.set(ctx, parts);
    return parts;
  };
  return {
    name: 'segments',
    migrations: segmentMigrations,
    routes(router, ctx) {
      const { store, membership, timers } = partsOf(ctx);
      segmentRoutes(router, {
        rt: ctx.rt,
        store,
        membership,
        now: ctx.now,
        wake: () => timers.poller.wake(),
      });
    },
    async start(ctx) {
      const parts = partsOf(ctx);
      await startSegmentConsumers({ rt: ctx.rt, membership: parts.membership });
      parts.timers.poller.start();
      started.add(parts);
    },
    async stop() {
      for (const parts of started) {
        await parts.timers.poller.stop();
        await parts.store.compiled.close();
      }
      started.clear();
    },
  };
}

export const segmentsSlice = createSegmentsSlice();
