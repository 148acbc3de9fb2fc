// What the service learns from other services: contacts (traits and time zones for conditions and
// delays), track calls (recorded for waits and backtests; entries, goals, exits and waits matched
// to them) and the rules' enroll-in-workflow actions.
import {
  contactIdOf,
  contactsTopic,
  emailMessagesTopic,
  ruleActionsTopic,
  segmentEventsTopic,
  userActionsTopic,
  type ActionRequested,
  type ActionTracked,
  type ContactAliased,
  type ContactIdentified,
  type EventEnvelope,
  type MessageFailed,
  type SegmentEntered,
} from '@cmis/contracts';
import type { InvalidatingCache, ServiceRuntime } from '@cmis/platform';
import type { Knex } from 'knex';
import type { WorkflowStore } from '../definitions/store';
import { eventView, type CompiledWorkflow, type TrackedEvent } from './engine';
import type { Runner } from './runner';
import { enrollLatest } from './enroll';

/** The active workflows of an org, compiled, with what their entries, goals and exits listen to. */
export interface ActiveIndex {
  workflows: CompiledWorkflow[];
  byEntry: Map<string, CompiledWorkflow[]>;
  byId: Map<string, CompiledWorkflow>;
  /** By entry.segmentId: entered on the analytics segment-entered event. */
  bySegment: Map<string, CompiledWorkflow[]>;
}

export function buildActiveIndex(workflows: CompiledWorkflow[]): ActiveIndex {
  const byEntry = new Map<string, CompiledWorkflow[]>();
  const bySegment = new Map<string, CompiledWorkflow[]>();
  for (const w of workflows) {
    const name = w.definition.entry.event;
    if (name) byEntry.set(name, [...(byEntry.get(name) ?? []), w]);
    const segmentId = w.definition.entry.segmentId;
    if (segmentId) bySegment.set(segmentId, [...(bySegment.get(segmentId) ?? []), w]);
  }
  return { workflows, byEntry, byId: new Map(workflows.map((w) => [w.workflowId, w])), bySegment };
}

type SegmentCall = { userId?: string; anonymousId?: string };

export function trackedFrom(envelope: EventEnvelope): TrackedEvent {
  const data = envelope.data as ActionTracked;
  return {
    id: envelope.id,
    name: data.event,
    at: new Date(data.timestamp).toISOString(),
    data: {
      properties: data.properties,
      context: data.context,
      ...(data.userId ? { userId: data.userId } : {}),
    },
  };
}

/** The group that reads track calls: what a wait's timeout waits for to read through its deadline. */
export const userActionsGroup = (service: string) => `${service}.user-actions`;

export async function startConsumers(deps: {
  rt: ServiceRuntime;
  store: WorkflowStore;
  runner: Runner;
  index: InvalidatingCache<ActiveIndex>;
}): Promise<void> {
  const { rt, store, runner, index } = deps;
  const chainOf = (e: EventEnvelope) => ({ correlationId: e.correlationId, causationId: e.id });

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
      if (envelope.type !== 'cmis.triggers.contact-identified') return;
      const data = envelope.data as ContactIdentified;
      await upsertTraits(trx, orgId, contactIdOf(data), data.traits);
    },
  });

  await rt.consume({
    groupId: userActionsGroup(rt.name),
    topics: [userActionsTopic.name],
    handle: async ({ envelope }, { trx, orgId }) => {
      if (envelope.type !== 'cmis.triggers.action-tracked') return;
      const event = trackedFrom(envelope);
      const contactId = contactIdOf(envelope.data as SegmentCall);
      const chain = chainOf(envelope);
      await trx('contact_events')
        .insert({
          org_id: orgId,
          event_id: event.id,
          contact_id: contactId,
          name: event.name,
          occurred_at: event.at,
          data: JSON.stringify(event.data),
        })
        .onConflict(['org_id', 'event_id'])
        .ignore();
      const active = await index.get(orgId);

      // Goals and exits first: they end instances wherever they are, before this event enrolls anew.
      const running = await trx('instances')
        .where({ org_id: orgId, contact_id: contactId })
        .whereIn('status', ['running', 'waiting'])
        .select('instance_id', 'workflow_id', 'version');
      for (const row of running) {
        const workflow = await store.compiled(trx, orgId, row.workflow_id as string, row.version as number);
        const ctx = { event: eventView(event) };
        const goal = workflow.definition.goals.findIndex(
          (g, i) =>
            g.event === event.name && (!g.filter || workflow.test(`goal.${i}`, ctx).outcome === 'passed'),
        );
        if (goal >= 0) {
          await runner.advance(
            trx,
            orgId,
            row.instance_id as string,
            { kind: 'goal', at: event.at, causeId: event.id, name: event.name },
            chain,
          );
          continue;
        }
        const exit = workflow.definition.exits.findIndex(
          (g, i) =>
            g.event === event.name && (!g.filter || workflow.test(`exit.${i}`, ctx).outcome === 'passed'),
        );
        if (exit >= 0)
          await runner.advance(
            trx,
            orgId,
            row.instance_id as string,
            { kind: 'exit', at: event.at, causeId: event.id, reason: `exit event ${event.name}` },
            chain,
          );
      }

      const waits = await trx('waits')
        .where({ org_id: orgId, contact_id: contactId, name: event.name })
        .select('instance_id');
      for (const w of waits)
        await runner.advance(
          trx,
          orgId,
          w.instance_id as string,
          { kind: 'event', at: event.at, event },
          chain,
        );

      for (const workflow of active.byEntry.get(event.name) ?? []) {
        if (workflow.definition.entry.filter) {
          // The contact's traits only for a filter to judge: a round trip per event otherwise.
          const contact = (
            await trx('contacts').where({ org_id: orgId, contact_id: contactId }).first('traits')
          )?.traits as Record<string, unknown> | undefined;
          const verdict = workflow.test('entry', {
            event: eventView(event),
            ...(contact ? { contact } : {}),
          });
          if (verdict.outcome !== 'passed') {
            await runner.record(
              trx,
              orgId,
              contactId,
              workflow.workflowId,
              {
                kind: 'entry',
                outcome: 'not_entered',
                inputs: {
                  reason: `entry filter ${verdict.outcome}`,
                  causeId: event.id,
                  trace: verdict.trace,
                },
              },
              new Date(event.at),
            );
            continue;
          }
        }
        await runner.enroll(trx, orgId, {
          workflowId: workflow.workflowId,
          version: workflow.version,
          definition: workflow.definition,
          contactId,
          entry: 'event',
          causeId: event.id,
          event,
          at: new Date(event.at),
          chain,
        });
      }
    },
  });

  await rt.consume({
    groupId: `${rt.name}.email-messages`,
    topics: [emailMessagesTopic.name],
    handle: async ({ envelope }, { trx, orgId }) => {
      const outcome = MESSAGE_OUTCOMES[envelope.type];
      const data = envelope.data as MessageFailed & { reason: string; detail?: string };
      if (!outcome || data.origin.kind !== 'workflow' || !data.contactId) return;
      await runner.record(
        trx,
        orgId,
        data.contactId,
        data.origin.id,
        {
          kind: 'email',
          outcome,
          ...(data.origin.stepId ? { stepId: data.origin.stepId } : {}),
          inputs: {
            messageId: data.messageId,
            idempotencyKey: data.idempotencyKey,
            ...(data.reason ? { reason: data.reason } : {}),
            ...(data.detail ? { detail: data.detail } : {}),
          },
        },
        new Date(envelope.time),
        data.origin.instanceId,
      );
    },
  });

  await rt.consume({
    groupId: `${rt.name}.rule-actions`,
    topics: [ruleActionsTopic.name],
    handle: async ({ envelope }, { trx, orgId }) => {
      const data = envelope.data as ActionRequested;
      if (data.action.kind !== 'enroll_workflow') return;
      await enrollLatest(
        trx,
        orgId,
        { store, runner },
        {
          workflowId: data.action.workflowId,
          contactId: data.action.contactId,
          entry: 'rule',
          causeId: data.actionId,
          at: new Date(envelope.time),
          chain: chainOf(envelope),
        },
      );
    },
  });

  // Segment entered (analytics): enrolls the active workflows whose entry names the segment.
  await rt.consume({
    groupId: `${rt.name}.segments`,
    topics: [segmentEventsTopic.name],
    handle: async ({ envelope }, { trx, orgId }) => {
      if (envelope.type !== 'cmis.analytics.segment-entered') return;
      const data = envelope.data as SegmentEntered;
      for (const workflow of (await index.get(orgId)).bySegment.get(data.segmentId) ?? [])
        await runner.enroll(trx, orgId, {
          workflowId: workflow.workflowId,
          version: workflow.version,
          definition: workflow.definition,
          contactId: data.contactId,
          entry: 'segment',
          causeId: envelope.id,
          at: new Date(envelope.time),
          chain: chainOf(envelope),
        });
    },
  });
}

/** What became of a workflow's email, for the contact's history ("why did they not get it?"). */
const MESSAGE_OUTCOMES: Record<string, string> = {
  'cmis.email.message-sent': 'sent',
  'cmis.email.message-suppressed': 'suppressed',
  'cmis.email.message-failed': 'failed',
  'cmis.email.message-bounced': 'bounced',
};

async function upsertTraits(
  trx: Knex.Transaction,
  orgId: string,
  contactId: string,
  traits: Record<string, unknown>,
) {
  await trx('contacts')
    .insert({ org_id: orgId, contact_id: contactId, traits: JSON.stringify(traits) })
    .onConflict(['org_id', 'contact_id'])
    .merge({ traits: trx.raw('contacts.traits || excluded.traits') });
}
