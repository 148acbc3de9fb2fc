// Pure measure computations over what the projections counted: email rates, ad-metric
// summaries (before/after a rule's campaign action, trends), ROI, and the query limits the API
// enforces. Metric snapshots are read as period values (each reports the period ending at its
// observedAt): additive metrics are summed, ratios (cpa, ctr, cpc, roas) are derived from the
// sums, any other metric is averaged.

export interface EmailCounts {
  requested: number;
  sent: number;
  delivered: number;
  uniqueOpens: number;
  uniqueClicks: number;
  machineOpens: number;
  machineClicks: number;
  bounces: number;
  hardBounces: number;
  complaints: number;
  unsubscribes: number;
  suppressed: number;
  failed: number;
}

const ratio = (n: number, d: number): number | null => (d > 0 ? n / d : null);

/**
 * Rates of an email population. Opens, clicks, complaints and unsubscribes are over delivered
 * mail when the provider reports deliveries, else over sent (SMTP acceptance is all there is);
 * bounces are over sent. Machine opens and clicks are reported apart and count in no rate.
 */
export function emailMeasures(c: EmailCounts) {
  const base = c.delivered > 0 ? c.delivered : c.sent;
  return {
    ...c,
    rates: {
      base: c.delivered > 0 ? ('delivered' as const) : ('sent' as const),
      delivery: ratio(c.delivered, c.sent),
      open: ratio(c.uniqueOpens, base),
      click: ratio(c.uniqueClicks, base),
      clickToOpen: ratio(c.uniqueClicks, c.uniqueOpens),
      bounce: ratio(c.bounces, c.sent),
      complaint: ratio(c.complaints, base),
      unsubscribe: ratio(c.unsubscribes, base),
    },
  };
}

export const ADDITIVE_METRICS = new Set([
  'spend',
  'cost',
  'impressions',
  'clicks',
  'conversions',
  'revenue',
  'conversion_value',
]);
export const DERIVED_METRICS = {
  cpa: ['spend', 'conversions'],
  cpc: ['spend', 'clicks'],
  ctr: ['clicks', 'impressions'],
  roas: ['revenue', 'spend'],
} as const;

export interface MetricSummary {
  snapshots: number;
  metrics: Record<string, number | null>;
}

/** Sums of additive metrics, means of the others, then ratios derived from the sums. */
export function summarizeMetrics(snapshots: ReadonlyArray<Record<string, number>>): MetricSummary {
  const sums: Record<string, number> = {};
  const counts: Record<string, number> = {};
  for (const s of snapshots) {
    for (const [name, value] of Object.entries(s)) {
      sums[name] = (sums[name] ?? 0) + value;
      counts[name] = (counts[name] ?? 0) + 1;
    }
  }
  const metrics: Record<string, number | null> = {};
  for (const name of Object.keys(sums)) {
    metrics[name] = ADDITIVE_METRICS.has(name) ? sums[name]! : sums[name]! / counts[name]!;
  }
  for (const [name, [n, d]] of Object.entries(DERIVED_METRICS)) {
    if (n in sums && d in sums) metrics[name] = ratio(sums[n]!, sums[d]!);
  }
  return { snapshots: snapshots.length, metrics };
}

/** The entity's metrics before and after an action, and the change of each (after − before). */
export function beforeAfter(before: MetricSummary, after: MetricSummary) {
  const change: Record<string, number | null> = {};
  for (const name of new Set([...Object.keys(before.metrics), ...Object.keys(after.metrics)])) {
    const b = before.metrics[name];
    const a = after.metrics[name];
    change[name] = typeof a === 'number' && typeof b === 'number' ? a - b : null;
  }
  return { before, after, change };
}

/** ROI as the issue defines it: attributed revenue over cost (null without cost). */
export function roi(revenue: number, cost: number) {
  return { revenue, cost, roi: ratio(revenue, cost) };
}

// ---- Query limits ----------------------------------------------------------------------------

export const BUCKETS = ['hour', 'day', 'week'] as const;
export type Bucket = (typeof BUCKETS)[number];
const HOUR_MS = 3_600_000;
/** The longest range a trend may cover per bucket: at most ~750 buckets a series. */
export const MAX_TREND_RANGE_MS: Record<Bucket, number> = {
  hour: 31 * 24 * HOUR_MS,
  day: 731 * 24 * HOUR_MS,
  week: 3 * 366 * 24 * HOUR_MS,
};
export const MAX_RANGE_MS = 3 * 366 * 24 * HOUR_MS;
export const DEFAULT_RANGE_MS = 30 * 24 * HOUR_MS;

/** Trend metrics by source: ad metrics come from entity metrics and may be grouped by platform. */
export const TREND_METRICS = {
  spend: 'ads',
  cost: 'ads',
  impressions: 'ads',
  clicks: 'ads',
  conversions: 'ads',
  cpa: 'ads',
  cpc: 'ads',
  ctr: 'ads',
  roas: 'ads',
  revenue: 'actions',
  orders: 'actions',
  'email.sent': 'email',
  'email.delivered': 'email',
  'email.opens': 'email',
  'email.clicks': 'email',
  'email.bounces': 'email',
  'email.complaints': 'email',
  'email.unsubscribes': 'email',
  'rules.firings': 'rules',
} as const;
export type TrendMetric = keyof typeof TREND_METRICS;

export interface RangeFault {
  path: string;
  message: string;
}

/** Faults of a from/to range (and a trend's bucket), named by query field. */
export function rangeFaults(from: Date, to: Date, bucket?: Bucket): RangeFault[] {
  const span = to.getTime() - from.getTime();
  if (span <= 0) return [{ path: 'query.to', message: 'must be after from' }];
  const max = bucket ? MAX_TREND_RANGE_MS[bucket] : MAX_RANGE_MS;
  if (span > max)
    return [
      {
        path: 'query.from',
        message: `the range may span at most ${Math.round(max / (24 * HOUR_MS))} days${bucket ? ` in ${bucket} buckets` : ''}`,
      },
    ];
  return [];
}

/** A trend series point: the ratio metrics from their component sums, the others as summed. */
export function trendValue(metric: TrendMetric, sums: Record<string, number>): number | null {
  const parts = (DERIVED_METRICS as Record<string, readonly [string, string]>)[metric];
  if (parts) return ratio(sums[parts[0]] ?? 0, sums[parts[1]] ?? 0);
  return sums[metric] ?? 0;
}
