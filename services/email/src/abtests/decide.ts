// Deciding an A/B test: a two-proportion z-test (pooled) of the best variant against each other
// one, at the configured confidence, Bonferroni-adjusted for more than two variants (the best must
// beat every other); too small a sample or no significant lead gives the fallback.

export interface VariantCounts {
  variantId: string;
  sent: number;
  conversions: number;
}

export interface WinnerDecision {
  winnerVariantId: string;
  decidedBy: 'significant' | 'fallback';
  pValue?: number;
  z?: number;
  reason: string;
  variants: Array<VariantCounts & { rate: number }>;
}

/** erf by Abramowitz–Stegun 7.1.26 refined: |error| < 1.5e-7. */
function erf(x: number): number {
  const sign = x < 0 ? -1 : 1;
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const y =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) *
      t *
      Math.exp(-x * x);
  return sign * y;
}

export const normalCdf = (z: number) => 0.5 * (1 + erf(z / Math.SQRT2));

/** Pooled two-proportion z statistic and its two-sided p-value. */
export function twoProportionZ(a: VariantCounts, b: VariantCounts): { z: number; pValue: number } {
  const pa = a.conversions / a.sent;
  const pb = b.conversions / b.sent;
  const pooled = (a.conversions + b.conversions) / (a.sent + b.sent);
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / a.sent + 1 / b.sent));
  if (se === 0) return { z: 0, pValue: 1 };
  const z = (pa - pb) / se;
  return { z, pValue: Math.min(1, 2 * (1 - normalCdf(Math.abs(z)))) };
}

export function decideWinner(input: {
  variants: VariantCounts[];
  confidence: number;
  minSamplePerVariant: number;
  fallbackVariantId: string;
  metric: 'clicks' | 'opens';
}): WinnerDecision {
  const variants = input.variants.map((v) => ({ ...v, rate: v.sent > 0 ? v.conversions / v.sent : 0 }));
  const fallback = (reason: string, extra: { z?: number; pValue?: number } = {}): WinnerDecision => ({
    winnerVariantId: input.fallbackVariantId,
    decidedBy: 'fallback',
    ...extra,
    reason,
    variants,
  });
  const small = variants.filter((v) => v.sent < input.minSamplePerVariant);
  if (small.length > 0)
    return fallback(
      `too small a sample: ${small.map((v) => `${v.variantId} ${v.sent}`).join(', ')} of ${input.minSamplePerVariant} per variant`,
    );
  const ranked = [...variants].sort((a, b) => b.rate - a.rate);
  const best = ranked[0]!;
  if (ranked.length < 2 || best.rate === ranked[1]!.rate) return fallback('no variant leads');
  const alpha = (1 - input.confidence) / (ranked.length - 1);
  let worst = { z: Infinity, pValue: 0 };
  for (const other of ranked.slice(1)) {
    const test = twoProportionZ(best, other);
    if (test.pValue > worst.pValue) worst = test;
  }
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  if (worst.pValue > alpha)
    return fallback(
      `${best.variantId} leads on ${input.metric} (${pct(best.rate)}) but not at ${pct(input.confidence)} confidence (p=${worst.pValue.toFixed(4)})`,
      worst,
    );
  return {
    winnerVariantId: best.variantId,
    decidedBy: 'significant',
    z: worst.z,
    pValue: worst.pValue,
    reason: `${best.variantId} wins on ${input.metric} (${pct(best.rate)}) at ${pct(input.confidence)} confidence (p=${worst.pValue.toFixed(4)})`,
    variants,
  };
}
