// Bandit allocation of a split, pure: what a split pass tells about its bandit (metric,
// exploration share, variants), when the next allocation is due, and the allocation itself
// (Thompson sampling over conversions, each variant keeping the exploration share).
import type { AllocationUpdated } from '@cmis/contracts';
import { stableHash32 } from '@cmis/platform';
import { z } from 'zod';
import { seededRandom, thompsonAllocation } from './stats';
import type { VariantTotals } from './results';

/** What a bandit can optimise: what the split's units count (an instance converted on a goal). */
export const BANDIT_METRICS = ['conversion'] as const;

/** What a bandit split pass records in its step-completed detail (the workflows engine writes it). */
export const BanditSplitDetail = z.object({
  allocation: z.literal('bandit'),
  metric: z.enum(BANDIT_METRICS),
  explorationShare: z.number().min(0).max(1),
  variants: z.array(z.string().min(1)).min(2),
});
export type BanditSplitDetail = z.infer<typeof BanditSplitDetail>;

/** The bandit options of a pass, or undefined for a fixed split (or options no bandit can keep). */
export function banditOfDetail(detail: unknown): BanditSplitDetail | undefined {
  const parsed = BanditSplitDetail.safeParse(detail);
  if (!parsed.success) return undefined;
  const { explorationShare, variants } = parsed.data;
  if (explorationShare * variants.length > 1 || new Set(variants).size !== variants.length) return undefined;
  return parsed.data;
}

export interface BanditThrottle {
  /** Least time between two allocations of one experiment. */
  intervalMs: number;
  /** New outcomes (exposures and conversions) since the last allocation before the next one. */
  minOutcomes: number;
}

export const DEFAULT_BANDIT_THROTTLE: BanditThrottle = { intervalMs: 60_000, minOutcomes: 20 };

/**
 * When the next allocation is due, or undefined while it is not: enough new outcomes, and no
 * sooner than the interval after the last one. Coalesced: one pending timer per experiment.
 */
export function nextAllocationAt(
  state: { pendingOutcomes: number; lastPublishedAt?: Date; timerPending: boolean },
  now: Date,
  throttle: BanditThrottle,
): Date | undefined {
  if (state.timerPending || state.pendingOutcomes < throttle.minOutcomes) return undefined;
  const earliest = state.lastPublishedAt ? state.lastPublishedAt.getTime() + throttle.intervalMs : 0;
  return new Date(Math.max(now.getTime(), earliest));
}

export interface BanditConfig {
  experimentId: string;
  workflowId: string;
  stepId: string;
  metric: (typeof BANDIT_METRICS)[number];
  explorationShare: number;
  variants: string[];
}

/**
 * The allocation of a split's next units over its configured variants (a variant with no
 * exposure yet counts as 0 of 0; units of other outcomes, like holdout, are not variants).
 * Seeded by the experiment, the revision and the counts: the same look gives the same weights.
 */
export function banditAllocation(
  config: BanditConfig,
  totals: VariantTotals[],
  revision: number,
  asOf: Date,
  draws = 10_000,
): AllocationUpdated {
  const byVariant = new Map(totals.map((t) => [t.variantId, t]));
  const counts = config.variants.map((variantId) => {
    const t = byVariant.get(variantId);
    return { variantId, exposed: t?.exposed ?? 0, conversions: t?.conversions ?? 0 };
  });
  const seed = `${config.experimentId}:${revision}:${counts.map((c) => `${c.exposed}/${c.conversions}`).join(',')}`;
  const shares = thompsonAllocation(counts, {
    minExplorationShare: config.explorationShare,
    random: seededRandom(stableHash32(seed)),
    draws,
  });
  return {
    experimentId: config.experimentId,
    kind: 'workflow_split',
    workflowId: config.workflowId,
    stepId: config.stepId,
    metric: config.metric,
    explorationShare: config.explorationShare,
    revision,
    asOf: asOf.toISOString(),
    variants: counts.map((c, i) => ({ ...c, weight: shares[i]! })),
  };
}
