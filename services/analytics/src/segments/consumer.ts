// What segments learn from others, each in its own consumer group: traits (identify), track
// calls (counted by name), human email opens and clicks, and RFM moves (from this service's
// own result topic). Each evaluates the contact in the same transaction as the projection change.
import {
  contactIdOf,
  contactsTopic,
  emailMessagesTopic,
  segmentEventsTopic,
  userActionsTopic,
  type ActionTracked,
  type ContactIdentified,
  type EventEnvelope,
  type MessageOpened,
  type RfmChanged,
} from '@cmis/contracts';
import type { ServiceRuntime } from '@cmis/platform';
import type { Membership } from './membership';

const chainOf = (e: EventEnvelope) => ({ correlationId: e.correlationId, causationId: e.id });
const ENGAGEMENT: Record<string, 'opened' | 'clicked'> = {
  'cmis.email.message-opened': 'opened',
  'cmis.email.message-clicked': 'clicked',
};

export async function startSegmentConsumers(deps: { rt: ServiceRuntime; membership: Membership }) {
  const { rt, membership } = deps;

  await rt.consume({
    groupId: `${rt.name}.segments.contacts`,
    topics: [contactsTopic.name],
    handle: async ({ envelope }, { trx, orgId }) => {
      if (envelope.type !== 'cmis.triggers.contact-identified') return;
      const data = envelope.data as ContactIdentified;
      const contactId = contactIdOf(data);
      await trx('seg_contacts')
        .insert({ org_id: orgId, contact_id: contactId, traits: JSON.stringify(data.traits) })
        .onConflict(['org_id', 'contact_id'])
        .merge({ traits: trx.raw('seg_contacts.traits || excluded.traits') });
      await membership.evaluate(trx, orgId, contactId, {
        causeId: envelope.id,
        reason: 'traits changed',
        chain: chainOf(envelope),
      });
    },
  });

  await rt.consume({
    groupId: `${rt.name}.segments.user-actions`,
    topics: [userActionsTopic.name],
    handle: async ({ envelope }, { trx, orgId }) => {
      if (envelope.type !== 'cmis.triggers.action-tracked') return;
      const data = envelope.data as ActionTracked;
      const contactId = contactIdOf(data);
      await membership.know(trx, orgId, [contactId]);
      await trx('seg_events').insert({
        org_id: orgId,
        contact_id: contactId,
        source: 'track',
        event: data.event,
        at: new Date(data.timestamp),
      });
      await membership.evaluate(trx, orgId, contactId, {
        causeId: envelope.id,
        reason: `event ${data.event}`,
        chain: chainOf(envelope),
      });
    },
  });

  await rt.consume({
    groupId: `${rt.name}.segments.email-messages`,
    topics: [emailMessagesTopic.name],
    handle: async ({ envelope }, { trx, orgId }) => {
      const action = ENGAGEMENT[envelope.type];
      const data = envelope.data as MessageOpened;
      // Machine opens and clicks (privacy proxies, scanners) are not engagement.
      if (!action || !data.contactId || data.machine) return;
      await membership.know(trx, orgId, [data.contactId]);
      await trx('seg_events').insert({
        org_id: orgId,
        contact_id: data.contactId,
        source: 'email',
        event: action,
        at: new Date(envelope.time),
      });
      await membership.evaluate(trx, orgId, data.contactId, {
        causeId: envelope.id,
        reason: `email ${action}`,
        chain: chainOf(envelope),
      });
    },
  });

  await rt.consume({
    groupId: `${rt.name}.segments.rfm`,
    topics: [segmentEventsTopic.name],
    handle: async ({ envelope }, { trx, orgId }) => {
      if (envelope.type !== 'cmis.analytics.rfm-changed') return;
      const data = envelope.data as RfmChanged;
      await membership.know(trx, orgId, [data.contactId]);
      await trx('seg_rfm')
        .insert({ org_id: orgId, contact_id: data.contactId, segment: data.segment })
        .onConflict(['org_id', 'contact_id'])
        .merge(['segment']);
      await membership.evaluate(trx, orgId, data.contactId, {
        causeId: envelope.id,
        reason: `rfm segment ${data.segment}`,
        chain: chainOf(envelope),
      });
    },
  });
}
