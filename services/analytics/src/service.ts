// Wires the analytics slices into the runtime (also used by the all-in-one process).
import type { CreateService } from '@cmis/platform';
import type { BanditThrottle } from './experiments/bandit';
import { openApiDocument } from './openapi';
import type { SliceContext } from './slice';
import { SLICES } from './slices';

export interface AnalyticsServiceOptions {
  now?: () => Date;
  /** Period of the measures published on cmis.analytics.measures.v1 (default an hour). */
  measuresPeriodMs?: number;
  /** Bandit splits: least ms between two allocations of one, new outcomes before the next (60 s, 20). */
  bandit?: Partial<BanditThrottle>;
}

export function createAnalyticsService(options: AnalyticsServiceOptions = {}): CreateService {
  return (rt) => {
    const ctx: SliceContext = {
      rt,
      now: options.now ?? (() => new Date()),
      ...(options.measuresPeriodMs ? { measuresPeriodMs: options.measuresPeriodMs } : {}),
      ...(options.bandit ? { bandit: options.bandit } : {}),
    };
    return {
      migrations: SLICES.flatMap((s) => s.migrations),
      routes(router) {
        router.get('/openapi.json', (_req, res) => res.json(openApiDocument()));
        for (const slice of SLICES) slice.routes?.(router, ctx);
      },
      async start() {
        for (const slice of SLICES) await slice.start?.(ctx);
      },
      async stop() {
        for (const slice of [...SLICES].reverse()) await slice.stop?.();
      },
    };
  };
}

export const createService: CreateService = createAnalyticsService();
