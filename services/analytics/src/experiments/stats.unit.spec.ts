// Reference values computed with scipy 1.17 (stats.norm, stats.t, stats.chi2, special.betainc,
// special.gammainc, stats.ttest_ind(equal_var=False), stats.chi2_contingency(correction=False)).
import {
  chiSquaredSurvival,
  chiSquaredTest,
  logGamma,
  msprtTwoProportions,
  normalCdf,
  normalQuantile,
  regularizedIncompleteBeta,
  regularizedLowerGamma,
  sampleBeta,
  seededRandom,
  studentTTwoSidedP,
  summarize,
  thompsonAllocation,
  twoProportionZTest,
  welchTTest,
  wilsonInterval,
} from './stats';

describe('distribution functions', () => {
  it('normal CDF and quantile match known values', () => {
    expect(normalCdf(1.96)).toBeCloseTo(0.9750021, 6);
    expect(normalCdf(0)).toBeCloseTo(0.5, 7);
    expect(normalQuantile(0.975)).toBeCloseTo(1.959964, 6);
    expect(normalQuantile(0.001)).toBeCloseTo(-3.090232, 6);
    expect(normalQuantile(0.3)).toBeCloseTo(-0.5244005, 6);
    expect(() => normalQuantile(1)).toThrow(RangeError);
  });

  it('log-gamma, incomplete beta and incomplete gamma match scipy', () => {
    expect(logGamma(0.5)).toBeCloseTo(0.5723649429, 9);
    expect(logGamma(10.3)).toBeCloseTo(13.4820367861, 9);
    expect(regularizedIncompleteBeta(0.4, 2.5, 3.5)).toBeCloseTo(0.4869041915, 9);
    expect(regularizedIncompleteBeta(0.9, 0.5, 0.5)).toBeCloseTo(0.7951672353, 9);
    expect(regularizedLowerGamma(3, 2.5)).toBeCloseTo(0.4561868841, 9);
    expect(regularizedLowerGamma(10, 15)).toBeCloseTo(0.9301463393, 9);
  });

  it('Student t two-sided p and chi-squared tails match tables', () => {
    expect(studentTTwoSidedP(2.228, 10)).toBeCloseTo(0.0500118, 6);
    expect(studentTTwoSidedP(1.5, 3.7)).toBeCloseTo(0.2135982, 6);
    expect(studentTTwoSidedP(0, 5)).toBeCloseTo(1, 9);
    expect(chiSquaredSurvival(3.841, 1)).toBeCloseTo(0.0500137, 6);
    expect(chiSquaredSurvival(10, 4)).toBeCloseTo(0.0404277, 6);
    expect(chiSquaredSurvival(50, 30)).toBeCloseTo(0.0124021, 6);
  });
});

describe('Wilson score interval', () => {
  it('81 of 263 at 95% is [0.2553, 0.3662]', () => {
    const { low, high } = wilsonInterval(81, 263, 0.95);
    expect(low).toBeCloseTo(0.2552885, 6);
    expect(high).toBeCloseTo(0.3662096, 6);
  });

  it('5 of 20 at 99% is [0.0874, 0.5372]', () => {
    const { low, high } = wilsonInterval(5, 20, 0.99);
    expect(low).toBeCloseTo(0.0873639, 6);
    expect(high).toBeCloseTo(0.5371888, 6);
  });

  it('stays within [0, 1] at the edges and is the whole range with no trials', () => {
    expect(wilsonInterval(0, 10).low).toBe(0);
    expect(wilsonInterval(10, 10).high).toBe(1);
    expect(wilsonInterval(0, 0)).toEqual({ low: 0, high: 1 });
  });
});

describe('two-proportion z and chi-squared', () => {
  const a = { conversions: 100, exposed: 1000 };
  const b = { conversions: 130, exposed: 1000 };

  it('z for 10% vs 13% of 1000 each is 2.1027, p 0.03549', () => {
    const r = twoProportionZTest(a, b);
    expect(r.statistic).toBeCloseTo(2.1027406, 6);
    expect(r.pValue).toBeCloseTo(0.0354885, 6);
    expect(twoProportionZTest(b, a).statistic).toBeCloseTo(-2.1027406, 6);
  });

  it('chi-squared on two variants is z² with the same p', () => {
    const r = chiSquaredTest([a, b]);
    expect(r.statistic).toBeCloseTo(4.4215181, 6);
    expect(r.df).toBe(1);
    expect(r.pValue).toBeCloseTo(0.0354885, 6);
  });

  it('chi-squared on three variants matches scipy', () => {
    const r = chiSquaredTest([
      { conversions: 20, exposed: 200 },
      { conversions: 30, exposed: 200 },
      { conversions: 45, exposed: 200 },
    ]);
    expect(r.statistic).toBeCloseTo(11.8811881, 6);
    expect(r.df).toBe(2);
    expect(r.pValue).toBeCloseTo(0.0026305, 6);
  });

  it('degenerate tables give p = 1, not NaN', () => {
    expect(twoProportionZTest({ conversions: 0, exposed: 10 }, { conversions: 0, exposed: 10 }).pValue).toBe(
      1,
    );
    expect(twoProportionZTest({ conversions: 0, exposed: 0 }, b).pValue).toBe(1);
    expect(
      chiSquaredTest([
        { conversions: 0, exposed: 5 },
        { conversions: 0, exposed: 5 },
      ]).pValue,
    ).toBe(1);
  });
});

describe("Welch's t", () => {
  const sample = (xs: number[]) =>
    summarize(
      xs.length,
      xs.reduce((s, x) => s + x, 0),
      xs.reduce((s, x) => s + x * x, 0),
    );
  const a = sample([
    27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4,
  ]);
  const b = sample([
    27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4,
  ]);

  it('summarize keeps mean and unbiased variance from sums', () => {
    expect(a.mean).toBeCloseTo(20.82, 9);
    expect(a.variance).toBeCloseTo(7.8674286, 6);
  });

  it('t 2.4554, Welch–Satterthwaite df 24.99, p 0.02138 (scipy ttest_ind equal_var=False)', () => {
    const r = welchTTest(a, b);
    expect(r.statistic).toBeCloseTo(2.4553564, 6);
    expect(r.df).toBeCloseTo(24.9885293, 5);
    expect(r.pValue).toBeCloseTo(0.021378, 5);
  });

  it('too few samples give p = 1', () => {
    expect(welchTTest({ n: 1, mean: 5, variance: 0 }, b).pValue).toBe(1);
  });
});

describe('mSPRT always-valid p-value', () => {
  const a = { conversions: 100, exposed: 1000 };
  const b = { conversions: 130, exposed: 1000 };

  it('matches the normal-mixture likelihood ratio for two mixing variances', () => {
    const small = msprtTwoProportions(a, b, 0.0001);
    expect(small.likelihoodRatio).toBeCloseTo(1.6963589, 6);
    expect(small.pValue).toBeCloseTo(0.5894979, 6);
    const wide = msprtTwoProportions(a, b, 0.01);
    expect(wide.pValue).toBeCloseTo(0.8110974, 6);
  });

  it('is more conservative than the fixed-horizon z at the same data', () => {
    expect(msprtTwoProportions(a, b, 0.0001).pValue).toBeGreaterThan(twoProportionZTest(a, b).pValue);
  });

  it('keeps the running minimum across looks', () => {
    expect(msprtTwoProportions(a, b, 0.0001, 0.2).pValue).toBe(0.2);
    expect(() => msprtTwoProportions(a, b, 0)).toThrow(RangeError);
  });

  it('under no difference, peeking every 50 contacts keeps false winners below alpha (naive z does not)', () => {
    const random = seededRandom(7);
    const runs = 300;
    let msprtFalse = 0;
    let naiveFalse = 0;
    for (let r = 0; r < runs; r++) {
      const x = { conversions: 0, exposed: 0 };
      const y = { conversions: 0, exposed: 0 };
      let p = 1;
      let naive = false;
      for (let n = 1; n <= 2000; n++) {
        x.exposed++;
        y.exposed++;
        if (random() < 0.1) x.conversions++;
        if (random() < 0.1) y.conversions++;
        if (n % 50 === 0) {
          p = msprtTwoProportions(x, y, 0.001, p).pValue;
          if (twoProportionZTest(x, y).pValue < 0.05) naive = true;
        }
      }
      if (p < 0.05) msprtFalse++;
      if (naive) naiveFalse++;
    }
    expect(msprtFalse / runs).toBeLessThanOrEqual(0.05);
    expect(naiveFalse / runs).toBeGreaterThan(0.1);
  });

  it('finds a real difference eventually', () => {
    const r = msprtTwoProportions(
      { conversions: 500, exposed: 5000 },
      { conversions: 700, exposed: 5000 },
      0.001,
    );
    expect(r.pValue).toBeLessThan(0.001);
  });
});

describe('Thompson sampling allocation', () => {
  it('is reproducible from a seed and sums to 1', () => {
    const variants = [
      { conversions: 10, exposed: 100 },
      { conversions: 14, exposed: 100 },
    ];
    const one = thompsonAllocation(variants, { minExplorationShare: 0.1, random: seededRandom(42) });
    const two = thompsonAllocation(variants, { minExplorationShare: 0.1, random: seededRandom(42) });
    expect(one).toEqual(two);
    expect(one[0]! + one[1]!).toBeCloseTo(1, 9);
    expect(one[1]!).toBeGreaterThan(one[0]!);
  });

  it('gives a clear winner nearly everything but keeps the exploration floor', () => {
    const shares = thompsonAllocation(
      [
        { conversions: 10, exposed: 1000 },
        { conversions: 200, exposed: 1000 },
        { conversions: 12, exposed: 1000 },
      ],
      { minExplorationShare: 0.05, random: seededRandom(1) },
    );
    expect(shares[0]).toBeCloseTo(0.05, 9);
    expect(shares[2]).toBeCloseTo(0.05, 9);
    expect(shares[1]).toBeCloseTo(0.9, 9);
  });

  it('splits evenly with no data, and refuses a floor that cannot fit', () => {
    const shares = thompsonAllocation(
      [
        { conversions: 0, exposed: 0 },
        { conversions: 0, exposed: 0 },
      ],
      { minExplorationShare: 0, random: seededRandom(3), draws: 20_000 },
    );
    expect(shares[0]).toBeCloseTo(0.5, 1);
    expect(() =>
      thompsonAllocation(
        [
          { conversions: 0, exposed: 0 },
          { conversions: 0, exposed: 0 },
        ],
        {
          minExplorationShare: 0.6,
          random: seededRandom(3),
        },
      ),
    ).toThrow(RangeError);
  });

  it('Beta samples have the right mean', () => {
    const random = seededRandom(9);
    let sum = 0;
    for (let i = 0; i < 20_000; i++) sum += sampleBeta(2, 6, random);
    expect(sum / 20_000).toBeCloseTo(0.25, 2);
    let small = 0;
    for (let i = 0; i < 20_000; i++) small += sampleBeta(0.5, 0.5, random);
    expect(small / 20_000).toBeCloseTo(0.5, 1);
  });
});
