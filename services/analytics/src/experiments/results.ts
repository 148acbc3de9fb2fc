// An experiment's results from its per-variant totals, pure: rates with intervals, the tests,
// the winner at a confidence, and a bandit allocation suggestion. Also what a decision needs.
import { stableHash32 } from '@cmis/platform';
import {
  chiSquaredTest,
  msprtTwoProportions,
  seededRandom,
  summarize,
  thompsonAllocation,
  twoProportionZTest,
  welchTTest,
  wilsonInterval,
} from './stats';

export interface VariantTotals {
  variantId: string;
  exposed: number;
  conversions: number;
  /** Revenue per exposed unit: its sum and sum of squares over the `exposed` units. */
  revenueSum: number;
  revenueSumOfSquares: number;
}

export const METRICS = ['conversions', 'conversions_sequential', 'revenue_per_contact'] as const;
export type ExperimentMetric = (typeof METRICS)[number];
export const TEST_OF: Record<ExperimentMetric, string> = {
  conversions: 'two-proportion z',
  conversions_sequential: 'mSPRT',
  revenue_per_contact: 'Welch t',
};

export interface ResultOptions {
  confidence: number;
  minSample: number;
  /** τ² of the mSPRT's normal mixture over the difference in rates. */
  mixingVariance: number;
  /** The always-valid p-value's running minimum before this look. */
  previousSequentialP: number;
  minExplorationShare: number;
}

export const DEFAULT_RESULT_OPTIONS: ResultOptions = {
  confidence: 0.95,
  minSample: 100,
  mixingVariance: 0.001,
  previousSequentialP: 1,
  minExplorationShare: 0.05,
};

export interface VariantResult {
  variantId: string;
  exposed: number;
  conversions: number;
  rate: number;
  low: number;
  high: number;
  revenuePerContact: number;
  revenueVariance: number;
}

export interface TestOutcome {
  test: string;
  statistic: number;
  pValue: number;
  df?: number;
  /** The two variants the pairwise test compares: the leader against the runner-up. */
  leader?: string;
  runnerUp?: string;
}

export interface ExperimentResults {
  variants: VariantResult[];
  tests: {
    conversions: TestOutcome;
    chiSquared: TestOutcome;
    revenue: TestOutcome;
    sequential: TestOutcome;
  };
  /** Winner per metric at the confidence, when every variant has minSample exposures. */
  winners: Record<ExperimentMetric, string | null>;
  enoughSample: boolean;
  /** Thompson sampling over conversions, each variant keeping the exploration floor. */
  banditAllocation: Record<string, number>;
}

export function experimentResults(
  experimentId: string,
  totals: VariantTotals[],
  options: ResultOptions,
): ExperimentResults {
  const variants = totals.map((v) => {
    const revenue = summarize(v.exposed, v.revenueSum, v.revenueSumOfSquares);
    const { low, high } = wilsonInterval(v.conversions, v.exposed, options.confidence);
    return {
      variantId: v.variantId,
      exposed: v.exposed,
      conversions: v.conversions,
      rate: v.exposed > 0 ? v.conversions / v.exposed : 0,
      low,
      high,
      revenuePerContact: revenue.mean,
      revenueVariance: revenue.variance,
    };
  });
  const byRate = [...variants].sort((a, b) => b.rate - a.rate || a.variantId.localeCompare(b.variantId));
  const byRevenue = [...variants].sort(
    (a, b) => b.revenuePerContact - a.revenuePerContact || a.variantId.localeCompare(b.variantId),
  );
  const pair = (sorted: VariantResult[]) => ({ leader: sorted[0], runnerUp: sorted[1] });
  const rate = pair(byRate);
  const rev = pair(byRevenue);
  const alpha = 1 - options.confidence;

  const conversions: TestOutcome =
    rate.leader && rate.runnerUp
      ? {
          test: TEST_OF.conversions,
          ...twoProportionZTest(rate.runnerUp, rate.leader),
          leader: rate.leader.variantId,
          runnerUp: rate.runnerUp.variantId,
        }
      : { test: TEST_OF.conversions, statistic: 0, pValue: 1 };
  const chi = chiSquaredTest(variants);
  const chiSquared: TestOutcome = {
    test: 'chi-squared',
    statistic: chi.statistic,
    pValue: chi.pValue,
    df: chi.df,
  };
  const revenue: TestOutcome =
    rev.leader && rev.runnerUp
      ? {
          test: TEST_OF.revenue_per_contact,
          ...welchTTest(sampleOf(rev.runnerUp), sampleOf(rev.leader)),
          leader: rev.leader.variantId,
          runnerUp: rev.runnerUp.variantId,
        }
      : { test: TEST_OF.revenue_per_contact, statistic: 0, pValue: 1 };
  const sequential: TestOutcome =
    rate.leader && rate.runnerUp
      ? {
          test: TEST_OF.conversions_sequential,
          ...msprtTwoProportions(
            rate.runnerUp,
            rate.leader,
            options.mixingVariance,
            options.previousSequentialP,
          ),
          leader: rate.leader.variantId,
          runnerUp: rate.runnerUp.variantId,
        }
      : { test: TEST_OF.conversions_sequential, statistic: 0, pValue: options.previousSequentialP };

  const enoughSample = variants.length >= 2 && variants.every((v) => v.exposed >= options.minSample);
  // With more than two variants the leader must also pass the omnibus chi-squared.
  const omnibus = variants.length <= 2 || chiSquared.pValue < alpha;
  const winnerOf = (t: TestOutcome, extra = true) =>
    enoughSample && extra && t.leader && t.pValue < alpha && t.statistic > 0 ? t.leader : null;
  const shares = thompsonAllocation(variants, {
    minExplorationShare: Math.min(options.minExplorationShare, 1 / Math.max(variants.length, 1)),
    // Seeded by the data: the same totals give the same suggestion on every read.
    random: seededRandom(
      stableHash32(`${experimentId}:${variants.map((v) => `${v.exposed}/${v.conversions}`).join(',')}`),
    ),
    draws: 5_000,
  });
  return {
    variants,
    tests: { conversions, chiSquared, revenue, sequential },
    winners: {
      conversions: winnerOf(conversions, omnibus),
      conversions_sequential: winnerOf(sequential, omnibus),
      revenue_per_contact: winnerOf(revenue),
    },
    enoughSample,
    banditAllocation: Object.fromEntries(variants.map((v, i) => [v.variantId, shares[i]!])),
  };
}

const sampleOf = (v: VariantResult) => ({
  n: v.exposed,
  mean: v.revenuePerContact,
  variance: v.revenueVariance,
});

/** The test result a decision on this metric reports. */
export function decisiveTest(results: ExperimentResults, metric: ExperimentMetric): TestOutcome {
  switch (metric) {
    case 'conversions':
      return results.variants.length > 2 ? results.tests.chiSquared : results.tests.conversions;
    case 'conversions_sequential':
      return results.tests.sequential;
    case 'revenue_per_contact':
      return results.tests.revenue;
    default: {
      const never: never = metric;
      throw new Error(`unknown metric ${String(never)}`);
    }
  }
}
