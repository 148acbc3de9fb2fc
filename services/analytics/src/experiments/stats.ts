// The statistics of an experiment, pure: intervals, fixed-horizon tests, an always-valid
// sequential test, and Thompson-sampling allocation. No I/O, no Math.random (the RNG comes in).

/** Standard normal CDF, via erfc (Numerical Recipes' Chebyshev fit, fractional error < 1.2e-7). */
export function normalCdf(x: number): number {
  return 0.5 * erfc(-x / Math.SQRT2);
}

function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t *
                      (-0.18628806 +
                        t *
                          (0.27886807 +
                            t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

/** Inverse standard normal CDF (Acklam's rational approximation, relative error < 1.2e-9). */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`normalQuantile needs 0 < p < 1, got ${p}`);
  const a = [
    -39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716,
    2.506628277459239,
  ];
  const b = [
    -54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572,
  ];
  const c = [
    -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const low = 0.02425;
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (
      (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) /
      ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1)
    );
  }
  if (p > 1 - low) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) /
    (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1)
  );
}

/** ln Γ(x), Lanczos (g = 7, n = 9), accurate to ~1e-15 for x > 0. */
export function logGamma(x: number): number {
  const g = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  const y = x - 1;
  let s = g[0]!;
  for (let i = 1; i < 9; i++) s += g[i]! / (y + i);
  const t = y + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (y + 0.5) * Math.log(t) - t + Math.log(s);
}

/** Regularized incomplete beta I_x(a, b), by Lentz's continued fraction. */
export function regularizedIncompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  // The fraction converges fast for x < (a+1)/(a+b+2); otherwise use the symmetry.
  if (x > (a + 1) / (a + b + 2)) return 1 - regularizedIncompleteBeta(1 - x, b, a);
  return (front * betaContinuedFraction(x, a, b)) / a;
}

function betaContinuedFraction(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-15) break;
  }
  return h;
}

/** Regularized lower incomplete gamma P(a, x): series below a+1, continued fraction above. */
export function regularizedLowerGamma(a: number, x: number): number {
  if (x <= 0) return 0;
  const lnFront = -x + a * Math.log(x) - logGamma(a);
  if (x < a + 1) {
    let term = 1 / a;
    let sum = term;
    for (let n = 1; n < 1000; n++) {
      term *= x / (a + n);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * 1e-15) break;
    }
    return sum * Math.exp(lnFront);
  }
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 1000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-15) break;
  }
  return 1 - Math.exp(lnFront) * h;
}

/** Two-sided p-value of Student's t with df degrees of freedom: I_{df/(df+t²)}(df/2, 1/2). */
export function studentTTwoSidedP(t: number, df: number): number {
  if (!Number.isFinite(t)) return 0;
  return clamp01(regularizedIncompleteBeta(df / (df + t * t), df / 2, 0.5));
}

/** Upper tail of chi-squared with df degrees of freedom. */
export function chiSquaredSurvival(x: number, df: number): number {
  return clamp01(1 - regularizedLowerGamma(df / 2, x / 2));
}

export interface Interval {
  low: number;
  high: number;
}

/** Wilson score interval for a binomial proportion at a two-sided confidence level. */
export function wilsonInterval(successes: number, trials: number, confidence = 0.95): Interval {
  if (trials <= 0) return { low: 0, high: 1 };
  const z = normalQuantile(1 - (1 - confidence) / 2);
  const p = successes / trials;
  const z2 = z * z;
  const denom = 1 + z2 / trials;
  const centre = (p + z2 / (2 * trials)) / denom;
  const half = (z * Math.sqrt((p * (1 - p)) / trials + z2 / (4 * trials * trials))) / denom;
  return { low: Math.max(0, centre - half), high: Math.min(1, centre + half) };
}

export interface Proportion {
  conversions: number;
  exposed: number;
}

export interface TestResult {
  statistic: number;
  pValue: number;
}

/** Two-proportion z-test with the pooled standard error; two-sided p. z > 0 when b beats a. */
export function twoProportionZTest(a: Proportion, b: Proportion): TestResult {
  if (a.exposed === 0 || b.exposed === 0) return { statistic: 0, pValue: 1 };
  const pa = a.conversions / a.exposed;
  const pb = b.conversions / b.exposed;
  const pooled = (a.conversions + b.conversions) / (a.exposed + b.exposed);
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / a.exposed + 1 / b.exposed));
  if (se === 0) return { statistic: 0, pValue: 1 };
  const z = (pb - pa) / se;
  return { statistic: z, pValue: clamp01(2 * (1 - normalCdf(Math.abs(z)))) };
}

/** Pearson's chi-squared test of independence on a k×2 (converted / not) table. */
export function chiSquaredTest(variants: Proportion[]): TestResult & { df: number } {
  const df = variants.length - 1;
  const n = variants.reduce((s, v) => s + v.exposed, 0);
  const x = variants.reduce((s, v) => s + v.conversions, 0);
  if (df < 1 || n === 0 || x === 0 || x === n) return { statistic: 0, df: Math.max(df, 1), pValue: 1 };
  let chi2 = 0;
  for (const v of variants) {
    if (v.exposed === 0) continue;
    const expectedYes = (v.exposed * x) / n;
    const expectedNo = (v.exposed * (n - x)) / n;
    chi2 += (v.conversions - expectedYes) ** 2 / expectedYes;
    chi2 += (v.exposed - v.conversions - expectedNo) ** 2 / expectedNo;
  }
  return { statistic: chi2, df, pValue: chiSquaredSurvival(chi2, df) };
}

export interface SampleSummary {
  n: number;
  mean: number;
  /** Unbiased sample variance (n − 1 in the denominator). */
  variance: number;
}

/** Sample summary from a count, a sum and a sum of squares (what a projection keeps). */
export function summarize(n: number, sum: number, sumOfSquares: number): SampleSummary {
  if (n === 0) return { n: 0, mean: 0, variance: 0 };
  const mean = sum / n;
  const variance = n > 1 ? Math.max(0, (sumOfSquares - n * mean * mean) / (n - 1)) : 0;
  return { n, mean, variance };
}

/** Welch's unequal-variance t-test, df by Welch–Satterthwaite; two-sided p. t > 0 when b > a. */
export function welchTTest(a: SampleSummary, b: SampleSummary): TestResult & { df: number } {
  if (a.n < 2 || b.n < 2) return { statistic: 0, df: 0, pValue: 1 };
  const va = a.variance / a.n;
  const vb = b.variance / b.n;
  const se2 = va + vb;
  if (se2 === 0) return { statistic: 0, df: a.n + b.n - 2, pValue: a.mean === b.mean ? 1 : 0 };
  const t = (b.mean - a.mean) / Math.sqrt(se2);
  const df = (se2 * se2) / ((va * va) / (a.n - 1) + (vb * vb) / (b.n - 1));
  return { statistic: t, df, pValue: studentTTwoSidedP(t, df) };
}

/**
 * mSPRT for the difference of two proportions (Johari, Koomen, Pekelis, Walsh 2017, "Peeking at
 * A/B tests"; normal-mixture form). With θ̂ = p̂b − p̂a, its variance under H0 estimated from the
 * pooled rate V = p̂(1−p̂)(1/na + 1/nb), and a N(0, τ²) mixing distribution over the effect θ,
 * the mixture likelihood ratio against θ = 0 is
 *   Λ = sqrt(V / (V + τ²)) · exp( θ̂² τ² / (2 V (V + τ²)) )
 * and the always-valid p-value is the running minimum of min(1, 1/Λ) over every look. A caller
 * that sees only the current totals passes the previous minimum in `previousP`. τ² (the mixing
 * variance) is the squared effect size one expects; it trades early power for late power.
 */
export function msprtTwoProportions(
  a: Proportion,
  b: Proportion,
  mixingVariance: number,
  previousP = 1,
): TestResult & { likelihoodRatio: number } {
  if (!(mixingVariance > 0)) throw new RangeError('mixingVariance must be positive');
  if (a.exposed === 0 || b.exposed === 0) return { statistic: 0, likelihoodRatio: 1, pValue: previousP };
  const theta = b.conversions / b.exposed - a.conversions / a.exposed;
  const pooled = (a.conversions + b.conversions) / (a.exposed + b.exposed);
  const v = pooled * (1 - pooled) * (1 / a.exposed + 1 / b.exposed);
  if (v === 0) return { statistic: theta, likelihoodRatio: 1, pValue: previousP };
  const logLambda =
    0.5 * Math.log(v / (v + mixingVariance)) +
    (theta * theta * mixingVariance) / (2 * v * (v + mixingVariance));
  const lambda = Math.exp(logLambda);
  return { statistic: theta, likelihoodRatio: lambda, pValue: clamp01(Math.min(previousP, 1 / lambda)) };
}

/** A seedable PRNG (mulberry32): uniform in [0, 1). */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function standardNormal(random: () => number): number {
  let u = 0;
  while (u === 0) u = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

/** Gamma(shape, 1) by Marsaglia–Tsang; shape < 1 by the boost Gamma(a+1)·U^(1/a). */
function sampleGamma(shape: number, random: () => number): number {
  if (shape < 1) return sampleGamma(shape + 1, random) * Math.pow(random() || Number.MIN_VALUE, 1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = standardNormal(random);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = random();
    if (u < 1 - 0.0331 * x ** 4) return d * v;
    if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

export function sampleBeta(alpha: number, beta: number, random: () => number): number {
  const x = sampleGamma(alpha, random);
  const y = sampleGamma(beta, random);
  return x / (x + y);
}

export interface ThompsonOptions {
  /** Every variant keeps at least this share of traffic (0 ≤ share ≤ 1/k). */
  minExplorationShare: number;
  draws?: number;
  random: () => number;
  /** Beta prior; Beta(1, 1) (uniform) by default. */
  prior?: { alpha: number; beta: number };
}

/**
 * Thompson-sampling allocation: each variant's share is the posterior probability that it is the
 * best (Beta(α + conversions, β + failures)), estimated by Monte Carlo, then mixed with a uniform
 * floor so every variant keeps `minExplorationShare`: share = floor + (1 − k·floor) · P(best).
 */
export function thompsonAllocation(variants: Proportion[], options: ThompsonOptions): number[] {
  const k = variants.length;
  if (k === 0) return [];
  const floor = options.minExplorationShare;
  if (!(floor >= 0 && floor * k <= 1)) throw new RangeError(`minExplorationShare must be within [0, 1/${k}]`);
  const draws = options.draws ?? 10_000;
  const prior = options.prior ?? { alpha: 1, beta: 1 };
  const wins = new Array<number>(k).fill(0);
  for (let i = 0; i < draws; i++) {
    let best = 0;
    let bestValue = -1;
    variants.forEach((v, j) => {
      const value = sampleBeta(
        prior.alpha + v.conversions,
        prior.beta + v.exposed - v.conversions,
        options.random,
      );
      if (value > bestValue) {
        bestValue = value;
        best = j;
      }
    });
    wins[best]! += 1;
  }
  return wins.map((w) => floor + (1 - k * floor) * (w / draws));
}

const clamp01 = (x: number) => Math.min(1, Math.max(0, x));
