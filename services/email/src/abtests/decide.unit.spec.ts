import { AbTestCountsError, decideWinner, twoProportionZ } from './decide';

const decide = (
  variants: Array<[string, number, number]>,
  overrides: Partial<Parameters<typeof decideWinner>[0]> = {},
) =>
  decideWinner({
    variants: variants.map(([variantId, sent, conversions]) => ({ variantId, sent, conversions })),
    confidence: 0.95,
    minSamplePerVariant: 500,
    fallbackVariantId: 'A',
    metric: 'clicks',
    ...overrides,
  });

/** Two-sided p by Simpson's rule over the normal density: a different road to the same number. */
function simpsonP(z: number): number {
  const n = 2000;
  const h = Math.abs(z) / n;
  const density = (x: number) => Math.exp((-x * x) / 2) / Math.sqrt(2 * Math.PI);
  let sum = density(0) + density(Math.abs(z));
  for (let i = 1; i < n; i++) sum += (i % 2 ? 4 : 2) * density(i * h);
  return 1 - 2 * ((sum * h) / 3);
}

describe('twoProportionZ', () => {
  it('is the pooled z of 200/1000 against 150/1000 (z 2.9424, p 0.0032563)', () => {
    // pooled 0.175; se = √(0.175 · 0.825 · (1/1000 + 1/1000)) = 0.0169926; p from Python's math.erfc
    const { z, pValue } = twoProportionZ(
      { variantId: 'B', sent: 1000, conversions: 200 },
      { variantId: 'A', sent: 1000, conversions: 150 },
    );
    expect(z).toBeCloseTo(0.05 / Math.sqrt(0.175 * 0.825 * 0.002), 12);
    expect(z).toBeCloseTo(2.9424, 4);
    expect(pValue).toBeCloseTo(simpsonP(z), 10);
    expect(pValue).toBeCloseTo(0.0032562696, 9);
  });

  it('is symmetric, and 0 with p 1 when nothing can differ', () => {
    const a = { variantId: 'A', sent: 800, conversions: 90 };
    const b = { variantId: 'B', sent: 1200, conversions: 100 };
    expect(twoProportionZ(a, b).z).toBeCloseTo(-twoProportionZ(b, a).z, 12);
    expect(twoProportionZ(a, b).pValue).toBeCloseTo(simpsonP(twoProportionZ(a, b).z), 10);
    expect(twoProportionZ({ ...a, conversions: 0 }, { ...b, conversions: 0 })).toEqual({ z: 0, pValue: 1 });
  });
});

describe('decideWinner', () => {
  it('picks the significantly better variant, with its z and p', () => {
    const decision = decide([
      ['A', 1000, 150],
      ['B', 1000, 200],
    ]);
    expect(decision).toMatchObject({ winnerVariantId: 'B', decidedBy: 'significant' });
    expect(decision.z).toBeCloseTo(2.9424, 4);
    expect(decision.pValue).toBeCloseTo(0.0032562696, 9);
    expect(decision.reason).toBe('B wins on clicks (20%) at 95% confidence, p=0.00326');
    expect(decision.variants).toEqual([
      { variantId: 'A', sent: 1000, conversions: 150, rate: 0.15 },
      { variantId: 'B', sent: 1000, conversions: 200, rate: 0.2 },
    ]);
  });

  it('falls back when the lead is not significant at the confidence asked for', () => {
    const decision = decide(
      [
        ['A', 1000, 150],
        ['B', 1000, 200],
      ],
      { confidence: 0.999, metric: 'opens' },
    );
    expect(decision).toMatchObject({ winnerVariantId: 'A', decidedBy: 'fallback' });
    expect(decision.pValue).toBeCloseTo(0.0032562696, 9);
    expect(decision.reason).toBe('B leads on opens (20%) but not at 99.9% confidence, p=0.00326');
  });

  it('falls back below the minimum sample of any variant', () => {
    const decision = decide([
      ['A', 1000, 100],
      ['B', 499, 200],
    ]);
    expect(decision).toMatchObject({ winnerVariantId: 'A', decidedBy: 'fallback' });
    expect(decision.pValue).toBeUndefined();
    expect(decision.reason).toBe('too small a sample: B 499 of 500 per variant');
  });

  it('falls back on a tie at the top', () => {
    expect(
      decide(
        [
          ['A', 1000, 100],
          ['B', 2000, 200],
          ['C', 1000, 50],
        ],
        { fallbackVariantId: 'C' },
      ),
    ).toMatchObject({
      winnerVariantId: 'C',
      decidedBy: 'fallback',
      reason: 'no variant leads: A and B tie at 10%',
    });
  });

  it('with more than two variants, needs the best to beat each other one at α/(k−1)', () => {
    // B against A: z 2.026, p 0.0427 — below 0.05, above 0.025.
    const two = decide([
      ['A', 1000, 165],
      ['B', 1000, 200],
    ]);
    expect(two).toMatchObject({ winnerVariantId: 'B', decidedBy: 'significant' });
    expect(two.pValue).toBeCloseTo(0.04274, 4);
    const three = decide([
      ['A', 1000, 165],
      ['B', 1000, 200],
      ['C', 1000, 100],
    ]);
    expect(three).toMatchObject({ winnerVariantId: 'A', decidedBy: 'fallback', pValue: two.pValue });
    expect(three.reason).toContain('α 0.025 each of 2 comparisons');
  });

  it('reports the weakest comparison, which need not be the runner-up', () => {
    // B beats the runner-up A at p 0.0325, but C, far behind on only 60 sends, at p 0.0658 only.
    const decision = decide(
      [
        ['A', 10_000, 1_200],
        ['B', 10_000, 1_300],
        ['C', 60, 3],
      ],
      { minSamplePerVariant: 50, confidence: 0.9 },
    );
    expect(decision).toMatchObject({ winnerVariantId: 'A', decidedBy: 'fallback' });
    expect(decision.z).toBeCloseTo(1.83998685, 7);
    expect(decision.pValue).toBeCloseTo(0.0657701676, 9);
    expect(decision.reason).toMatch(/^B leads on clicks \(13%\) but not at 90% confidence/);
  });

  it('decides the same whatever the order of the variants', () => {
    const variants: Array<[string, number, number]> = [
      ['A', 3000, 300],
      ['B', 3000, 390],
      ['C', 3000, 310],
    ];
    const forward = decide(variants);
    const backward = decide([...variants].reverse());
    expect(forward).toMatchObject({ winnerVariantId: 'B', decidedBy: 'significant' });
    expect(backward.winnerVariantId).toBe('B');
    expect(backward.pValue).toBe(forward.pValue);
  });

  it('falls back with nothing sent or one variant, rather than compute on nothing', () => {
    expect(
      decide(
        [
          ['A', 0, 0],
          ['B', 0, 0],
        ],
        { minSamplePerVariant: 0 },
      ),
    ).toMatchObject({
      decidedBy: 'fallback',
      reason: 'too small a sample: A 0, B 0 of 1 per variant',
    });
    expect(decide([['B', 1000, 300]])).toMatchObject({ winnerVariantId: 'A', decidedBy: 'fallback' });
  });

  it.each<[string, Array<[string, number, number]>, number]>([
    [
      'more conversions than sends',
      [
        ['A', 10, 11],
        ['B', 10, 1],
      ],
      0.95,
    ],
    [
      'negative counts',
      [
        ['A', -1, 0],
        ['B', 10, 1],
      ],
      0.95,
    ],
    [
      'fractional counts',
      [
        ['A', 10.5, 1],
        ['B', 10, 1],
      ],
      0.95,
    ],
    [
      'a confidence of 1',
      [
        ['A', 10, 1],
        ['B', 10, 1],
      ],
      1,
    ],
    [
      'a confidence given in percent',
      [
        ['A', 10, 1],
        ['B', 10, 1],
      ],
      95,
    ],
  ])('refuses %s', (_, variants, confidence) => {
    expect(() => decide(variants, { confidence })).toThrow(AbTestCountsError);
  });
});
