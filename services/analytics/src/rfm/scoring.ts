// RFM scoring, pure: each contact's recency, frequency and monetary value over the org's window,
// scored 1–5 by where it falls among the org's buyers (midrank percentiles, so ties share a
// score), and the named segment its scores put it in. The rules are written down in the README
// ("RFM segments"); a change here is a change there.
import { RFM_SEGMENTS } from '@cmis/contracts';

export type RfmSegment = (typeof RFM_SEGMENTS)[number];
export const DAY_MS = 86_400_000;
export const DEFAULT_WINDOW_DAYS = 365;

/** A contact's raw values within the window (a buyer has at least one order in it). */
export interface RfmValues {
  contactId: string;
  /** Whole days since the last order in the window. */
  recencyDays: number;
  orders: number;
  revenue: number;
}

export interface RfmScore {
  recency: number;
  frequency: number;
  monetary: number;
  segment: RfmSegment;
}

export interface Order {
  at: Date;
  amount: number;
}

/** One contact's values from its orders, or undefined when none is within the window. */
export function valuesOf(contactId: string, orders: Order[], now: Date, windowDays: number) {
  const from = now.getTime() - windowDays * DAY_MS;
  const inWindow = orders.filter((o) => o.at.getTime() > from && o.at.getTime() <= now.getTime());
  if (inWindow.length === 0) return undefined;
  const last = Math.max(...inWindow.map((o) => o.at.getTime()));
  return {
    contactId,
    recencyDays: Math.floor((now.getTime() - last) / DAY_MS),
    orders: inWindow.length,
    revenue: inWindow.reduce((sum, o) => sum + o.amount, 0),
  } satisfies RfmValues;
}

/**
 * The quintile score of `value` among `population` (which includes it): the midrank percentile
 * p in [0, 1] (worse values, plus half the ties other than itself, over n − 1), then
 * 1 + floor(5p) capped at 5. Ties share one score; a lone buyer (n = 1) scores 3.
 */
export function quintile(value: number, population: readonly number[], higherIsBetter: boolean): number {
  const n = population.length;
  if (n <= 1) return 3;
  let worse = 0;
  let equal = 0;
  for (const v of population) {
    if (v === value) equal += 1;
    else if (higherIsBetter ? v < value : v > value) worse += 1;
  }
  const p = (worse + Math.max(equal - 1, 0) / 2) / (n - 1);
  return Math.min(5, 1 + Math.floor(p * 5));
}

/** The named segment of a score: the first rule that holds, in this order (README). */
export function segmentOf(recency: number, frequency: number, monetary: number): RfmSegment {
  const r = recency;
  const f = frequency;
  const fm = Math.round((frequency + monetary) / 2);
  if (r >= 4 && fm >= 4) return 'champions';
  if (r >= 3 && fm >= 3) return 'loyal';
  if (r === 1 && fm >= 4) return 'cant_lose_them';
  if (r <= 2 && fm >= 3) return 'at_risk';
  if (r === 5 && f === 1) return 'new_customers';
  if (r >= 4 && fm >= 2) return 'potential_loyalist';
  if (r >= 4) return 'promising';
  if (r === 3 && fm >= 2) return 'need_attention';
  if (r === 3 || (r === 2 && fm === 2)) return 'about_to_sleep';
  if (r === 2 || fm === 2) return 'hibernating';
  return 'lost';
}

type Columns = { r: number[]; f: number[]; m: number[] };
const columnsOf = (population: readonly RfmValues[]): Columns => ({
  r: population.map((p) => p.recencyDays),
  f: population.map((p) => p.orders),
  m: population.map((p) => p.revenue),
});

function scoreIn(values: RfmValues, c: Columns): RfmScore {
  const recency = quintile(values.recencyDays, c.r, false);
  const frequency = quintile(values.orders, c.f, true);
  const monetary = quintile(values.revenue, c.m, true);
  return { recency, frequency, monetary, segment: segmentOf(recency, frequency, monetary) };
}

/** Scores of one buyer against the org's buyers (the population includes it). */
export function scoreOne(values: RfmValues, population: readonly RfmValues[]): RfmScore {
  return scoreIn(values, columnsOf(population));
}

/** Every buyer scored (daily aging and a window change). */
export function scoreAll(population: readonly RfmValues[]): Map<string, RfmScore> {
  const columns = columnsOf(population);
  return new Map(population.map((p) => [p.contactId, scoreIn(p, columns)]));
}

/** A contact whose orders all left the window: scored 1-1-1, Lost. */
export const LAPSED: RfmScore = { recency: 1, frequency: 1, monetary: 1, segment: 'lost' };

/** The order events of a track call and the amount they carry (README: "RFM segments"). */
export function orderOf(event: string, properties: Record<string, unknown>): { amount: number } | undefined {
  if (
    event
      .trim()
      .toLowerCase()
      .replace(/[\s-]+/g, '_') !== 'order_completed'
  )
    return undefined;
  const raw = properties.revenue ?? properties.total;
  const amount = typeof raw === 'number' ? raw : typeof raw === 'string' ? Number(raw) : 0;
  return { amount: Number.isFinite(amount) && amount > 0 ? amount : 0 };
}
