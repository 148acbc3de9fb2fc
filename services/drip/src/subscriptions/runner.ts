// The service side of a subscription: enrollment (idempotent per campaign and contact, with the
// re-enrollment policy), and each progress step in the caller's transaction — its events on the
// subscriptions topic and, in the same stream, the email request on cmis.email.requests.v1, the
// subscription's one durable timer set or cancelled, the snapshot updated. A retry after a crash
// decides the same: the timer fires again, and the step's idempotency key is the same.
import { dripSubscriptionsTopic, emailRequestsTopic, type EmailRequested } from '@cmis/contracts';
import { cancelTimer, scheduleTimer, stableId, type NewEvent, type ServiceRuntime } from '@cmis/platform';
import type { Knex } from 'knex';
import type { CampaignStore } from '../campaigns/store';
import {
  ENDED,
  onTimer,
  scheduleNext,
  type CompiledCampaign,
  type Outcome,
  type Subscription,
} from './progress';

export const SUBSCRIPTION_STREAM = 'drip-subscription';
export const STEP_TIMER = 'drip-step';
export const timerIdOf = (subscriptionId: string) => `drip:${subscriptionId}`;

export type EntryKind = 'event' | 'identify' | 'rule' | 'workflow' | 'api' | 'segment';
export interface Chain {
  correlationId?: string;
  causationId?: string;
  actor?: string;
}

export type EnrollOutcome =
  | { enrolled: true; subscriptionId: string; sendAt?: string }
  | { enrolled: false; reason: string; subscriptionId?: string };

type Row = {
  subscription_id: string;
  drip_id: string;
  contact_id: string;
  state: Subscription;
  stream_version: number;
};

export function createSubscriptionRunner(deps: {
  rt: ServiceRuntime;
  store: CampaignStore;
  onDueSoon?: () => void;
}) {
  const { rt, store } = deps;

  const contactOf = async (trx: Knex.Transaction, orgId: string, contactId: string) =>
    (await trx('contacts').where({ org_id: orgId, contact_id: contactId }).first('traits'))?.traits as
      Record<string, unknown> | undefined;

  const history = (
    trx: Knex.Transaction,
    orgId: string,
    row: {
      contactId: string;
      dripId: string;
      subscriptionId?: string;
      stepId?: string;
      kind: string;
      outcome: string;
      detail: Record<string, unknown>;
      at: Date;
    },
  ) =>
    trx('history').insert({
      org_id: orgId,
      contact_id: row.contactId,
      drip_id: row.dripId,
      subscription_id: row.subscriptionId ?? null,
      step_id: row.stepId ?? null,
      kind: row.kind,
      outcome: row.outcome,
      detail: JSON.stringify(row.detail),
      at: row.at,
    });

  /** Appends an outcome's events (and email request) and applies its timer and snapshot. */
  const apply = async (
    trx: Knex.Transaction,
    orgId: string,
    before: number,
    outcome: Outcome,
    extra: NewEvent[],
    at: Date,
    chain: Chain,
  ) => {
    const { state } = outcome;
    const metadata = rt.eventMetadata(chain);
    const key = `${orgId}:${state.contactId}`;
    const events: NewEvent[] = [...extra];
    outcome.events.forEach((e) =>
      events.push({
        id: stableId('drip-subscription', orgId, state.subscriptionId, before + events.length + 1),
        type: e.type,
        data: e.data,
        metadata,
        topic: dripSubscriptionsTopic.name,
        key,
        occurredAt: at,
      }),
    );
    if (outcome.email) {
      const data: EmailRequested = {
        idempotencyKey: outcome.email.idempotencyKey,
        to: { kind: 'contact', contactId: state.contactId },
        content: { kind: 'template', templateId: outcome.email.step.templateId },
        data: { ...(state.enrollEvent ? { event: state.enrollEvent } : {}) },
        origin: {
          kind: 'drip',
          id: state.dripId,
          stepId: outcome.email.step.id,
          instanceId: state.subscriptionId,
        },
      };
      const campaign = (await store.campaigns.get(orgId)).byId.get(state.dripId);
      if (campaign) data.origin.version = campaign.version;
      if (campaign?.campaign.subscriptionTopic) data.subscriptionTopic = campaign.campaign.subscriptionTopic;
      events.push({
        id: stableId('drip-email', orgId, outcome.email.idempotencyKey),
        type: 'cmis.email.send-requested',
        data,
        metadata,
        topic: emailRequestsTopic.name,
        key,
        occurredAt: at,
      });
    }
    let streamVersion = before;
    if (events.length > 0) {
      // The subscription's row is locked FOR UPDATE (or was just inserted): its only writer.
      const appended = await rt.eventStore.append(
        trx,
        {
          orgId,
          streamType: SUBSCRIPTION_STREAM,
          streamId: state.subscriptionId,
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
    if (outcome.timer === 'cancel') await cancelTimer(trx, orgId, timerIdOf(state.subscriptionId));
    else if (outcome.timer) {
      await scheduleTimer(trx, {
        orgId,
        timerId: timerIdOf(state.subscriptionId),
        kind: STEP_TIMER,
        dueAt: new Date(outcome.timer.sendAt),
        payload: { subscriptionId: state.subscriptionId },
      });
      if (Date.parse(outcome.timer.sendAt) <= at.getTime() + 1_000)
        void trx.executionPromise.then(
          () => deps.onDueSoon?.(),
          () => undefined,
        );
    }
    await trx('subscriptions')
      .where({ org_id: orgId, subscription_id: state.subscriptionId })
      .update({
        status: state.status,
        state: JSON.stringify(state),
        stream_version: streamVersion,
        next_step_id: state.nextStepId ?? null,
        send_at: state.sendAt ?? null,
        updated_at: at,
      });
    if (ENDED.has(state.status))
      await trx('enrollments')
        .where({
          org_id: orgId,
          drip_id: state.dripId,
          contact_id: state.contactId,
          active_subscription_id: state.subscriptionId,
        })
        .update({ active_subscription_id: null });
    return state;
  };

  const runner = {
    history,

    /** Enrolls a contact in an active campaign, unless its policy refuses; the refusal is recorded. */
    async enroll(
      trx: Knex.Transaction,
      orgId: string,
      campaign: CompiledCampaign,
      request: {
        contactId: string;
        entry: EntryKind;
        causeId: string;
        at: Date;
        event?: Record<string, unknown>;
        chain?: Chain;
      },
    ): Promise<EnrollOutcome> {
      const { contactId, at } = request;
      const refuse = async (reason: string, subscriptionId?: string): Promise<EnrollOutcome> => {
        await history(trx, orgId, {
          contactId,
          dripId: campaign.dripId,
          kind: 'enrollment',
          outcome: 'refused',
          detail: { reason, causeId: request.causeId, entry: request.entry },
          at,
        });
        return subscriptionId ? { enrolled: false, reason, subscriptionId } : { enrolled: false, reason };
      };
      await trx('enrollments')
        .insert({
          org_id: orgId,
          drip_id: campaign.dripId,
          contact_id: contactId,
          count: 0,
          last_enrolled_at: new Date(0),
        })
        .onConflict(['org_id', 'drip_id', 'contact_id'])
        .ignore();
      const enrollment = await trx('enrollments')
        .where({ org_id: orgId, drip_id: campaign.dripId, contact_id: contactId })
        .forUpdate()
        .first();
      const subscriptionId = stableId(
        'drip-subscription',
        orgId,
        campaign.dripId,
        contactId,
        enrollment.count + 1,
      );
      if (enrollment.active_subscription_id)
        return refuse('already subscribed', enrollment.active_subscription_id as string);
      const { policy, days } = campaign.campaign.reentry;
      if (enrollment.count > 0) {
        if (policy === 'never') return refuse('re-enrollment policy never: enrolled before');
        if (
          policy === 'after_days' &&
          (enrollment.last_enrolled_at as Date).getTime() > at.getTime() - days! * 86_400_000
        )
          return refuse(
            `re-enrollment policy after ${days} days: enrolled ${(enrollment.last_enrolled_at as Date).toISOString()}`,
          );
      }
      await trx('enrollments')
        .where({ org_id: orgId, drip_id: campaign.dripId, contact_id: contactId })
        .update({
          count: enrollment.count + 1,
          last_enrolled_at: at,
          active_subscription_id: subscriptionId,
        });
      const sub: Subscription = {
        subscriptionId,
        dripId: campaign.dripId,
        contactId,
        status: 'active',
        enrollment: enrollment.count + 1,
        enrolledAt: at.toISOString(),
        doneStepIds: [],
        ...(request.event ? { enrollEvent: request.event } : {}),
      };
      await trx('subscriptions').insert({
        org_id: orgId,
        subscription_id: subscriptionId,
        drip_id: campaign.dripId,
        contact_id: contactId,
        status: 'active',
        state: JSON.stringify(sub),
        stream_version: 0,
        enrolled_at: at,
        updated_at: at,
      });
      const enrolled: NewEvent = {
        id: stableId('drip-subscription', orgId, subscriptionId, 1),
        type: 'cmis.drip.subscriber-enrolled',
        data: {
          subscriptionId,
          dripId: campaign.dripId,
          contactId,
          dripVersion: campaign.version,
          entry: request.entry,
          causeId: request.causeId,
          enrollment: sub.enrollment,
        },
        metadata: rt.eventMetadata(request.chain ?? {}),
        topic: dripSubscriptionsTopic.name,
        key: `${orgId}:${contactId}`,
        occurredAt: at,
      };
      const state = await apply(
        trx,
        orgId,
        0,
        scheduleNext(campaign, sub, at.toISOString(), await contactOf(trx, orgId, contactId)),
        [enrolled],
        at,
        request.chain ?? {},
      );
      return { enrolled: true, subscriptionId, ...(state.sendAt ? { sendAt: state.sendAt } : {}) };
    },

    /** Runs `decide` on the locked subscription and applies what it decided. */
    async progress(
      trx: Knex.Transaction,
      orgId: string,
      subscriptionId: string,
      at: Date,
      decide: (campaign: CompiledCampaign, sub: Subscription, contact?: Record<string, unknown>) => Outcome,
      chain: Chain = {},
    ): Promise<Subscription | undefined> {
      const row = (await trx('subscriptions')
        .where({ org_id: orgId, subscription_id: subscriptionId })
        .forUpdate()
        .first()) as Row | undefined;
      if (!row) return undefined;
      const campaign = (await store.campaigns.get(orgId)).byId.get(row.drip_id);
      // An archived campaign sends nothing more: its subscribers exit.
      const decided: Outcome = campaign
        ? decide(campaign, row.state, await contactOf(trx, orgId, row.contact_id))
        : {
            state: { ...row.state, status: 'exited' },
            events: [
              {
                type: 'cmis.drip.subscriber-exited',
                data: {
                  subscriptionId,
                  dripId: row.drip_id,
                  contactId: row.contact_id,
                  reason: 'the campaign was archived',
                },
              },
            ],
            timer: 'cancel',
          };
      if (decided.events.length === 0 && !decided.timer && decided.state === row.state) return row.state;
      return apply(trx, orgId, row.stream_version, decided, [], at, chain);
    },

    /** The subscription's timer fired. */
    fire(trx: Knex.Transaction, orgId: string, subscriptionId: string, at: Date) {
      return runner.progress(trx, orgId, subscriptionId, at, (c, sub, contact) =>
        onTimer(c, sub, at.toISOString(), contact),
      );
    },
  };
  return runner;
}
export type SubscriptionRunner = ReturnType<typeof createSubscriptionRunner>;
