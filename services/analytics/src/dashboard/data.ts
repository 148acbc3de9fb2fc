// What the dashboard's charts show, read for one org. The numbers are the other slices': the
// projections' queries and measures (funnel, rule firings, ROI by attribution), the experiments'
// results over their exposure units, RFM's scores, and the segment events in the service's event
// store (their shape is a contract). A panel whose source table does not exist yet says so
// ('no data yet') instead of failing the page. Every query runs in withOrg: row-level security
// keeps it to the org.
import { withOrg, type Database } from '@cmis/platform';
import type { Knex } from 'knex';
import { DEFAULT_RESULT_OPTIONS, experimentResults } from '../experiments/results';
import { revenueByOrigin } from '../projections/attribution';
import { DEFAULT_RANGE_MS, roi, type EmailCounts } from '../projections/measures';
import { credits, emailCounts, ruleCounts, type Range } from '../projections/queries';
import { attributionOf, readSettings } from '../projections/settings';

export type Panel<Row> =
  { status: 'ok'; rows: Row[] } | { status: 'no-data'; reason: string } | { status: 'error'; reason: string };

export interface FunnelStage {
  stage: string;
  messages: number;
}
export interface RuleFirings {
  ruleId: string;
  firings: number;
  actionsSucceeded: number;
  actionsFailed: number;
  /** Conversions credited to the rule's email, and their revenue. */
  conversions: number;
  revenue: number;
  /** conversions / firings, 0 without firings. */
  conversionRate: number;
}
export interface ExperimentResult {
  experimentId: string;
  /** Decided: the decision's winner (null: no winner); running: the current leader at 95%. */
  winnerVariantId: string | null;
  decided: boolean;
  pValue: number;
  variants: Array<{
    variantId: string;
    exposed: number;
    conversions: number;
    rate: number;
    low: number;
    high: number;
  }>;
}
export interface RfmCell {
  recency: number;
  frequency: number;
  contacts: number;
}
export interface SegmentSizes {
  segmentId: string;
  points: Array<{ day: string; size: number }>;
}
export interface CampaignRoi {
  /** The email origin, `<kind>:<id>` (workflow, drip, rule, broadcast). */
  campaign: string;
  messages: number;
  conversions: number;
  revenue: number;
  /** Sent messages times the org's message cost. */
  cost: number;
  /** revenue / cost (the measures' definition); null without cost. */
  roi: number | null;
}

export interface DashboardData {
  orgId: string;
  generatedAt: string;
  /** The measures' window (the last 30 days); segment sizes show its days. */
  range: { from: string; to: string };
  emailFunnel: Panel<FunnelStage>;
  ruleFirings: Panel<RuleFirings>;
  experiments: Panel<ExperimentResult>;
  rfmGrid: Panel<RfmCell>;
  segmentSizes: Panel<SegmentSizes>;
  roi: Panel<CampaignRoi>;
}

/** The funnel's stages in order (opens and clicks: humans only, unique per message). */
export const FUNNEL_STAGES = [
  ['requested', 'requested'],
  ['sent', 'sent'],
  ['delivered', 'delivered'],
  ['opened', 'uniqueOpens'],
  ['clicked', 'uniqueClicks'],
] as const satisfies ReadonlyArray<readonly [string, keyof EmailCounts]>;

const SEGMENT_DAYS = 30;

async function tableExists(trx: Knex.Transaction, table: string): Promise<boolean> {
  const { rows } = await trx.raw<{ rows: Array<{ present: boolean }> }>(
    'select to_regclass(?) is not null as present',
    [table],
  );
  return rows[0]?.present === true;
}

const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));

/** Reads a panel when its slice's tables exist. */
async function fromTables<Row>(
  trx: Knex.Transaction,
  tables: string[],
  read: () => Promise<Row[]>,
): Promise<Panel<Row>> {
  for (const table of tables) {
    if (!(await tableExists(trx, table))) return { status: 'no-data', reason: `${table} does not exist yet` };
  }
  return { status: 'ok', rows: await read() };
}

export async function emailFunnel(trx: Knex.Transaction, range: Range): Promise<Panel<FunnelStage>> {
  return fromTables(trx, ['m_email_events'], async () => {
    const counts = await emailCounts(trx, range);
    return FUNNEL_STAGES.map(([stage, field]) => ({ stage, messages: counts[field] }));
  });
}

/** What the email of each origin kind earned: revenue credited to it by the org's attribution. */
async function attributedRevenue(trx: Knex.Transaction, range: Range, kind?: string) {
  const settings = await readSettings(trx);
  const { credits: given } = await credits(trx, range, attributionOf(settings), kind ? { kind } : undefined);
  return { settings, byOrigin: revenueByOrigin(given) };
}

export async function ruleFirings(trx: Knex.Transaction, range: Range): Promise<Panel<RuleFirings>> {
  return fromTables(trx, ['m_rule_events', 'm_email_events', 'm_actions', 'm_settings'], async () => {
    const counts = await ruleCounts(trx, range);
    const { byOrigin } = await attributedRevenue(trx, range, 'rule');
    return counts.map((c) => {
      const earned = byOrigin.get(`rule:${c.ruleId}`);
      return {
        ruleId: c.ruleId,
        firings: c.firings,
        actionsSucceeded: c.actionsSucceeded,
        actionsFailed: c.actionsFailed,
        conversions: earned?.conversions ?? 0,
        revenue: earned?.revenue ?? 0,
        conversionRate: c.firings > 0 ? (earned?.conversions ?? 0) / c.firings : 0,
      };
    });
  });
}

/** Per email origin (a workflow, drip, rule, broadcast): attributed revenue over the cost of its sends. */
export async function campaignRoi(trx: Knex.Transaction, range: Range): Promise<Panel<CampaignRoi>> {
  return fromTables(trx, ['m_email_events', 'm_actions', 'm_settings'], async () => {
    const { settings, byOrigin } = await attributedRevenue(trx, range);
    const sent = (await trx('m_email_events')
      .where({ type: 'sent' })
      .andWhere('at', '>=', range.from)
      .andWhere('at', '<', range.to)
      .groupBy('origin_kind', 'origin_id')
      .select('origin_kind', 'origin_id', trx.raw('count(distinct message_id)::int as n'))) as Array<{
      origin_kind: string;
      origin_id: string;
      n: number;
    }>;
    const origins = new Map(sent.map((s) => [`${s.origin_kind}:${s.origin_id}`, s.n]));
    for (const key of byOrigin.keys()) if (!origins.has(key)) origins.set(key, 0);
    return [...origins]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([campaign, messages]) => {
        const earned = byOrigin.get(campaign);
        const r = roi(earned?.revenue ?? 0, messages * settings.messageCost);
        return {
          campaign,
          messages,
          conversions: earned?.conversions ?? 0,
          revenue: r.revenue,
          cost: r.cost,
          roi: r.roi,
        };
      });
  });
}

/** Each experiment's variants with Wilson intervals, from the experiments slice's exposure units. */
export async function experiments(trx: Knex.Transaction): Promise<Panel<ExperimentResult>> {
  return fromTables(trx, ['exp_units', 'exp_experiments'], async () => {
    const totals = (await trx('exp_units')
      .whereNotNull('experiment_id')
      .whereNotNull('variant_id')
      .andWhere('exposed', true)
      .groupBy('experiment_id', 'variant_id')
      .orderBy(['experiment_id', 'variant_id'])
      .select(
        'experiment_id',
        'variant_id',
        trx.raw('count(*)::int as exposed'),
        trx.raw('(count(*) filter (where converted))::int as conversions'),
      )) as Array<{ experiment_id: string; variant_id: string; exposed: number; conversions: number }>;
    const decisions = new Map(
      (
        (await trx('exp_experiments').whereNotNull('decision').select('experiment_id', 'decision')) as Array<{
          experiment_id: string;
          decision: { winnerVariantId?: string; pValue?: number };
        }>
      ).map((d) => [d.experiment_id, d.decision]),
    );
    const byExperiment = new Map<string, typeof totals>();
    for (const t of totals)
      byExperiment.set(t.experiment_id, [...(byExperiment.get(t.experiment_id) ?? []), t]);
    return [...byExperiment].map(([experimentId, rows]) => {
      const results = experimentResults(
        experimentId,
        rows.map((r) => ({
          variantId: r.variant_id,
          exposed: r.exposed,
          conversions: r.conversions,
          revenueSum: 0,
          revenueSumOfSquares: 0,
        })),
        DEFAULT_RESULT_OPTIONS,
      );
      const decision = decisions.get(experimentId);
      return {
        experimentId,
        decided: decision !== undefined,
        winnerVariantId: decision ? (decision.winnerVariantId ?? null) : results.winners.conversions,
        pValue: decision?.pValue ?? results.tests.conversions.pValue,
        variants: results.variants.map((v) => ({
          variantId: v.variantId,
          exposed: v.exposed,
          conversions: v.conversions,
          rate: v.rate,
          low: v.low,
          high: v.high,
        })),
      };
    });
  });
}

/** Buyers in the RFM window by recency and frequency score, from the RFM slice's scores. */
export async function rfmGrid(trx: Knex.Transaction): Promise<Panel<RfmCell>> {
  return fromTables(trx, ['rfm_scores'], async () => {
    const rows = (await trx('rfm_scores')
      .where('in_window', true)
      .groupBy('recency', 'frequency')
      .orderBy(['recency', 'frequency'])
      .select('recency', 'frequency', trx.raw('count(*)::int as contacts'))) as RfmCell[];
    return rows.map((r) => ({ recency: r.recency, frequency: r.frequency, contacts: num(r.contacts) }));
  });
}

/** Members at the end of each of the last days: entries minus exits up to that day. */
export async function segmentSizes(trx: Knex.Transaction, now: Date): Promise<Panel<SegmentSizes>> {
  const { rows } = await trx.raw<{ rows: Array<{ segment_id: string; day: string; size: string }> }>(
    `with changes as (
       select data->>'segmentId' as segment_id, (occurred_at at time zone 'UTC')::date as day,
              sum(case type when 'cmis.analytics.segment-entered' then 1 else -1 end) as delta
         from events
        where type in ('cmis.analytics.segment-entered', 'cmis.analytics.segment-exited')
        group by 1, 2),
     days as (
       select generate_series((?::date - ?::int), ?::date, interval '1 day')::date as day)
     select s.segment_id, to_char(d.day, 'YYYY-MM-DD') as day,
            coalesce((select sum(c.delta) from changes c
                       where c.segment_id = s.segment_id and c.day <= d.day), 0) as size
       from (select distinct segment_id from changes) s cross join days d
      order by s.segment_id, d.day`,
    [now.toISOString().slice(0, 10), SEGMENT_DAYS - 1, now.toISOString().slice(0, 10)],
  );
  if (rows.length === 0) return { status: 'no-data', reason: 'no segment membership yet' };
  const bySegment = new Map<string, SegmentSizes>();
  for (const r of rows) {
    const series = bySegment.get(r.segment_id) ?? { segmentId: r.segment_id, points: [] };
    series.points.push({ day: r.day, size: num(r.size) });
    bySegment.set(r.segment_id, series);
  }
  return { status: 'ok', rows: [...bySegment.values()] };
}

type PanelReader = (trx: Knex.Transaction) => Promise<Panel<unknown>>;

/**
 * Every panel, each in its own transaction: one whose source is still taking shape (a column
 * renamed by its slice) shows its error without blanking the rest.
 */
export async function dashboardData(
  db: Database,
  orgId: string,
  now: Date,
  onPanelError: (panel: string, error: unknown) => void,
): Promise<DashboardData> {
  const range: Range = { from: new Date(now.getTime() - DEFAULT_RANGE_MS), to: now };
  const readers: Record<Exclude<keyof DashboardData, 'orgId' | 'generatedAt' | 'range'>, PanelReader> = {
    emailFunnel: (trx) => emailFunnel(trx, range),
    ruleFirings: (trx) => ruleFirings(trx, range),
    experiments,
    rfmGrid,
    segmentSizes: (trx) => segmentSizes(trx, now),
    roi: (trx) => campaignRoi(trx, range),
  };
  const entries = await Promise.all(
    Object.entries(readers).map(async ([name, read]) => {
      try {
        return [name, await withOrg(db.app, orgId, read)] as const;
      } catch (error) {
        onPanelError(name, error);
        return [name, { status: 'error', reason: 'this panel could not be read' } as const] as const;
      }
    }),
  );
  return {
    orgId,
    generatedAt: now.toISOString(),
    range: { from: range.from.toISOString(), to: range.to.toISOString() },
    ...Object.fromEntries(entries),
  } as DashboardData;
}
