import { AllocationUpdated } from '@cmis/contracts';
import { banditAllocation, banditOfDetail, nextAllocationAt, type BanditConfig } from './bandit';
import type { VariantTotals } from './results';

const T0 = new Date('2026-12-06T10:00:00.000Z');
const config = (overrides: Partial<BanditConfig> = {}): BanditConfig => ({
  experimentId: 'wf-1:ab',
  workflowId: 'wf-1',
  stepId: 'ab',
  metric: 'conversion',
  explorationShare: 0.05,
  variants: ['a', 'b'],
  ...overrides,
});
const totals = (variantId: string, exposed: number, conversions: number): VariantTotals => ({
  variantId,
  exposed,
  conversions,
  revenueSum: 0,
  revenueSumOfSquares: 0,
});
const weightOf = (a: AllocationUpdated, id: string) => a.variants.find((v) => v.variantId === id)!.weight;

describe('bandit allocation', () => {
  it('gives the better variant most of the traffic, the other its exploration share, and fits the contract', () => {
    const a = banditAllocation(config(), [totals('a', 100, 5), totals('b', 100, 40)], 1, T0);
    expect(AllocationUpdated.parse(a)).toEqual(a);
    expect(weightOf(a, 'b')).toBeGreaterThan(0.9);
    expect(weightOf(a, 'a')).toBeGreaterThanOrEqual(0.05);
    expect(weightOf(a, 'a')).toBeLessThan(0.06);
    expect(a.variants.reduce((s, v) => s + v.weight, 0)).toBeCloseTo(1, 12);
    expect(a).toMatchObject({
      experimentId: 'wf-1:ab',
      kind: 'workflow_split',
      workflowId: 'wf-1',
      stepId: 'ab',
      metric: 'conversion',
      revision: 1,
      asOf: T0.toISOString(),
      variants: [
        { variantId: 'a', exposed: 100, conversions: 5 },
        { variantId: 'b', exposed: 100, conversions: 40 },
      ],
    });
  });

  it('keeps every variant at or above the floor, even one far behind among three', () => {
    for (const share of [0, 0.1, 1 / 3]) {
      const a = banditAllocation(
        config({ explorationShare: share, variants: ['a', 'b', 'c'] }),
        [totals('a', 1_000, 10), totals('b', 1_000, 300), totals('c', 1_000, 12)],
        2,
        T0,
      );
      for (const v of a.variants) expect(v.weight).toBeGreaterThanOrEqual(share - 1e-12);
      expect(a.variants.reduce((s, v) => s + v.weight, 0)).toBeCloseTo(1, 12);
      expect(AllocationUpdated.safeParse(a).success).toBe(true);
    }
    // At 1/k the floor is everything: uniform whatever the data.
    const uniform = banditAllocation(
      config({ explorationShare: 0.5 }),
      [totals('a', 100, 0), totals('b', 100, 90)],
      3,
      T0,
    );
    expect(uniform.variants.map((v) => v.weight)).toEqual([0.5, 0.5]);
  });

  it('counts a configured variant with no exposure as 0 of 0 and leaves out units of other outcomes', () => {
    const a = banditAllocation(
      config({ variants: ['a', 'b', 'c'] }),
      [totals('a', 50, 10), totals('holdout', 30, 3), totals('b', 50, 10)],
      1,
      T0,
    );
    expect(a.variants.map((v) => [v.variantId, v.exposed])).toEqual([
      ['a', 50],
      ['b', 50],
      ['c', 0],
    ]);
    // Unknown (uniform prior) against 20%: c keeps a real chance of being best.
    expect(weightOf(a, 'c')).toBeGreaterThan(0.3);
  });

  it('is the same for the same look (seeded by experiment, revision and counts)', () => {
    const look = () => banditAllocation(config(), [totals('a', 80, 9), totals('b', 80, 11)], 7, T0);
    expect(look()).toEqual(look());
  });

  it('with equal evidence splits near evenly', () => {
    const a = banditAllocation(config(), [totals('a', 500, 50), totals('b', 500, 50)], 1, T0);
    expect(Math.abs(weightOf(a, 'a') - 0.5)).toBeLessThan(0.03);
  });
});

describe('allocation contract', () => {
  const valid = banditAllocation(config(), [totals('a', 100, 5), totals('b', 100, 40)], 1, T0);

  it('refuses weights that do not sum to 1, a weight below the floor, a floor above 1/k', () => {
    const [a, b] = valid.variants;
    const issues = (value: unknown) =>
      AllocationUpdated.safeParse(value).error?.issues.map((i) => i.message) ?? [];
    expect(
      issues({
        ...valid,
        variants: [
          { ...a!, weight: 0.5 },
          { ...b!, weight: 0.6 },
        ],
      }),
    ).toEqual([expect.stringMatching(/^the weights sum to 1.1/)]);
    expect(
      issues({
        ...valid,
        variants: [
          { ...a!, weight: 0.01 },
          { ...b!, weight: 0.99 },
        ],
      }),
    ).toEqual(['variant a: weight 0.01 is below the exploration share']);
    expect(
      issues({
        ...valid,
        explorationShare: 0.6,
        variants: [
          { ...a!, weight: 0.5 },
          { ...b!, weight: 0.5 },
        ],
      }),
    ).toEqual(expect.arrayContaining(['explorationShare 0.6 is above 1/2']));
    expect(issues({ ...valid, stepId: undefined })).toEqual(['a workflow split names workflowId and stepId']);
  });
});

describe('bandit options of a split pass', () => {
  const detail = {
    branch: 'a',
    allocation: 'bandit',
    metric: 'conversion',
    explorationShare: 0.05,
    variants: ['a', 'b'],
    weights: { a: 0.5, b: 0.5 },
  };

  it('reads them from a bandit pass and ignores a fixed pass or options no bandit can keep', () => {
    expect(banditOfDetail(detail)).toEqual({
      allocation: 'bandit',
      metric: 'conversion',
      explorationShare: 0.05,
      variants: ['a', 'b'],
    });
    expect(banditOfDetail({ branch: 'a' })).toBeUndefined();
    expect(banditOfDetail(undefined)).toBeUndefined();
    expect(banditOfDetail({ ...detail, explorationShare: 0.6 })).toBeUndefined();
    expect(banditOfDetail({ ...detail, variants: ['a'] })).toBeUndefined();
    expect(banditOfDetail({ ...detail, variants: ['a', 'a'] })).toBeUndefined();
    expect(banditOfDetail({ ...detail, metric: 'revenue' })).toBeUndefined();
  });
});

describe('allocation throttle', () => {
  const throttle = { intervalMs: 60_000, minOutcomes: 20 };

  it('waits for enough new outcomes, then for the interval after the last allocation', () => {
    expect(nextAllocationAt({ pendingOutcomes: 19, timerPending: false }, T0, throttle)).toBeUndefined();
    expect(nextAllocationAt({ pendingOutcomes: 20, timerPending: false }, T0, throttle)).toEqual(T0);
    const last = new Date(T0.getTime() - 10_000);
    expect(
      nextAllocationAt({ pendingOutcomes: 500, timerPending: false, lastPublishedAt: last }, T0, throttle),
    ).toEqual(new Date(last.getTime() + 60_000));
    const longAgo = new Date(T0.getTime() - 3_600_000);
    expect(
      nextAllocationAt({ pendingOutcomes: 20, timerPending: false, lastPublishedAt: longAgo }, T0, throttle),
    ).toEqual(T0);
  });

  it('coalesces: nothing new to schedule while a timer is pending', () => {
    expect(nextAllocationAt({ pendingOutcomes: 1_000, timerPending: true }, T0, throttle)).toBeUndefined();
  });
});
