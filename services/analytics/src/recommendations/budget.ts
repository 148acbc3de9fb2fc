// Budget recommendations, pure (the predecessor's campaign optimization): within each ad
// platform, move a bounded share of the highest-CPA campaign's budget to the lowest-CPA one when
// their CPAs differ by more than a threshold. Budget never moves between platforms.

export interface CampaignWindow {
  campaignId: string;
  /** The ad platform (google_ads, meta, …); absent = one unnamed platform. */
  platform?: string;
  spend: number;
  conversions: number;
  /** The campaign's current budget; the spend stands in when unknown. */
  budget?: number;
}

export interface BudgetPolicy {
  /** Share of the source's budget to move, as a percent (e.g. 20). */
  shiftPercent: number;
  /** Never recommend less than this amount (smaller moves are noise). */
  minAmount: number;
  /** Never recommend more than this amount. */
  maxAmount: number;
  /** The source's CPA must exceed the target's by more than this percent. */
  cpaGapPercent: number;
  /** A campaign counts only with at least this spend in the window. */
  minSpend: number;
  /** The target needs at least this many conversions for its CPA to be trusted. */
  minConversions: number;
}

export const DEFAULT_BUDGET_POLICY: BudgetPolicy = {
  shiftPercent: 20,
  minAmount: 1,
  maxAmount: Number.MAX_SAFE_INTEGER,
  cpaGapPercent: 25,
  minSpend: 10,
  minConversions: 3,
};

export interface BudgetRecommendation {
  platform?: string;
  fromCampaignId: string;
  toCampaignId: string;
  amount: number;
  reason: string;
  metrics: {
    fromCpa: number | null;
    toCpa: number;
    fromSpend: number;
    toSpend: number;
    fromConversions: number;
    toConversions: number;
    fromBudget: number;
    shiftPercent: number;
  };
}

export class BudgetPolicyError extends Error {
  override readonly name = 'BudgetPolicyError';
}

export function checkPolicy(p: BudgetPolicy): void {
  if (!(p.shiftPercent > 0 && p.shiftPercent <= 100))
    throw new BudgetPolicyError('shiftPercent must be in (0, 100]');
  if (!(p.minAmount >= 0 && p.maxAmount >= p.minAmount))
    throw new BudgetPolicyError('need 0 ≤ minAmount ≤ maxAmount');
  if (!(p.cpaGapPercent >= 0)) throw new BudgetPolicyError('cpaGapPercent must be ≥ 0');
}

/** CPA = spend / conversions; a campaign that spent without converting has an infinite CPA. */
export const cpaOf = (c: CampaignWindow): number => (c.conversions > 0 ? c.spend / c.conversions : Infinity);

/** At most one recommendation per platform: worst CPA → best CPA, bounded. */
export function recommendBudgetMoves(
  campaigns: CampaignWindow[],
  policy: BudgetPolicy = DEFAULT_BUDGET_POLICY,
): BudgetRecommendation[] {
  checkPolicy(policy);
  const byPlatform = new Map<string, CampaignWindow[]>();
  for (const c of campaigns) {
    if (!(c.spend >= policy.minSpend) || !Number.isFinite(c.spend) || c.conversions < 0) continue;
    const key = c.platform ?? '';
    byPlatform.set(key, [...(byPlatform.get(key) ?? []), c]);
  }
  const out: BudgetRecommendation[] = [];
  for (const [platform, group] of [...byPlatform].sort(([a], [b]) => a.localeCompare(b))) {
    if (group.length < 2) continue;
    const ranked = [...group].sort(
      (a, b) => (cpaOf(a) === cpaOf(b) ? 0 : cpaOf(a) - cpaOf(b)) || a.campaignId.localeCompare(b.campaignId),
    );
    const target = ranked.find((c) => c.conversions >= policy.minConversions);
    const source = ranked[ranked.length - 1]!;
    if (!target || target === source) continue;
    const toCpa = cpaOf(target);
    const fromCpa = cpaOf(source);
    if (!(fromCpa > toCpa * (1 + policy.cpaGapPercent / 100))) continue;
    const fromBudget = source.budget ?? source.spend;
    const amount = round2(Math.min(policy.maxAmount, (fromBudget * policy.shiftPercent) / 100));
    if (amount < policy.minAmount || amount <= 0) continue;
    const fromText = Number.isFinite(fromCpa) ? fromCpa.toFixed(2) : 'no conversions';
    out.push({
      ...(platform ? { platform } : {}),
      fromCampaignId: source.campaignId,
      toCampaignId: target.campaignId,
      amount,
      reason: `CPA ${fromText} vs ${toCpa.toFixed(2)}: move ${policy.shiftPercent}% of ${source.campaignId}'s budget (bounded to ${policy.minAmount}–${policy.maxAmount})`,
      metrics: {
        fromCpa: Number.isFinite(fromCpa) ? round2(fromCpa) : null,
        toCpa: round2(toCpa),
        fromSpend: source.spend,
        toSpend: target.spend,
        fromConversions: source.conversions,
        toConversions: target.conversions,
        fromBudget,
        shiftPercent: policy.shiftPercent,
      },
    });
  }
  return out;
}

const round2 = (x: number) => Math.round(x * 100) / 100;

/**
 * A campaign entity from a metrics snapshot: the entity type is `campaign`, or
 * `<platform>.campaign` (e.g. google_ads.campaign), which names the platform.
 */
export function campaignEntity(entityType: string): { platform?: string } | null {
  if (entityType === 'campaign') return {};
  const m = /^([A-Za-z0-9_-]+)\.campaign$/.exec(entityType);
  return m ? { platform: m[1]! } : null;
}

/** Spend, conversions and budget from a snapshot's metrics (budget or daily_budget). */
export function campaignMetrics(
  metrics: Record<string, number>,
): { spend: number; conversions: number; budget?: number } | null {
  const spend = metrics.spend;
  const conversions = metrics.conversions;
  if (typeof spend !== 'number' || typeof conversions !== 'number') return null;
  const budget = metrics.budget ?? metrics.daily_budget;
  return { spend, conversions, ...(typeof budget === 'number' ? { budget } : {}) };
}
