// Random splits, pure: a contact's sticky point in [0, 1) mapped through weights, and the weights
// a split uses: its branches' own (fixed, or a bandit before its first allocation) or the latest
// allocation analytics published for it (bandit).
import { stableHash32 } from '@cmis/platform';
import type { BanditMetric, RandomSplitStep } from '../definitions/workflow';

/** Buckets per split: holdout percents and points resolve to 1/10,000. */
export const SPLIT_BUCKETS = 10_000;
/** Without `bandit.explorationShare`: this much of the traffic, spread evenly over the branches. */
export const DEFAULT_EXPLORATION_TOTAL = 0.1;

/** 0 ≤ n < 10,000, the same for one workflow and contact forever (sticky splits). */
export function stickyBucket(workflowId: string, contactId: string, salt = ''): number {
  return stableHash32(`${workflowId}\u0000${contactId}\u0000${salt}`) % SPLIT_BUCKETS;
}

/** The latest allocation of a bandit split, as the workflows projection keeps it. */
export interface SplitAllocation {
  revision: number;
  asOf: string;
  /** Branch name → weight; the weights sum to 1. */
  weights: Record<string, number>;
}

export interface BanditOptions {
  metric: BanditMetric;
  explorationShare: number;
}

export function banditOptionsOf(step: RandomSplitStep): BanditOptions {
  return {
    metric: step.bandit?.metric ?? 'conversion',
    explorationShare: step.bandit?.explorationShare ?? DEFAULT_EXPLORATION_TOTAL / step.branches.length,
  };
}

export type WeightSource =
  | { source: 'fixed' }
  | { source: 'configured'; reason: string }
  | { source: 'allocation'; revision: number; asOf: string };

/**
 * The weights a pass through the split uses, in branch order. A bandit takes the allocation only
 * when it names exactly the step's branches (a new version may have renamed one): otherwise, and
 * before the first allocation, the branches' configured weights.
 */
export function splitWeights(
  step: RandomSplitStep,
  allocation: SplitAllocation | undefined,
): { weights: Array<[string, number]>; from: WeightSource } {
  const configured = step.branches.map((b): [string, number] => [b.name, b.weight]);
  if (step.allocation !== 'bandit') return { weights: configured, from: { source: 'fixed' } };
  if (!allocation)
    return { weights: configured, from: { source: 'configured', reason: 'no allocation yet' } };
  const names = Object.keys(allocation.weights);
  const fits =
    names.length === step.branches.length &&
    step.branches.every((b) => Number.isFinite(allocation.weights[b.name]));
  if (!fits)
    return {
      weights: configured,
      from: { source: 'configured', reason: `allocation names ${names.join(', ')}, not the branches` },
    };
  return {
    weights: step.branches.map((b) => [b.name, allocation.weights[b.name]!]),
    from: { source: 'allocation', revision: allocation.revision, asOf: allocation.asOf },
  };
}

/**
 * The branch at a sticky bucket past the holdout: the bucket's place in [0, 1) scaled to the
 * weights' total, then the first branch whose running total passes it (the last one for what
 * rounding leaves over). Weights need not sum to 1 (fixed splits are integers).
 */
export function branchAt(bucket: number, holdout: number, weights: Array<[string, number]>): string {
  const total = weights.reduce((sum, [, w]) => sum + w, 0);
  const point = ((bucket - holdout) / (SPLIT_BUCKETS - holdout)) * total;
  let acc = 0;
  const hit = weights.find(([, w]) => (acc += w) > point);
  return (hit ?? weights[weights.length - 1]!)[0];
}
