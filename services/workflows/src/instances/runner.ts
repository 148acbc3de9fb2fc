// The service side of an instance: loads its snapshot (locked), runs the engine on one input, and
// in the caller's transaction appends the events (instance events on the instances topic, email
// requests and action requests on theirs, all in the instance's stream), schedules and cancels
// its timers, registers waits, queues webhook intents, writes the decisions into the history and
// updates the snapshot. Everything an input causes commits together or not at all; every effect
// id derives from instance, step and visit, so a repeat after a crash is the same effect.
import {
  emailRequestsTopic,
  workflowActionsTopic,
  workflowInstancesTopic,
  type EmailRequested,
  type WorkflowAction,
} from '@cmis/contracts';
import { cancelTimer, scheduleTimer, stableId, type NewEvent, type ServiceRuntime } from '@cmis/platform';
import type { Knex } from 'knex';
import type { WorkflowStore } from '../definitions/store';
import type { WorkflowDefinition } from '../definitions/workflow';
import { allocationsOf } from './allocations';
import {
  advance,
  emptyState,
  ENDED,
  type Decision,
  type Effect,
  type EngineInput,
  type EngineResult,
  type InstanceState,
  type TrackedEvent,
} from './engine';

export const INSTANCE_STREAM = 'workflow-instance';
export const STEP_TIMER = 'workflow-step';
/** How many recorded events a new wait looks back over for one that came first. */
const LOOKBACK_LIMIT = 50;

export type EntryKind = 'event' | 'rule' | 'api' | 'segment';
export interface Chain {
  correlationId?: string;
  causationId?: string;
  actor?: string;
}

export interface EnrollRequest {
  workflowId: string;
  version: number;
  definition: WorkflowDefinition;
  contactId: string;
  entry: EntryKind;
  causeId: string;
  event?: TrackedEvent;
  at: Date;
  chain?: Chain;
}

export type EnrollOutcome =
  | { entered: true; instanceId: string; state: InstanceState }
  | { entered: false; reason: string; instanceId?: string };

export interface Runner {
  enroll(trx: Knex.Transaction, orgId: string, request: EnrollRequest): Promise<EnrollOutcome>;
  advance(
    trx: Knex.Transaction,
    orgId: string,
    instanceId: string,
    input: EngineInput,
    chain?: Chain,
    toVersion?: number,
  ): Promise<InstanceState | undefined>;
  /** Decisions about no instance (an entry refused): into the contact's history. */
  record(
    trx: Knex.Transaction,
    orgId: string,
    contactId: string,
    workflowId: string,
    decision: Decision,
    at: Date,
    instanceId?: string,
  ): Promise<void>;
}

type InstanceRow = {
  instance_id: string;
  workflow_id: string;
  version: number;
  contact_id: string;
  state: InstanceState;
  stream_version: number;
};

export function createRunner(deps: {
  rt: ServiceRuntime;
  store: WorkflowStore;
  onTimers?: () => void;
  onWebhooks?: () => void;
}): Runner {
  const { rt, store } = deps;

  const contactOf = async (trx: Knex.Transaction, orgId: string, contactId: string) =>
    (await trx('contacts').where({ org_id: orgId, contact_id: contactId }).first('traits'))?.traits as
      Record<string, unknown> | undefined;

  const writeHistory = async (
    trx: Knex.Transaction,
    orgId: string,
    state: Pick<InstanceState, 'contactId' | 'workflowId'> & { instanceId?: string },
    decisions: Decision[],
    at: Date,
  ) => {
    if (decisions.length === 0) return;
    await trx('history').insert(
      decisions.map((d) => ({
        org_id: orgId,
        contact_id: state.contactId,
        workflow_id: state.workflowId,
        instance_id: state.instanceId ?? null,
        step_id: d.stepId ?? null,
        kind: d.kind,
        outcome: d.outcome,
        inputs: JSON.stringify(d.inputs),
        at,
      })),
    );
  };

  const effectEvents = (
    orgId: string,
    state: InstanceState,
    effects: Effect[],
    at: Date,
    metadata: Record<string, string>,
  ): NewEvent[] => {
    const key = `${orgId}:${state.contactId}`;
    const out: NewEvent[] = [];
    for (const effect of effects) {
      if (effect.kind === 'send-email') {
        const { step } = effect;
        const data: EmailRequested = {
          idempotencyKey: effect.idempotencyKey,
          to: { kind: 'contact', contactId: state.contactId },
          content: { kind: 'template', templateId: step.templateId },
          data: { ...step.data, event: state.entryEvent, steps: state.steps },
          origin: {
            kind: 'workflow',
            id: state.workflowId,
            version: state.version,
            stepId: step.id,
            instanceId: state.instanceId,
          },
          ...(step.transactional !== undefined ? { transactional: step.transactional } : {}),
          ...(step.subscriptionTopic ? { subscriptionTopic: step.subscriptionTopic } : {}),
        };
        out.push({
          id: stableId('workflow-email', orgId, effect.idempotencyKey),
          type: 'cmis.email.send-requested',
          data,
          metadata,
          topic: emailRequestsTopic.name,
          key,
          occurredAt: at,
        });
      }
      if (effect.kind === 'request-action') {
        out.push({
          id: stableId('workflow-action', orgId, effect.actionId),
          type: 'cmis.workflows.action-requested',
          data: {
            instanceId: state.instanceId,
            workflowId: state.workflowId,
            workflowVersion: state.version,
            contactId: state.contactId,
            stepId: effect.stepId,
            actionId: effect.actionId,
            action: actionOf(effect.step, state.contactId),
          },
          metadata,
          topic: workflowActionsTopic.name,
          key,
          occurredAt: at,
        });
      }
    }
    return out;
  };

  const applyEffects = async (
    trx: Knex.Transaction,
    orgId: string,
    state: InstanceState,
    effects: Effect[],
    at: Date,
  ) => {
    let lookback: Extract<Effect, { kind: 'register-wait' }> | undefined;
    for (const effect of effects) {
      switch (effect.kind) {
        case 'schedule-timer':
          await scheduleTimer(trx, {
            orgId,
            timerId: effect.timerId,
            kind: STEP_TIMER,
            dueAt: new Date(effect.dueAt),
            payload: {
              instanceId: state.instanceId,
              contactId: state.contactId,
              stepId: effect.stepId,
              visit: effect.visit,
              purpose: effect.purpose,
            },
          });
          if (Date.parse(effect.dueAt) <= at.getTime() + 1_000) deps.onTimers?.();
          break;
        case 'cancel-timer':
          await cancelTimer(trx, orgId, effect.timerId);
          break;
        case 'register-wait':
          await trx('waits')
            .insert({
              org_id: orgId,
              instance_id: state.instanceId,
              contact_id: state.contactId,
              name: effect.event,
              step_id: effect.stepId,
              visit: effect.visit,
              since: effect.since,
              until: effect.until,
            })
            .onConflict(['org_id', 'instance_id'])
            .merge();
          lookback = effect;
          break;
        case 'clear-wait':
          await trx('waits').where({ org_id: orgId, instance_id: state.instanceId }).delete();
          break;
        case 'deliver-webhook':
          await trx('webhook_deliveries')
            .insert({
              org_id: orgId,
              delivery_id: effect.deliveryId,
              instance_id: state.instanceId,
              step_id: effect.stepId,
              visit: effect.visit,
              request: JSON.stringify({
                url: effect.step.url,
                method: effect.step.method,
                headers: effect.step.headers ?? {},
                body: {
                  ...effect.step.body,
                  workflowId: state.workflowId,
                  instanceId: state.instanceId,
                  contactId: state.contactId,
                  stepId: effect.stepId,
                },
              }),
              due_at: at,
              leased_until: null,
            })
            .onConflict(['org_id', 'delivery_id'])
            .merge(['due_at', 'leased_until']);
          void trx.executionPromise.then(
            () => deps.onWebhooks?.(),
            () => undefined,
          );
          break;
        default:
          break;
      }
    }
    return lookback;
  };

  const persist = async (
    trx: Knex.Transaction,
    orgId: string,
    before: number,
    result: EngineResult,
    at: Date,
    chain: Chain,
  ): Promise<{ streamVersion: number; lookback?: Extract<Effect, { kind: 'register-wait' }> }> => {
    const { state } = result;
    const metadata = rt.eventMetadata(chain);
    const key = `${orgId}:${state.contactId}`;
    const events: NewEvent[] = result.events.map((e, i) => ({
      id: stableId('workflow-instance', orgId, state.instanceId, before + i + 1),
      type: e.type,
      data: e.data,
      metadata,
      topic: workflowInstancesTopic.name,
      key,
      occurredAt: at,
    }));
    events.push(...effectEvents(orgId, state, result.effects, at, metadata));
    let streamVersion = before;
    if (events.length > 0) {
      // The instance's row is locked FOR UPDATE (or was just inserted): its only writer.
      const appended = await rt.eventStore.append(
        trx,
        {
          orgId,
          streamType: INSTANCE_STREAM,
          streamId: state.instanceId,
          expectedVersion: before === 0 ? 'no_stream' : before,
          events,
        },
        { streamLocked: true },
      );
      streamVersion = appended.nextVersion;
      void trx.executionPromise.then(
        () => rt.relay.wake(),
        () => undefined,
      );
    }
    const lookback = await applyEffects(trx, orgId, state, result.effects, at);
    await writeHistory(trx, orgId, state, result.decisions, at);
    await trx('instances')
      .where({ org_id: orgId, instance_id: state.instanceId })
      .update({
        status: state.status,
        version: state.version,
        step_id: state.stepId ?? null,
        state: JSON.stringify(state),
        stream_version: streamVersion,
        last_error: state.lastError ?? null,
        updated_at: at,
      });
    if (ENDED.has(state.status))
      await trx('enrollments')
        .where({
          org_id: orgId,
          workflow_id: state.workflowId,
          contact_id: state.contactId,
          running_instance_id: state.instanceId,
        })
        .update({ running_instance_id: null });
    return lookback ? { streamVersion, lookback } : { streamVersion };
  };

  const runner: Runner = {
    async record(trx, orgId, contactId, workflowId, decision, at, instanceId) {
      await writeHistory(
        trx,
        orgId,
        { contactId, workflowId, ...(instanceId ? { instanceId } : {}) },
        [decision],
        at,
      );
    },

    async enroll(trx, orgId, request) {
      const { workflowId, contactId, definition, at } = request;
      const refuse = async (reason: string, instanceId?: string): Promise<EnrollOutcome> => {
        await runner.record(
          trx,
          orgId,
          contactId,
          workflowId,
          {
            kind: 'entry',
            outcome: 'not_entered',
            inputs: { reason, causeId: request.causeId, entry: request.entry },
          },
          at,
        );
        return instanceId ? { entered: false, reason, instanceId } : { entered: false, reason };
      };
      // The enrollment row is the lock: concurrent entries of one contact take turns here.
      await trx('enrollments')
        .insert({
          org_id: orgId,
          workflow_id: workflowId,
          contact_id: contactId,
          entries: 0,
          last_entered_at: new Date(0),
        })
        .onConflict(['org_id', 'workflow_id', 'contact_id'])
        .ignore();
      const enrollment = await trx('enrollments')
        .where({ org_id: orgId, workflow_id: workflowId, contact_id: contactId })
        .forUpdate()
        .first();
      const instanceId = stableId('workflow-instance', orgId, workflowId, contactId, request.causeId);
      if (await trx('instances').where({ org_id: orgId, instance_id: instanceId }).first('instance_id'))
        return { entered: false, reason: 'this entry was handled before', instanceId };
      const { reentry } = definition;
      if (enrollment.running_instance_id && !reentry.concurrent)
        return refuse(
          'already running (one running instance per contact)',
          enrollment.running_instance_id as string,
        );
      if (enrollment.entries > 0) {
        if (reentry.policy === 'once') return refuse('re-entry policy once: entered before');
        if (reentry.policy === 'once_per_period') {
          const since = at.getTime() - (reentry.periodDays ?? 0) * 86_400_000;
          if ((enrollment.last_entered_at as Date).getTime() > since)
            return refuse(
              `re-entry policy once per ${reentry.periodDays} days: entered ${(enrollment.last_entered_at as Date).toISOString()}`,
            );
        }
      }
      await trx('enrollments')
        .where({ org_id: orgId, workflow_id: workflowId, contact_id: contactId })
        .update({ entries: enrollment.entries + 1, last_entered_at: at, running_instance_id: instanceId });
      const initial = emptyState({ instanceId, workflowId, version: request.version, contactId });
      await trx('instances').insert({
        org_id: orgId,
        instance_id: instanceId,
        workflow_id: workflowId,
        version: request.version,
        contact_id: contactId,
        status: 'running',
        step_id: null,
        state: JSON.stringify(initial),
        stream_version: 0,
        started_at: at,
        updated_at: at,
      });
      const state = await runner.advance(
        trx,
        orgId,
        instanceId,
        {
          kind: 'start',
          at: request.event?.at ?? at.toISOString(),
          entry: request.entry,
          causeId: request.causeId,
          ...(request.event ? { event: request.event } : {}),
        },
        request.chain,
      );
      return { entered: true, instanceId, state: state! };
    },

    async advance(trx, orgId, instanceId, input, chain = {}, toVersion) {
      const row = (await trx('instances')
        .where({ org_id: orgId, instance_id: instanceId })
        .forUpdate()
        .first()) as InstanceRow | undefined;
      if (!row) return undefined;
      const workflow = await store.compiled(trx, orgId, row.workflow_id, toVersion ?? row.version);
      const contact = await contactOf(trx, orgId, row.contact_id);
      const allocations = await allocationsOf(trx, orgId, workflow);
      const at = new Date(input.at);
      const result = advance(row.state, input, {
        workflow,
        ...(contact ? { contact } : {}),
        ...(allocations ? { allocations } : {}),
      });
      const { lookback } = await persist(trx, orgId, row.stream_version, result, at, chain);
      let state = result.state;
      if (lookback) {
        // Judged by event time: an event that arrived before the wait was registered still counts.
        const earlier = await trx('contact_events')
          .where({ org_id: orgId, contact_id: row.contact_id, name: lookback.event })
          .where('occurred_at', '>=', lookback.since)
          .where('occurred_at', '<=', lookback.until)
          .orderBy('occurred_at')
          .limit(LOOKBACK_LIMIT);
        for (const e of earlier) {
          const next = await runner.advance(
            trx,
            orgId,
            instanceId,
            { kind: 'event', at: input.at, event: trackedOf(e) },
            chain,
          );
          if (!next) break;
          state = next;
          if (state.waiting?.stepId !== lookback.stepId || state.waiting.visit !== lookback.visit) break;
        }
      }
      return state;
    },
  };
  return runner;
}

export const trackedOf = (row: {
  event_id: string;
  name: string;
  occurred_at: Date;
  data: Record<string, unknown>;
}): TrackedEvent => ({
  id: row.event_id,
  name: row.name,
  at: row.occurred_at.toISOString(),
  data: row.data,
});

function actionOf(
  step: Extract<Effect, { kind: 'request-action' }>['step'],
  contactId: string,
): WorkflowAction {
  switch (step.kind) {
    case 'enroll_drip':
      return { kind: 'enroll_drip', dripId: step.dripId, contactId };
    case 'update_contact':
      return step.tags
        ? { kind: 'tag_contact', contactId, tags: step.tags }
        : { kind: 'set_traits', contactId, traits: step.traits ?? {} };
    case 'campaign_action': {
      const base = { campaignId: step.campaignId, platform: step.platform };
      if (step.action === 'pause') return { kind: 'pause_campaign', ...base };
      if (step.action === 'resume') return { kind: 'resume_campaign', ...base };
      return {
        kind: 'adjust_budget',
        ...base,
        mode: step.mode!,
        amount: step.amount!,
        ...(step.minBudget !== undefined ? { minBudget: step.minBudget } : {}),
        ...(step.maxBudget !== undefined ? { maxBudget: step.maxBudget } : {}),
      };
    }
  }
}
