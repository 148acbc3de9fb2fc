// Consumers: contacts (traits projection), user actions, entity metrics (latest metrics per entity,
// with the previous values for changed-by-%), schedule ticks (every entity of the rule's type).
import {
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
import type { InvalidatingCache, ServiceRuntime } from '@cmis/platform';
import type { Knex } from 'knex';
import type { EvaluationContext } from '../conditions/conditions';
import { evaluateRules } from './evaluate';
import type { Firing } from './fire';
import type { RuleIndex } from './rule-index';

const SCHEDULE_PAGE = 1_000;

type SegmentCall = { userId?: string; anonymousId?: string };
const contactOf = (data: SegmentCall) => (data.userId ?? data.anonymousId)!;

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
    envelope: EventEnvelope,
    contact: Record<string, unknown> | undefined,
  ) => {
    const rules = (await index.get(orgId)).rulesFor(`event:${envelope.type}`);
    if (rules.length === 0) return;
    const data = envelope.data as Record<string, unknown> & SegmentCall;
    const ctx: EvaluationContext = { event: data, ...(contact ? { contact } : {}) };
    const contactId = contactOf(data);
    await firing.fire(
      trx,
      orgId,
      cause(envelope),
      { subject: contactId, contactId },
      ctx,
      evaluateRules(rules, ctx),
    );
  };

  await rt.consume({
    groupId: `${rt.name}.contacts`,
    topics: [contactsTopic.name],
    handle: async ({ envelope }, { trx, orgId }) => {
      if (envelope.type === 'cmis.triggers.contact-aliased') {
        const data = envelope.data as ContactAliased;
        const previous = await trx('contacts')
          .where({ org_id: orgId, contact_id: data.previousId })
          .first('traits');
        if (previous) await upsertTraits(trx, orgId, data.userId, previous.traits as Record<string, unknown>);
        return;
      }
      const data = envelope.data as ContactIdentified;
      const traits = await upsertTraits(trx, orgId, contactOf(data), data.traits);
      await evaluateEvent(trx, orgId, envelope, traits);
    },
  });

  await rt.consume({
    groupId: `${rt.name}.user-actions`,
    topics: [userActionsTopic.name],
    handle: async ({ envelope }, { trx, orgId }) => {
      if ((await index.get(orgId)).rulesFor(`event:${envelope.type}`).length === 0) return;
      const row = await trx('contacts')
        .where({ org_id: orgId, contact_id: contactOf(envelope.data as SegmentCall) })
        .first('traits');
      await evaluateEvent(trx, orgId, envelope, row?.traits as Record<string, unknown> | undefined);
    },
  });

  await rt.consume({
    groupId: `${rt.name}.entity-metrics`,
    topics: [entityMetricsTopic.name],
    handle: async ({ envelope }, { trx, orgId }) => {
      const data = envelope.data as EntityMetricsObserved;
      const existing = await trx('entity_metrics')
        .where({ org_id: orgId, entity_type: data.entityType, entity_id: data.entityId })
        .forUpdate()
        .first('metrics');
      const previous = existing?.metrics as Record<string, number> | undefined;
      const metrics = { ...previous, ...data.metrics };
      const row = {
        org_id: orgId,
        entity_type: data.entityType,
        entity_id: data.entityId,
        metrics: JSON.stringify(metrics),
        previous_metrics: previous ? JSON.stringify(previous) : null,
        observed_at: data.observedAt,
      };
      await trx('entity_metrics').insert(row).onConflict(['org_id', 'entity_type', 'entity_id']).merge();
      const rules = (await index.get(orgId)).rulesFor(`metrics:${data.entityType}`);
      if (rules.length === 0) return;
      const entity = { type: data.entityType, id: data.entityId };
      const ctx: EvaluationContext = { entity, metrics, ...(previous ? { previousMetrics: previous } : {}) };
      await firing.fire(
        trx,
        orgId,
        cause(envelope),
        { subject: data.entityId, entity },
        ctx,
        evaluateRules(rules, ctx),
      );
    },
  });

  await rt.consume({
    groupId: `${rt.name}.schedules`,
    topics: [scheduleFiredTopic.name],
    handle: async ({ envelope }, { trx, orgId }) => {
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
          for (const row of page) {
            const entity = { type: rule.definition.entityType, id: row.entity_id as string };
            const ctx: EvaluationContext = {
              entity,
              metrics: row.metrics as Record<string, number>,
              ...(row.previous_metrics
                ? { previousMetrics: row.previous_metrics as Record<string, number> }
                : {}),
            };
            await firing.fire(
              trx,
              orgId,
              cause(envelope),
              { subject: entity.id, entity },
              ctx,
              evaluateRules([rule], ctx),
            );
          }
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
