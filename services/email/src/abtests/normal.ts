// The standard normal distribution, accurate to about 1e-15 (relative, also in the far tail, where
// p-values live): erf by its power series near 0, erfc by its continued fraction beyond. The usual
// Abramowitz–Stegun 7.1.26 formula is only good to 1.5e-7 absolute, and 1 − Φ(z) computed from it
// loses every digit for large z.

const SERIES_LIMIT = 2.5;
const EPSILON = 1e-17;

/** erf(x) = 2/√π · e^(−x²) · Σ 2ⁿ x^(2n+1) / (1·3·…·(2n+1)): all terms positive, no cancellation. */
function erfSeries(x: number): number {
  const twoX2 = 2 * x * x;
  let term = x;
  let sum = x;
  for (let n = 1; term > EPSILON * sum; n++) {
    term *= twoX2 / (2 * n + 1);
    sum += term;
  }
  return (2 / Math.sqrt(Math.PI)) * Math.exp(-x * x) * sum;
}

/** erfc(x) = e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))), by Lentz's method; x ≥ 2.5. */
function erfcFraction(x: number): number {
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let n = 1; n < 500; n++) {
    const a = n / 2;
    d = x + a * d;
    d = Math.abs(d) < tiny ? 1 / tiny : 1 / d;
    c = x + a / c;
    if (Math.abs(c) < tiny) c = tiny;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
}

export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x < 0) return -erf(-x);
  return x < SERIES_LIMIT ? erfSeries(x) : 1 - erfcFraction(x);
}

export function erfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x < 0) return 2 - erfc(-x);
  if (x === Infinity) return 0;
  return x < SERIES_LIMIT ? 1 - erfSeries(x) : erfcFraction(x);
}

/** Φ(z), the probability that a standard normal variable is at most z. */
export const normalCdf = (z: number): number => 0.5 * erfc(-z / Math.SQRT2);

/** P(|Z| ≥ |z|) for a standard normal Z: the two-sided p-value of z. */
export const twoSidedP = (z: number): number => erfc(Math.abs(z) / Math.SQRT2);
