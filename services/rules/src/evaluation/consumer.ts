// Consumers: contacts (traits projection), user actions, entity metrics (latest metrics per entity,
// with the previous values for changed-by-%), schedule ticks (every entity of the rule's type).
import type { EvaluationContext } from '@cmis/conditions';
import {
  contactIdOf,
  contactsTopic,
  entityMetricsTopic,
  scheduleFiredTopic,
  userActionsTopic,
  type ContactAliased,
  type ContactIdentified,
  type EntityMetricsObserved,
  type EventEnvelope,
  type ScheduleFired,
} from '@cmis/contracts';
import type { InboxEvent, InvalidatingCache, ServiceRuntime } from '@cmis/platform';
import type { Knex } from 'knex';
import { evaluateRules } from './evaluate';
import { laneOf, type Firing, type FiringItem } from './fire';
import type { RuleIndex } from './rule-index';

const SCHEDULE_PAGE = 1_000;

type SegmentCall = { userId?: string; anonymousId?: string };

export async function startEvaluation(deps: {
  rt: ServiceRuntime;
  index: InvalidatingCache<RuleIndex>;
  firing: Firing;
}): Promise<void> {
  const { rt, index, firing } = deps;
  const cause = (e: EventEnvelope) => ({ id: e.id, correlationId: e.correlationId });

  const evaluateEvent = async (
    trx: Knex.Transaction,
    orgId: string,
    { envelope, message }: InboxEvent,
    contact: Record<string, unknown> | undefined,
  ) => {
    const rules = (await index.get(orgId)).rulesFor(`event:${envelope.type}`);
    if (rules.length === 0) return;
    const data = envelope.data as Record<string, unknown> & SegmentCall;
    const ctx: EvaluationContext = { event: data, ...(contact ? { contact } : {}) };
    const contactId = contactIdOf(data);
    await firing.fire(trx, orgId, laneOf(message), [
      {
        cause: cause(envelope),
        target: { subject: contactId, contactId },
        ctx,
        verdicts: evaluateRules(rules, ctx),
      },
    ]);
  };

  await rt.consume({
    groupId: `${rt.name}.contacts`,
    topics: [contactsTopic.name],
    handle: async (event, { trx, orgId }) => {
      const { envelope } = event;
      if (envelope.type === 'cmis.triggers.contact-aliased') {
        const data = envelope.data as ContactAliased;
        const previous = await trx('contacts')
          .where({ org_id: orgId, contact_id: data.previousId })
          .first('traits');
        if (previous) await upsertTraits(trx, orgId, data.userId, previous.traits as Record<string, unknown>);
        return;
      }
      const data = envelope.data as ContactIdentified;
      const traits = await upsertTraits(trx, orgId, contactIdOf(data), data.traits);
      await evaluateEvent(trx, orgId, event, traits);
    },
  });

  await rt.consume({
    groupId: `${rt.name}.user-actions`,
    topics: [userActionsTopic.name],
    handle: async (event, { trx, orgId }) => {
      const { envelope } = event;
      if ((await index.get(orgId)).rulesFor(`event:${envelope.type}`).length === 0) return;
      const row = await trx('contacts')
        .where({ org_id: orgId, contact_id: contactIdOf(envelope.data as SegmentCall) })
        .first('traits');
      await evaluateEvent(trx, orgId, event, row?.traits as Record<string, unknown> | undefined);
    },
  });

  // In batches: one upsert of the batch's entities, the verdicts in memory, one firing.
  await rt.consume({
    groupId: `${rt.name}.entity-metrics`,
    topics: [entityMetricsTopic.name],
    apply: async (events, { trx, orgId }) => {
      const observations = events.map((e) => ({
        envelope: e.envelope,
        data: e.envelope.data as EntityMetricsObserved,
      }));
      const stored = await upsertMetrics(
        trx,
        orgId,
        observations.map((o) => o.data),
      );
      const rulesIndex = await index.get(orgId);
      const items: FiringItem[] = [];
      for (const { envelope, data } of observations) {
        const entityKey = entityKeyOf(data.entityType, data.entityId);
        const previous = stored.get(entityKey);
        const metrics = { ...previous, ...data.metrics };
        stored.set(entityKey, metrics);
        const rules = rulesIndex.rulesFor(`metrics:${data.entityType}`);
        if (rules.length === 0) continue;
        const entity = { type: data.entityType, id: data.entityId };
        const ctx: EvaluationContext = {
          entity,
          metrics,
          ...(previous ? { previousMetrics: previous } : {}),
        };
        items.push({
          cause: cause(envelope),
          target: { subject: data.entityId, entity },
          ctx,
          verdicts: evaluateRules(rules, ctx),
        });
      }
      await firing.fire(trx, orgId, laneOf(events[0]!.message), items);
    },
  });

  await rt.consume({
    groupId: `${rt.name}.schedules`,
    topics: [scheduleFiredTopic.name],
    handle: async ({ envelope, message }, { trx, orgId }) => {
      const tick = envelope.data as ScheduleFired;
      const rules = (await index.get(orgId)).rulesFor('schedule').filter((r) => {
        const t = r.definition.trigger as { scheduleId?: string; scheduleName?: string };
        return (
          (t.scheduleId === undefined || t.scheduleId === tick.scheduleId) &&
          (t.scheduleName === undefined || t.scheduleName === tick.name)
        );
      });
      for (const rule of rules) {
        let after = '';
        for (;;) {
          const page = await trx('entity_metrics')
            .where({ org_id: orgId, entity_type: rule.definition.entityType })
            .andWhere('entity_id', '>', after)
            .orderBy('entity_id')
            .limit(SCHEDULE_PAGE)
            .select('entity_id', 'metrics', 'previous_metrics');
          const items = page.map((row): FiringItem => {
            const entity = { type: rule.definition.entityType, id: row.entity_id as string };
            const ctx: EvaluationContext = {
              entity,
              metrics: row.metrics as Record<string, number>,
              ...(row.previous_metrics
                ? { previousMetrics: row.previous_metrics as Record<string, number> }
                : {}),
            };
            return {
              cause: cause(envelope),
              target: { subject: entity.id, entity },
              ctx,
              verdicts: evaluateRules([rule], ctx),
            };
          });
          await firing.fire(trx, orgId, laneOf(message), items);
          if (page.length < SCHEDULE_PAGE) break;
          after = page[page.length - 1]!.entity_id as string;
        }
      }
    },
  });
}

async function upsertTraits(
  trx: Knex.Transaction,
  orgId: string,
  contactId: string,
  traits: Record<string, unknown>,
) {
  const [row] = await trx('contacts')
    .insert({ org_id: orgId, contact_id: contactId, traits: JSON.stringify(traits) })
    .onConflict(['org_id', 'contact_id'])
    .merge({ traits: trx.raw('contacts.traits || excluded.traits') })
    .returning('traits');
  return row.traits as Record<string, unknown>;
}

const entityKeyOf = (type: string, id: string) => `${type}\u0000${id}`;

/**
 * Stores the latest metrics of every entity observed in the batch (each observation merged over
 * the one before, in order) with one statement, keeping as previous_metrics the metrics before the
 * entity's last observation. Returns the metrics each entity had before the batch (absent: new).
 */
async function upsertMetrics(
  trx: Knex.Transaction,
  orgId: string,
  observations: EntityMetricsObserved[],
): Promise<Map<string, Record<string, number>>> {
  // Per entity: all its observations merged (delta), and all but the last (prevDelta).
  const byEntity = new Map<
    string,
    {
      entity_type: string;
      entity_id: string;
      delta: Record<string, number>;
      prev_delta: Record<string, number> | null;
      observed_at: string;
    }
  >();
  for (const o of observations) {
    const key = entityKeyOf(o.entityType, o.entityId);
    const seen = byEntity.get(key);
    if (!seen) {
      byEntity.set(key, {
        entity_type: o.entityType,
        entity_id: o.entityId,
        delta: { ...o.metrics },
        prev_delta: null,
        observed_at: o.observedAt,
      });
    } else {
      seen.prev_delta = { ...seen.delta };
      seen.delta = { ...seen.delta, ...o.metrics };
      seen.observed_at = o.observedAt;
    }
  }
  const { rows } = await trx.raw<{
    rows: Array<{ entity_type: string; entity_id: string; metrics: Record<string, number> }>;
  }>(
    `with input as (
       select * from jsonb_to_recordset(?::jsonb)
         as x(entity_type text, entity_id text, delta jsonb, prev_delta jsonb, observed_at timestamptz)
     ), old as (
       select m.entity_type, m.entity_id, m.metrics
         from entity_metrics m
         join input i on m.entity_type = i.entity_type and m.entity_id = i.entity_id
        where m.org_id = ?
          for update of m
     ), upserted as (
       insert into entity_metrics (org_id, entity_type, entity_id, metrics, previous_metrics, observed_at)
       select ?, i.entity_type, i.entity_id,
              coalesce(o.metrics, '{}'::jsonb) || i.delta,
              case when o.metrics is null then i.prev_delta else o.metrics || coalesce(i.prev_delta, '{}'::jsonb) end,
              i.observed_at
         from input i left join old o on o.entity_type = i.entity_type and o.entity_id = i.entity_id
       on conflict (org_id, entity_type, entity_id) do update
         set metrics = excluded.metrics, previous_metrics = excluded.previous_metrics, observed_at = excluded.observed_at
     )
     select entity_type, entity_id, metrics from old`,
    [JSON.stringify([...byEntity.values()]), orgId, orgId],
  );
  return new Map(rows.map((r) => [entityKeyOf(r.entity_type, r.entity_id), r.metrics]));
}
