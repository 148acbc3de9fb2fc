// The projections slice: every result topic projected into m_* tables by org, and the measures
// read from them (email, rule effectiveness, funnels, ROI with attribution, trends).
import type { ServiceRuntime } from '@cmis/platform';
import type { AnalyticsSlice, SliceContext } from '../slice';
import { projectionRoutes } from './api';
import { applyProjection, PROJECTIONS } from './consumer';
import { projectionMigrations } from './migrations';
import { createRebuilder, type Rebuilder } from './rebuild';
import { analyticsTimers } from '../segments';
import { createMeasureSnapshots, MEASURES_TIMER } from './snapshots';

// The slice is one object for every runtime the process builds (tests build several): each
// runtime gets its own rebuilder.
const rebuilders = new Map<ServiceRuntime, Rebuilder>();
const rebuilderOf = (ctx: SliceContext) => {
  const found = rebuilders.get(ctx.rt) ?? createRebuilder(ctx.rt, ctx.now);
  rebuilders.set(ctx.rt, found);
  return found;
};

export const projectionsSlice: AnalyticsSlice = {
  name: 'projections',
  migrations: projectionMigrations,
  routes(router, ctx) {
    projectionRoutes(router, ctx, rebuilderOf(ctx));
  },
  async start(ctx) {
    rebuilderOf(ctx);
    // Measures per period on cmis.analytics.measures.v1, on the service's timers (segments owns them).
    const snapshots = createMeasureSnapshots({
      rt: ctx.rt,
      now: ctx.now,
      ...(ctx.measuresPeriodMs ? { periodMs: ctx.measuresPeriodMs } : {}),
    });
    analyticsTimers(ctx).handle(MEASURES_TIMER, snapshots.fire);
    for (const p of PROJECTIONS) {
      const apply = applyProjection(p);
      await ctx.rt.consume({
        groupId: `${ctx.rt.name}.projections.${p.name}`,
        topics: p.topics,
        apply: async (events, c) => {
          await apply(events, c);
          await snapshots.ensureStarted(c.trx, c.orgId);
        },
      });
    }
  },
  async stop() {
    const all = [...rebuilders.values()];
    rebuilders.clear();
    await Promise.all(all.map((r) => r.stop()));
  },
};

export { projectionMigrations } from './migrations';
// The bench (bench/src/analytics-ingest.ts) drives the projections from the build.
export { applyProjection, PROJECTIONS } from './consumer';
