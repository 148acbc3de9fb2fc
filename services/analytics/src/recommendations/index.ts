// The recommendations slice: budget moves from high-CPA to low-CPA campaigns, per org and
// platform, from the entity metrics; published for a rule to act on.
import type { AnalyticsSlice } from '../slice';
import { recommendationRoutes } from './api';
import { DEFAULT_BUDGET_POLICY, type BudgetPolicy } from './budget';
import { startRecommendationConsumer } from './consumer';
import { recommendationsMigrations } from './migrations';

export interface RecommendationsSliceOptions {
  policy?: Partial<BudgetPolicy>;
  intervalMs?: number;
  windowMs?: number;
}

export function createRecommendationsSlice(options: RecommendationsSliceOptions = {}): AnalyticsSlice {
  return {
    name: 'recommendations',
    migrations: recommendationsMigrations,
    routes(router, ctx) {
      recommendationRoutes(router, { rt: ctx.rt });
    },
    async start(ctx) {
      await startRecommendationConsumer({
        rt: ctx.rt,
        now: ctx.now,
        policy: { ...DEFAULT_BUDGET_POLICY, ...options.policy },
        intervalMs: options.intervalMs ?? Number(process.env.CMIS_BUDGET_INTERVAL_MS ?? 3_600_000),
        windowMs: options.windowMs ?? 7 * 86_400_000,
      });
    },
  };
}

export const recommendationsSlice = createRecommendationsSlice();
