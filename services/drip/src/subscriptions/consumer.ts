// What the drip service learns from others: contacts (traits, time zone, address; identify can
// enroll), track calls (entries, exits, goals), the rules' and workflows' enroll-in-drip actions,
// unsubscribes and suppressions from email (every drip of that contact exits), and what became of
// each step's email (into the subscription's history), and analytics segment membership (a
// campaign may enter on segment-entered and exit on segment-exited).
import {
  contactIdOf,
  contactsTopic,
  emailMessagesTopic,
  emailSubscriptionsTopic,
  ruleActionsTopic,
  segmentEventsTopic,
  userActionsTopic,
  workflowActionsTopic,
  type ActionRequested,
  type ActionTracked,
  type AddressSuppressed,
  type ContactIdentified,
  type ContactUnsubscribed,
  type EventEnvelope,
  type MessageFailed,
  type SegmentEntered,
  type SegmentExited,
  type WorkflowActionRequested,
} from '@cmis/contracts';
import type { ServiceRuntime } from '@cmis/platform';
import type { Knex } from 'knex';
import type { CampaignStore, Matching } from '../campaigns/store';
import { onEnd } from './progress';
import type { Chain, EntryKind, SubscriptionRunner } from './runner';

const EMAIL_OUTCOMES: Record<string, string> = {
  'cmis.email.message-sent': 'sent',
  'cmis.email.message-suppressed': 'suppressed',
  'cmis.email.message-failed': 'failed',
  'cmis.email.message-bounced': 'bounced',
};

export async function startConsumers(deps: {
  rt: ServiceRuntime;
  store: CampaignStore;
  runner: SubscriptionRunner;
}): Promise<void> {
  const { rt, store, runner } = deps;
  const chainOf = (e: EventEnvelope): Chain => ({ correlationId: e.correlationId, causationId: e.id });

  const activeOf = (trx: Knex.Transaction, orgId: string, contactId: string) =>
    trx('subscriptions')
      .where({ org_id: orgId, contact_id: contactId })
      .whereIn('status', ['active', 'held'])
      .select('subscription_id', 'drip_id');

  const endAll = async (
    trx: Knex.Transaction,
    orgId: string,
    contactId: string,
    at: Date,
    reason: string,
    causeId: string,
    only?: (dripId: string) => boolean,
  ) => {
    for (const s of await activeOf(trx, orgId, contactId)) {
      if (only && !only(s.drip_id as string)) continue;
      await runner.progress(trx, orgId, s.subscription_id as string, at, (_c, sub) =>
        onEnd(sub, { kind: 'exited', reason, causeId }),
      );
    }
  };

  const enrollByAction = async (
    trx: Knex.Transaction,
    orgId: string,
    dripId: string,
    contactId: string,
    entry: EntryKind,
    causeId: string,
    envelope: EventEnvelope,
  ) => {
    const campaign = (await store.campaigns.get(orgId)).byId.get(dripId);
    const at = new Date(envelope.time);
    if (!campaign || campaign.status !== 'active') {
      await runner.history(trx, orgId, {
        contactId,
        dripId,
        kind: 'enrollment',
        outcome: 'refused',
        detail: { reason: campaign ? `the drip is ${campaign.status}` : 'no such drip', causeId, entry },
        at,
      });
      return;
    }
    await runner.enroll(trx, orgId, campaign, { contactId, entry, causeId, at, chain: chainOf(envelope) });
  };

  await rt.consume({
    groupId: `${rt.name}.contacts`,
    topics: [contactsTopic.name],
    handle: async ({ envelope }, { trx, orgId }) => {
      if (envelope.type !== 'cmis.triggers.contact-identified') return;
      const data = envelope.data as ContactIdentified;
      const contactId = contactIdOf(data);
      const [row] = await trx('contacts')
        .insert({
          org_id: orgId,
          contact_id: contactId,
          traits: JSON.stringify(data.traits),
          email: typeof data.traits.email === 'string' ? data.traits.email.toLowerCase() : null,
        })
        .onConflict(['org_id', 'contact_id'])
        .merge({
          traits: trx.raw('contacts.traits || excluded.traits'),
          email: trx.raw('coalesce(excluded.email, contacts.email)'),
        })
        .returning('traits');
      const at = new Date(data.timestamp);
      for (const campaign of (await store.campaigns.get(orgId)).onIdentify as Matching[]) {
        if (!campaign.matches('entry', { contact: row.traits as Record<string, unknown> })) continue;
        await runner.enroll(trx, orgId, campaign, {
          contactId,
          entry: 'identify',
          causeId: envelope.id,
          at,
          chain: chainOf(envelope),
        });
      }
    },
  });

  await rt.consume({
    groupId: `${rt.name}.user-actions`,
    topics: [userActionsTopic.name],
    handle: async ({ envelope }, { trx, orgId }) => {
      if (envelope.type !== 'cmis.triggers.action-tracked') return;
      const data = envelope.data as ActionTracked;
      const contactId = contactIdOf(data);
      const at = new Date(data.timestamp);
      const event = { name: data.event, properties: data.properties, timestamp: at.toISOString() };
      const campaigns = await store.campaigns.get(orgId);
      for (const s of await activeOf(trx, orgId, contactId)) {
        const c = campaigns.byId.get(s.drip_id as string) as Matching | undefined;
        if (!c) continue;
        const { goal, exits } = c.campaign;
        if (goal && goal.event === data.event && c.matches('goal', { event })) {
          await runner.progress(
            trx,
            orgId,
            s.subscription_id as string,
            at,
            (_c, sub) => onEnd(sub, { kind: 'converted', goal: data.event, causeId: envelope.id }),
            chainOf(envelope),
          );
          continue;
        }
        const exit = exits.findIndex((e, i) => e.event === data.event && c.matches(`exit.${i}`, { event }));
        if (exit >= 0)
          await runner.progress(
            trx,
            orgId,
            s.subscription_id as string,
            at,
            (_c, sub) =>
              onEnd(sub, { kind: 'exited', reason: `exit event ${data.event}`, causeId: envelope.id }),
            chainOf(envelope),
          );
      }
      for (const campaign of (campaigns.byEntryEvent.get(data.event) ?? []) as Matching[]) {
        const contact = (
          await trx('contacts').where({ org_id: orgId, contact_id: contactId }).first('traits')
        )?.traits as Record<string, unknown> | undefined;
        if (!campaign.matches('entry', { event, ...(contact ? { contact } : {}) })) continue;
        await runner.enroll(trx, orgId, campaign, {
          contactId,
          entry: 'event',
          causeId: envelope.id,
          at,
          event,
          chain: chainOf(envelope),
        });
      }
    },
  });

  await rt.consume({
    groupId: `${rt.name}.actions`,
    topics: [ruleActionsTopic.name, workflowActionsTopic.name],
    handle: async ({ envelope }, { trx, orgId }) => {
      if (envelope.type === 'cmis.rules.action-requested') {
        const { action, actionId } = envelope.data as ActionRequested;
        if (action.kind === 'enroll_drip')
          await enrollByAction(trx, orgId, action.dripId, action.contactId, 'rule', actionId, envelope);
      } else if (envelope.type === 'cmis.workflows.action-requested') {
        const { action, actionId } = envelope.data as WorkflowActionRequested;
        if (action.kind === 'enroll_drip')
          await enrollByAction(trx, orgId, action.dripId, action.contactId, 'workflow', actionId, envelope);
      }
    },
  });

  await rt.consume({
    groupId: `${rt.name}.email-subscriptions`,
    topics: [emailSubscriptionsTopic.name],
    handle: async ({ envelope }, { trx, orgId }) => {
      const at = new Date(envelope.time);
      if (envelope.type === 'cmis.email.contact-unsubscribed') {
        const data = envelope.data as ContactUnsubscribed & { contactId?: string };
        if (!data.contactId) return;
        const campaigns = await store.campaigns.get(orgId);
        const only =
          data.scope === 'topic'
            ? (dripId: string) => campaigns.byId.get(dripId)?.campaign.subscriptionTopic === data.topic
            : undefined;
        await endAll(
          trx,
          orgId,
          data.contactId,
          at,
          data.scope === 'topic' ? `unsubscribed from ${data.topic}` : 'unsubscribed',
          envelope.id,
          only,
        );
      } else if (envelope.type === 'cmis.email.address-suppressed') {
        const data = envelope.data as AddressSuppressed & { contactId?: string; address?: string };
        const contacts = data.contactId
          ? [data.contactId]
          : data.address
            ? (
                await trx('contacts')
                  .where({ org_id: orgId, email: data.address.toLowerCase() })
                  .select('contact_id')
              ).map((r) => r.contact_id as string)
            : [];
        for (const contactId of contacts)
          await endAll(trx, orgId, contactId, at, `suppressed: ${data.reason}`, envelope.id);
      }
    },
  });

  await rt.consume({
    groupId: `${rt.name}.segments`,
    topics: [segmentEventsTopic.name],
    handle: async ({ envelope }, { trx, orgId }) => {
      const at = new Date(envelope.time);
      if (envelope.type === 'cmis.analytics.segment-entered') {
        const data = envelope.data as SegmentEntered;
        const entering = (await store.campaigns.get(orgId)).byEntrySegment.get(data.segmentId) ?? [];
        if (entering.length === 0) return;
        const contact = (
          await trx('contacts').where({ org_id: orgId, contact_id: data.contactId }).first('traits')
        )?.traits as Record<string, unknown> | undefined;
        for (const campaign of entering as Matching[]) {
          if (!campaign.matches('entry', contact ? { contact } : {})) continue;
          await runner.enroll(trx, orgId, campaign, {
            contactId: data.contactId,
            entry: 'segment',
            causeId: envelope.id,
            at,
            chain: chainOf(envelope),
          });
        }
      } else if (envelope.type === 'cmis.analytics.segment-exited') {
        const data = envelope.data as SegmentExited;
        const campaigns = await store.campaigns.get(orgId);
        const exiting = [...campaigns.byId.values()].some((c) =>
          c.campaign.exitOnSegmentExit?.includes(data.segmentId),
        );
        if (!exiting) return;
        await endAll(
          trx,
          orgId,
          data.contactId,
          at,
          `segment exited ${data.segmentId}`,
          envelope.id,
          (dripId) =>
            campaigns.byId.get(dripId)?.campaign.exitOnSegmentExit?.includes(data.segmentId) ?? false,
        );
      }
    },
  });

  await rt.consume({
    groupId: `${rt.name}.email-messages`,
    topics: [emailMessagesTopic.name],
    handle: async ({ envelope }, { trx, orgId }) => {
      const outcome = EMAIL_OUTCOMES[envelope.type];
      const data = envelope.data as MessageFailed & { reason: string };
      if (!outcome || data.origin.kind !== 'drip' || !data.contactId) return;
      await runner.history(trx, orgId, {
        contactId: data.contactId,
        dripId: data.origin.id,
        ...(data.origin.instanceId ? { subscriptionId: data.origin.instanceId } : {}),
        ...(data.origin.stepId ? { stepId: data.origin.stepId } : {}),
        kind: 'email',
        outcome,
        detail: { messageId: data.messageId, ...(data.reason ? { reason: data.reason } : {}) },
        at: new Date(envelope.time),
      });
      if (outcome === 'failed' && data.origin.instanceId)
        await trx('subscriptions')
          .where({ org_id: orgId, subscription_id: data.origin.instanceId })
          .update({ last_error: `step ${data.origin.stepId}: ${data.reason}` });
    },
  });
}
