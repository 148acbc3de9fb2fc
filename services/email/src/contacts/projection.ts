// The contacts email knows, from triggers' contact events: identify sets what it carries (an
// identify without an email keeps the address known before), alias copies the earlier identity
// to the new id when that has none of its own. Consent is email's own and is never overwritten.
import { contactsTopic, type ContactAliased, type ContactIdentified } from '@cmis/contracts';
import type { ServiceRuntime } from '@cmis/platform';
import type { Knex } from 'knex';
import { identityOf } from './contact';

export async function applyIdentified(
  trx: Knex.Transaction,
  orgId: string,
  data: ContactIdentified,
  at: Date,
): Promise<void> {
  const contactId = data.userId ?? data.anonymousId!;
  const identity = identityOf(data);
  await trx.raw(
    `insert into contacts (org_id, contact_id, address, name, time_zone, locale, traits, updated_at)
     values (?, ?, ?, ?, ?, ?, ?::jsonb, ?)
     on conflict (org_id, contact_id) do update set
       address = coalesce(excluded.address, contacts.address),
       name = coalesce(excluded.name, contacts.name),
       time_zone = coalesce(excluded.time_zone, contacts.time_zone),
       locale = coalesce(excluded.locale, contacts.locale),
       traits = contacts.traits || excluded.traits,
       updated_at = excluded.updated_at`,
    [
      orgId,
      contactId,
      identity.address ?? null,
      identity.name ?? null,
      identity.timeZone ?? null,
      identity.locale ?? null,
      JSON.stringify(data.traits),
      at,
    ],
  );
}

async function applyAliased(trx: Knex.Transaction, orgId: string, data: ContactAliased, at: Date) {
  await trx.raw(
    `insert into contacts (org_id, contact_id, address, name, time_zone, locale, traits,
                           unsubscribed_at, unsubscribed_topics, updated_at)
     select org_id, ?, address, name, time_zone, locale, traits, unsubscribed_at, unsubscribed_topics, ?
       from contacts where org_id = ? and contact_id = ?
     on conflict (org_id, contact_id) do nothing`,
    [data.userId, at, orgId, data.previousId],
  );
}

export function startContactsProjection(rt: ServiceRuntime, now: () => Date) {
  return rt.consume({
    groupId: `${rt.name}.contacts`,
    topics: [contactsTopic.name],
    async apply(events, { trx, orgId }) {
      for (const { envelope } of events) {
        if (envelope.type === 'cmis.triggers.contact-identified')
          await applyIdentified(trx, orgId, envelope.data as ContactIdentified, now());
        else if (envelope.type === 'cmis.triggers.contact-aliased')
          await applyAliased(trx, orgId, envelope.data as ContactAliased, now());
      }
    },
  });
}
