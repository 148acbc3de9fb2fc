// Reads of the projection tables for the measures API; all run in the org's transaction (RLS).
import type { Knex } from 'knex';
import { attribute, type AttributionSettings, type Conversion, type Credit, type Touch } from './attribution';
import type { EmailCounts } from './measures';
import { summarizeMetrics, type Bucket, type MetricSummary } from './measures';

export interface Range {
  from: Date;
  to: Date;
}
export interface Origin {
  kind: string;
  id?: string;
}

const num = (v: unknown) => Number(v ?? 0);

export async function emailCounts(
  trx: Knex.Transaction,
  range: Range,
  origin?: Origin,
): Promise<EmailCounts> {
  const q = trx('m_email_events')
    .where('at', '>=', range.from)
    .andWhere('at', '<', range.to)
    .first(
      trx.raw(`count(*) filter (where type = 'requested') as requested`),
      trx.raw(`count(distinct message_id) filter (where type = 'sent') as sent`),
      trx.raw(`count(distinct message_id) filter (where type = 'delivered') as delivered`),
      trx.raw(`count(distinct message_id) filter (where type = 'opened' and not machine) as unique_opens`),
      trx.raw(`count(distinct message_id) filter (where type = 'clicked' and not machine) as unique_clicks`),
      trx.raw(`count(*) filter (where type = 'opened' and machine) as machine_opens`),
      trx.raw(`count(*) filter (where type = 'clicked' and machine) as machine_clicks`),
      trx.raw(`count(distinct message_id) filter (where type = 'bounced') as bounces`),
      trx.raw(
        `count(distinct message_id) filter (where type = 'bounced' and detail = 'hard') as hard_bounces`,
      ),
      trx.raw(`count(distinct message_id) filter (where type = 'complained') as complaints`),
      trx.raw(`count(distinct message_id) filter (where type = 'unsubscribed') as unsubscribes`),
      trx.raw(`count(distinct message_id) filter (where type = 'suppressed') as suppressed`),
      trx.raw(`count(distinct message_id) filter (where type = 'failed') as failed`),
    );
  if (origin) {
    q.andWhere('origin_kind', origin.kind);
    if (origin.id) q.andWhere('origin_id', origin.id);
  }
  const r = (await q) as Record<string, unknown>;
  return {
    requested: num(r.requested),
    sent: num(r.sent),
    delivered: num(r.delivered),
    uniqueOpens: num(r.unique_opens),
    uniqueClicks: num(r.unique_clicks),
    machineOpens: num(r.machine_opens),
    machineClicks: num(r.machine_clicks),
    bounces: num(r.bounces),
    hardBounces: num(r.hard_bounces),
    complaints: num(r.complaints),
    unsubscribes: num(r.unsubscribes),
    suppressed: num(r.suppressed),
    failed: num(r.failed),
  };
}

export async function ruleCounts(trx: Knex.Transaction, range: Range, ruleId?: string) {
  const q = trx('m_rule_events')
    .where('at', '>=', range.from)
    .andWhere('at', '<', range.to)
    .groupBy('rule_id')
    .orderBy('rule_id')
    .select(
      'rule_id',
      trx.raw(`count(*) filter (where type = 'fired') as firings`),
      trx.raw(`count(*) filter (where type = 'fired' and dry_run) as suppressed_firings`),
      trx.raw(`count(distinct action_id) filter (where type = 'requested') as actions_requested`),
      trx.raw(`count(distinct action_id) filter (where type = 'succeeded') as actions_succeeded`),
      // A failure that will be retried is not an outcome yet.
      trx.raw(
        `count(distinct action_id) filter (where type = 'failed' and retryable = false) as actions_failed`,
      ),
    );
  if (ruleId) q.andWhere('rule_id', ruleId);
  const rows = (await q) as Array<Record<string, unknown>>;
  return rows.map((r) => ({
    ruleId: r.rule_id as string,
    firings: num(r.firings),
    suppressedFirings: num(r.suppressed_firings),
    actionsRequested: num(r.actions_requested),
    actionsSucceeded: num(r.actions_succeeded),
    actionsFailed: num(r.actions_failed),
  }));
}

/** A rule's campaign actions in the range, each at the time it took effect (else was requested). */
export async function campaignActions(trx: Knex.Transaction, range: Range, ruleId: string, limit = 100) {
  const rows = (await trx('m_rule_events as r')
    .leftJoin('m_rule_events as s', function () {
      this.on('s.org_id', 'r.org_id').andOn('s.action_id', 'r.action_id').andOnVal('s.type', 'succeeded');
    })
    .where('r.type', 'requested')
    .andWhere('r.rule_id', ruleId)
    .whereNotNull('r.campaign_id')
    .andWhere('r.at', '>=', range.from)
    .andWhere('r.at', '<', range.to)
    .orderBy('r.at')
    .limit(limit)
    .select(
      'r.action_id',
      'r.action_kind',
      'r.campaign_id',
      trx.raw('coalesce(s.at, r.at) as effective_at'),
      trx.raw('s.event_id is not null as succeeded'),
    )) as Array<Record<string, unknown>>;
  return rows.map((r) => ({
    actionId: r.action_id as string,
    kind: r.action_kind as string,
    campaignId: r.campaign_id as string,
    at: new Date(r.effective_at as string),
    succeeded: Boolean(r.succeeded),
  }));
}

export async function entitySummary(
  trx: Knex.Transaction,
  entityId: string,
  from: Date,
  to: Date,
): Promise<MetricSummary & { platforms: string[] }> {
  const rows = (await trx('m_entity_metrics')
    .where({ entity_id: entityId })
    .andWhere('observed_at', '>=', from)
    .andWhere('observed_at', '<', to)
    .select('metrics', 'platform')) as Array<{ metrics: Record<string, number>; platform: string }>;
  return {
    ...summarizeMetrics(rows.map((r) => r.metrics)),
    platforms: [...new Set(rows.map((r) => r.platform))].sort(),
  };
}

export async function workflowFunnelRows(trx: Knex.Transaction, workflowId: string) {
  return (await trx('m_workflow_events')
    .where({ workflow_id: workflowId })
    .groupBy('type', 'step_id', 'status')
    .select('type', 'step_id', 'status', trx.raw('count(distinct instance_id)::int as n'))) as Array<{
    type: string;
    step_id: string | null;
    status: string | null;
    n: number;
  }>;
}

export async function dripFunnelRows(trx: Knex.Transaction, dripId: string) {
  return (await trx('m_drip_events')
    .where({ drip_id: dripId })
    .groupBy('type', 'step_id')
    .select('type', 'step_id', trx.raw('count(distinct subscription_id)::int as n'))) as Array<{
    type: string;
    step_id: string | null;
    n: number;
  }>;
}

/** Per step of an origin: distinct messages by event type (opens and clicks human only). */
export async function messageFunnelRows(trx: Knex.Transaction, origin: Required<Origin>) {
  return (await trx('m_email_events')
    .where({ origin_kind: origin.kind, origin_id: origin.id })
    .andWhere((w) => w.where('machine', false))
    .groupBy('step_id', 'type')
    .select('step_id', 'type', trx.raw('count(distinct message_id)::int as n'))) as Array<{
    step_id: string | null;
    type: string;
    n: number;
  }>;
}

/**
 * Attribution credits of the conversions in the range: conversions (actions with revenue) and
 * the human opens and clicks of their contacts that could have earned them.
 */
export async function credits(
  trx: Knex.Transaction,
  range: Range,
  settings: AttributionSettings,
  origin?: Origin,
): Promise<{ credits: Credit[]; conversions: number; revenue: number }> {
  const conversions = (
    (await trx('m_actions')
      .whereNotNull('revenue')
      .andWhere('at', '>=', range.from)
      .andWhere('at', '<', range.to)
      .select('event_id', 'contact_id', 'revenue', 'at')) as Array<Record<string, unknown>>
  ).map((r): Conversion => ({
    id: r.event_id as string,
    contactId: r.contact_id as string,
    revenue: Number(r.revenue),
    at: new Date(r.at as string).getTime(),
  }));
  if (conversions.length === 0) return { credits: [], conversions: 0, revenue: 0 };
  const lookbackMs = Math.max(settings.clickWindowDays, settings.openWindowDays) * 86_400_000;
  const q = trx('m_email_events')
    .whereIn('type', ['opened', 'clicked'])
    .andWhere('machine', false)
    .whereNotNull('contact_id')
    .andWhere('at', '>=', new Date(range.from.getTime() - lookbackMs))
    .andWhere('at', '<=', range.to)
    .whereIn('contact_id', [...new Set(conversions.map((c) => c.contactId))])
    .select('message_id', 'contact_id', 'type', 'at', 'origin_kind', 'origin_id', 'step_id');
  if (origin) {
    q.andWhere('origin_kind', origin.kind);
    if (origin.id) q.andWhere('origin_id', origin.id);
  }
  const touches = ((await q) as Array<Record<string, unknown>>).map((r): Touch => ({
    messageId: r.message_id as string,
    contactId: r.contact_id as string,
    kind: r.type === 'clicked' ? 'click' : 'open',
    at: new Date(r.at as string).getTime(),
    originKind: r.origin_kind as string,
    originId: r.origin_id as string,
    stepId: (r.step_id as string | null) ?? null,
  }));
  return {
    credits: attribute(conversions, touches, settings),
    conversions: conversions.length,
    revenue: conversions.reduce((s, c) => s + c.revenue, 0),
  };
}

export async function sentByOrigin(trx: Knex.Transaction, range: Range, kind: string) {
  const rows = (await trx('m_email_events')
    .where({ type: 'sent', origin_kind: kind })
    .andWhere('at', '>=', range.from)
    .andWhere('at', '<', range.to)
    .groupBy('origin_id')
    .select('origin_id', trx.raw('count(distinct message_id)::int as n'))) as Array<{
    origin_id: string;
    n: number;
  }>;
  return new Map(rows.map((r) => [r.origin_id, r.n]));
}

export async function campaignSpendAndRevenue(trx: Knex.Transaction, range: Range) {
  const spend = (await trx('m_entity_metrics')
    .where({ entity_type: 'campaign' })
    .andWhere('observed_at', '>=', range.from)
    .andWhere('observed_at', '<', range.to)
    .groupBy('entity_id', 'platform')
    .select(
      'entity_id',
      'platform',
      trx.raw(`coalesce(sum((metrics->>'spend')::float8), 0) as spend`),
    )) as Array<{ entity_id: string; platform: string; spend: number }>;
  const revenue = (await trx('m_actions')
    .whereNotNull('revenue')
    .whereNotNull('campaign')
    .andWhere('at', '>=', range.from)
    .andWhere('at', '<', range.to)
    .groupBy('campaign')
    .select(
      'campaign',
      trx.raw('sum(revenue)::float8 as revenue'),
      trx.raw('count(*)::int as conversions'),
    )) as Array<{
    campaign: string;
    revenue: number;
    conversions: number;
  }>;
  return { spend, revenue };
}

const TRUNC: Record<Bucket, string> = { hour: 'hour', day: 'day', week: 'week' };

/** Sums per bucket (and group) of the named components of one source. */
export async function trendSums(
  trx: Knex.Transaction,
  source: 'ads' | 'actions' | 'email' | 'rules',
  components: string[],
  bucket: Bucket,
  range: Range,
  byPlatform: boolean,
): Promise<Array<{ bucket: Date; group: string; sums: Record<string, number> }>> {
  const trunc = TRUNC[bucket];
  let rows: Array<Record<string, unknown>>;
  if (source === 'ads') {
    const sums = components.map((c) => trx.raw(`coalesce(sum((metrics->>?)::float8), 0) as ??`, [c, c]));
    rows = await trx('m_entity_metrics')
      .where('observed_at', '>=', range.from)
      .andWhere('observed_at', '<', range.to)
      .groupByRaw(byPlatform ? '1, 2' : '1')
      .orderByRaw('1')
      .select(
        trx.raw(`date_trunc('${trunc}', observed_at, 'UTC') as bucket`),
        trx.raw(byPlatform ? 'platform as grp' : `'all' as grp`),
        ...sums,
      );
  } else if (source === 'actions') {
    rows = await trx('m_actions')
      .whereNotNull('revenue')
      .andWhere('at', '>=', range.from)
      .andWhere('at', '<', range.to)
      .groupByRaw('1')
      .orderByRaw('1')
      .select(
        trx.raw(`date_trunc('${trunc}', at, 'UTC') as bucket`),
        trx.raw(`'all' as grp`),
        trx.raw('sum(revenue)::float8 as revenue'),
        trx.raw('count(*)::int as orders'),
      );
  } else if (source === 'email') {
    const type = components[0]!;
    rows = await trx('m_email_events')
      .where({ type, machine: false })
      .andWhere('at', '>=', range.from)
      .andWhere('at', '<', range.to)
      .groupByRaw('1')
      .orderByRaw('1')
      .select(
        trx.raw(`date_trunc('${trunc}', at, 'UTC') as bucket`),
        trx.raw(`'all' as grp`),
        trx.raw('count(distinct message_id)::int as n'),
      );
  } else {
    rows = await trx('m_rule_events')
      .where({ type: 'fired' })
      .andWhere('at', '>=', range.from)
      .andWhere('at', '<', range.to)
      .groupByRaw('1')
      .orderByRaw('1')
      .select(
        trx.raw(`date_trunc('${trunc}', at, 'UTC') as bucket`),
        trx.raw(`'all' as grp`),
        trx.raw('count(*)::int as n'),
      );
  }
  return rows.map((r) => {
    const { bucket: b, grp, ...rest } = r;
    return {
      bucket: new Date(b as string),
      group: grp as string,
      sums: Object.fromEntries(Object.entries(rest).map(([k, v]) => [k, Number(v)])),
    };
  });
}
