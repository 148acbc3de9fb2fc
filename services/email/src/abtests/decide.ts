// Deciding an A/B test: a pooled two-proportion z-test of the best variant against each other one.
// With more than two variants the best must beat every other, each at α/(k−1) (Bonferroni: k−1
// comparisons at once keep the chance of a false winner at most α = 1 − confidence). Too small a
// sample, a tie at the top, or no significant lead gives the fallback variant.
import { twoSidedP } from './normal';

export interface VariantCounts {
  variantId: string;
  sent: number;
  conversions: number;
}

export interface WinnerDecision {
  winnerVariantId: string;
  decidedBy: 'significant' | 'fallback';
  /** Of the weakest comparison (the largest p), unadjusted: compare it with α/(k−1). */
  pValue?: number;
  z?: number;
  reason: string;
  variants: Array<VariantCounts & { rate: number }>;
}

/** Counts no test can be run on: negative or fractional, more conversions than sends, a confidence not in (0, 1). */
export class AbTestCountsError extends Error {
  override readonly name = 'AbTestCountsError';
}

/** Pooled two-proportion z statistic of a against b and its two-sided p-value. */
export function twoProportionZ(a: VariantCounts, b: VariantCounts): { z: number; pValue: number } {
  const pooled = (a.conversions + b.conversions) / (a.sent + b.sent);
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / a.sent + 1 / b.sent));
  if (!(se > 0)) return { z: 0, pValue: 1 };
  const z = (a.conversions / a.sent - b.conversions / b.sent) / se;
  return { z, pValue: twoSidedP(z) };
}

function validate(input: { variants: VariantCounts[]; confidence: number }): void {
  if (!(input.confidence > 0 && input.confidence < 1))
    throw new AbTestCountsError(`confidence must be between 0 and 1, not ${input.confidence}`);
  for (const v of input.variants) {
    const counts = [v.sent, v.conversions];
    if (counts.some((n) => !Number.isInteger(n) || n < 0) || v.conversions > v.sent)
      throw new AbTestCountsError(`${v.variantId}: ${v.conversions} conversions of ${v.sent} sent`);
  }
}

const pct = (x: number) => `${Number((x * 100).toFixed(2))}%`;

export function decideWinner(input: {
  variants: VariantCounts[];
  confidence: number;
  minSamplePerVariant: number;
  fallbackVariantId: string;
  metric: 'clicks' | 'opens';
}): WinnerDecision {
  validate(input);
  const variants = input.variants.map((v) => ({
    variantId: v.variantId,
    sent: v.sent,
    conversions: v.conversions,
    rate: v.sent > 0 ? v.conversions / v.sent : 0,
  }));
  const fallback = (reason: string, test?: { z: number; pValue: number }): WinnerDecision => ({
    winnerVariantId: input.fallbackVariantId,
    decidedBy: 'fallback',
    ...(test ? { z: test.z, pValue: test.pValue } : {}),
    reason,
    variants,
  });
  if (variants.length < 2) return fallback('an A/B test needs at least two variants');
  const minimum = Math.max(1, input.minSamplePerVariant);
  const small = variants.filter((v) => v.sent < minimum);
  if (small.length > 0)
    return fallback(
      `too small a sample: ${small.map((v) => `${v.variantId} ${v.sent}`).join(', ')} of ${minimum} per variant`,
    );

  const ranked = [...variants].sort((a, b) => b.rate - a.rate);
  const [best, runnerUp] = [ranked[0]!, ranked[1]!];
  if (best.rate === runnerUp.rate)
    return fallback(`no variant leads: ${best.variantId} and ${runnerUp.variantId} tie at ${pct(best.rate)}`);
  const comparisons = ranked.length - 1;
  const alpha = (1 - input.confidence) / comparisons;
  const weakest = ranked
    .slice(1)
    .map((other) => twoProportionZ(best, other))
    .reduce((a, b) => (b.pValue > a.pValue ? b : a));
  const at =
    comparisons > 1
      ? `${pct(input.confidence)} confidence (α ${Number(alpha.toPrecision(3))} each of ${comparisons} comparisons)`
      : `${pct(input.confidence)} confidence`;
  const p = `p=${weakest.pValue.toPrecision(3)}`;
  if (!(weakest.pValue < alpha))
    return fallback(
      `${best.variantId} leads on ${input.metric} (${pct(best.rate)}) but not at ${at}, ${p}`,
      weakest,
    );
  return {
    winnerVariantId: best.variantId,
    decidedBy: 'significant',
    z: weakest.z,
    pValue: weakest.pValue,
    reason: `${best.variantId} wins on ${input.metric} (${pct(best.rate)}) at ${at}, ${p}`,
    variants,
  };
}
