// Reads of the experiments projections: per-variant totals, the experiment list, rule holdouts.
import { analyticsDecisionsTopic } from '@cmis/contracts';
import type { ServiceRuntime } from '@cmis/platform';
import type { Knex } from 'knex';
import type { VariantTotals } from './results';

/** Revenue counts toward an exposure when the order comes within this window after it. */
export const ATTRIBUTION_WINDOW_DAYS = 7;
export const KIND_OF_UNIT: Record<string, 'email' | 'workflow_split'> = {
  email: 'email',
  workflow: 'workflow_split',
};

export async function variantTotals(
  trx: Knex.Transaction,
  orgId: string,
  experimentId: string,
): Promise<{ kind: 'email' | 'workflow_split'; totals: VariantTotals[] } | null> {
  const rows = await trx.raw<{
    rows: Array<{
      kind: string;
      variant_id: string;
      exposed: string;
      conversions: string;
      rs: number;
      rss: number;
    }>;
  }>(
    `select u.kind, u.variant_id,
            count(*) as exposed,
            count(*) filter (where u.converted) as conversions,
            coalesce(sum(r.revenue), 0)::float8 as rs,
            coalesce(sum(r.revenue * r.revenue), 0)::float8 as rss
       from exp_units u
       left join lateral (
         select coalesce(sum(o.revenue), 0) as revenue
           from exp_orders o
          where o.org_id = u.org_id and o.contact_id = u.contact_id
            and o.at >= u.exposed_at and o.at < u.exposed_at + make_interval(days => ?)
       ) r on true
      where u.org_id = ? and u.experiment_id = ? and u.exposed
      group by u.kind, u.variant_id
      order by u.variant_id`,
    [ATTRIBUTION_WINDOW_DAYS, orgId, experimentId],
  );
  if (rows.rows.length === 0) return null;
  return {
    kind: KIND_OF_UNIT[rows.rows[0]!.kind] ?? 'email',
    totals: rows.rows.map((r) => ({
      variantId: r.variant_id,
      exposed: Number(r.exposed),
      conversions: Number(r.conversions),
      revenueSum: Number(r.rs),
      revenueSumOfSquares: Number(r.rss),
    })),
  };
}

export async function listExperiments(trx: Knex.Transaction, orgId: string) {
  const rows = await trx.raw<{
    rows: Array<{
      experiment_id: string;
      kind: string;
      variants: string;
      exposed: string;
      conversions: string;
      last_exposed_at: Date;
      decision: unknown;
    }>;
  }>(
    `select u.experiment_id, min(u.kind) as kind, count(distinct u.variant_id) as variants,
            count(*) as exposed, count(*) filter (where u.converted) as conversions,
            max(u.exposed_at) as last_exposed_at, min(e.decision::text)::jsonb as decision
       from exp_units u
       left join exp_experiments e on e.org_id = u.org_id and e.experiment_id = u.experiment_id
      where u.org_id = ? and u.exposed and u.experiment_id is not null
      group by u.experiment_id
      order by max(u.exposed_at) desc
      limit 500`,
    [orgId],
  );
  return rows.rows.map((r) => ({
    experimentId: r.experiment_id,
    kind: KIND_OF_UNIT[r.kind] ?? r.kind,
    variants: Number(r.variants),
    exposed: Number(r.exposed),
    conversions: Number(r.conversions),
    lastExposedAt: r.last_exposed_at,
    decision: r.decision ?? null,
  }));
}

/** Records this look's always-valid p-value; returns the running minimum before it. */
export async function previousSequentialP(
  trx: Knex.Transaction,
  orgId: string,
  experimentId: string,
): Promise<number> {
  const row = await trx('exp_experiments')
    .where({ org_id: orgId, experiment_id: experimentId })
    .first('msprt_p');
  return row ? Number(row.msprt_p) : 1;
}

export async function recordLook(
  trx: Knex.Transaction,
  orgId: string,
  experimentId: string,
  p: number,
): Promise<void> {
  await trx('exp_experiments')
    .insert({ org_id: orgId, experiment_id: experimentId, msprt_p: p, looks: 1 })
    .onConflict(['org_id', 'experiment_id'])
    .merge({
      msprt_p: trx.raw('least(exp_experiments.msprt_p, excluded.msprt_p)'),
      looks: trx.raw('exp_experiments.looks + 1'),
    });
}

export interface HoldoutSubjectMetrics {
  heldOut: boolean;
  subject: string;
  /** Metric name → value in the latest snapshot after the firing, and its change since before. */
  after: Record<string, number>;
  change: Record<string, number>;
  revenue: number;
}

/** Each subject a rule fired for, with its metrics after the (first) firing. */
export async function ruleHoldoutSubjects(
  trx: Knex.Transaction,
  orgId: string,
  ruleId: string,
): Promise<HoldoutSubjectMetrics[]> {
  const rows = await trx.raw<{
    rows: Array<{
      subject: string;
      held_out: boolean;
      before: Record<string, number> | null;
      after: Record<string, number> | null;
      revenue: number;
    }>;
  }>(
    `select f.subject, f.held_out,
            (select m.metrics from exp_entity_metrics m
              where m.org_id = f.org_id and m.entity_id = f.subject and m.observed_at <= f.fired_at
              order by m.observed_at desc limit 1) as before,
            (select m.metrics from exp_entity_metrics m
              where m.org_id = f.org_id and m.entity_id = f.subject and m.observed_at > f.fired_at
              order by m.observed_at desc limit 1) as after,
            (select coalesce(sum(o.revenue), 0)::float8 from exp_orders o
              where o.org_id = f.org_id and o.contact_id = f.subject and o.at > f.fired_at) as revenue
       from exp_rule_firings f
      where f.org_id = ? and f.rule_id = ?
      limit 100000`,
    [orgId, ruleId],
  );
  return rows.rows.map((r) => {
    const after = r.after ?? {};
    const change: Record<string, number> = {};
    for (const [k, v] of Object.entries(after))
      if (r.before && typeof r.before[k] === 'number') change[k] = v - r.before[k]!;
    return { subject: r.subject, heldOut: r.held_out, after, change, revenue: Number(r.revenue) };
  });
}

/**
 * Appends a decision about an experiment (decided, allocation updated) to its stream, published
 * on the decisions topic keyed by org and experiment, in the caller's transaction.
 */
export async function appendDecision(
  rt: Pick<ServiceRuntime, 'eventStore' | 'eventMetadata'>,
  trx: Knex.Transaction,
  orgId: string,
  experimentId: string,
  event: { id: string; type: string; data: unknown; actor: string; occurredAt: Date },
): Promise<void> {
  await rt.eventStore.append(trx, {
    orgId,
    streamType: 'analytics-experiment',
    streamId: experimentId.slice(0, 200),
    expectedVersion: 'any',
    events: [
      {
        id: event.id,
        type: event.type,
        data: event.data,
        metadata: rt.eventMetadata({ actor: event.actor }),
        topic: analyticsDecisionsTopic.name,
        key: `${orgId}:${experimentId}`,
        occurredAt: event.occurredAt,
      },
    ],
  });
}
