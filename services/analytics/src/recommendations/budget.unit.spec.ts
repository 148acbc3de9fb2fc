import {
  BudgetPolicyError,
  campaignEntity,
  campaignMetrics,
  DEFAULT_BUDGET_POLICY,
  recommendBudgetMoves,
  type CampaignWindow,
} from './budget';

const policy = {
  ...DEFAULT_BUDGET_POLICY,
  shiftPercent: 20,
  minAmount: 5,
  maxAmount: 500,
  cpaGapPercent: 25,
};
const c = (campaignId: string, spend: number, conversions: number, extra: Partial<CampaignWindow> = {}) => ({
  campaignId,
  spend,
  conversions,
  ...extra,
});

describe('budget recommendations', () => {
  it('moves 20% of the high-CPA budget to the low-CPA campaign', () => {
    const [r, ...rest] = recommendBudgetMoves(
      [c('cheap', 100, 10, { budget: 200 }), c('mid', 300, 10), c('dear', 400, 5, { budget: 1000 })],
      policy,
    );
    expect(rest).toEqual([]);
    expect(r).toMatchObject({ fromCampaignId: 'dear', toCampaignId: 'cheap', amount: 200 });
    expect(r!.metrics).toMatchObject({ fromCpa: 80, toCpa: 10, fromBudget: 1000 });
    expect(r!.reason).toContain('CPA 80.00 vs 10.00');
  });

  it('bounds the amount by maxAmount and refuses moves under minAmount', () => {
    expect(recommendBudgetMoves([c('a', 100, 10), c('b', 5000, 10)], policy)[0]!.amount).toBe(500);
    expect(recommendBudgetMoves([c('a', 100, 10), c('b', 20, 1)], { ...policy, minSpend: 0 })).toEqual([]);
  });

  it('recommends nothing when CPAs are within the threshold', () => {
    // 12 vs 10: a 20% gap, under the 25% threshold.
    expect(recommendBudgetMoves([c('a', 100, 10), c('b', 120, 10)], policy)).toEqual([]);
    expect(recommendBudgetMoves([c('a', 100, 10), c('b', 130, 10)], policy)).toHaveLength(1);
  });

  it('treats spend without conversions as the worst CPA, but never as a target', () => {
    const [r] = recommendBudgetMoves([c('zero', 200, 0), c('ok', 100, 5)], policy);
    expect(r).toMatchObject({ fromCampaignId: 'zero', toCampaignId: 'ok', amount: 40 });
    expect(r!.metrics.fromCpa).toBeNull();
    expect(recommendBudgetMoves([c('z1', 200, 0), c('z2', 100, 0)], policy)).toEqual([]);
  });

  it('needs the target to have enough conversions and campaigns enough spend', () => {
    // 'lucky' has one conversion: too few to trust, so 'steady' is the target.
    const [r] = recommendBudgetMoves([c('lucky', 20, 1), c('steady', 100, 5), c('dear', 500, 5)], policy);
    expect(r).toMatchObject({ fromCampaignId: 'dear', toCampaignId: 'steady' });
    expect(recommendBudgetMoves([c('a', 5, 1), c('b', 500, 5)], policy)).toEqual([]);
  });

  it('never moves budget between platforms: one recommendation per platform', () => {
    const rs = recommendBudgetMoves(
      [
        c('g-cheap', 100, 10, { platform: 'google_ads' }),
        c('g-dear', 500, 5, { platform: 'google_ads' }),
        c('m-cheap', 50, 10, { platform: 'meta' }),
        c('m-dear', 900, 3, { platform: 'meta' }),
        c('lonely', 800, 1, { platform: 'tiktok' }),
      ],
      policy,
    );
    expect(rs.map((r) => [r.platform, r.fromCampaignId, r.toCampaignId])).toEqual([
      ['google_ads', 'g-dear', 'g-cheap'],
      ['meta', 'm-dear', 'm-cheap'],
    ]);
  });

  it('refuses a policy out of bounds', () => {
    expect(() => recommendBudgetMoves([], { ...policy, shiftPercent: 0 })).toThrow(BudgetPolicyError);
    expect(() => recommendBudgetMoves([], { ...policy, minAmount: 10, maxAmount: 5 })).toThrow(
      BudgetPolicyError,
    );
  });

  it('reads campaigns and their platform from metric snapshots', () => {
    expect(campaignEntity('campaign')).toEqual({});
    expect(campaignEntity('google_ads.campaign')).toEqual({ platform: 'google_ads' });
    expect(campaignEntity('ad_set')).toBeNull();
    expect(campaignMetrics({ spend: 10, conversions: 2, daily_budget: 50 })).toEqual({
      spend: 10,
      conversions: 2,
      budget: 50,
    });
    expect(campaignMetrics({ spend: 10 })).toBeNull();
  });
});
