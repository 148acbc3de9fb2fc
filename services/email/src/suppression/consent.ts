// Who may be emailed: suppressed addresses (hard bounces, complaints, soft bounces over the org's
// limit, manual) and contacts' unsubscribes, each change an event on the subscriptions topic.
// Checked when a message is requested and again just before it is handed to SMTP.
import { emailSubscriptionsTopic, type SuppressionReason } from '@cmis/contracts';
import { stableId, type ServiceRuntime } from '@cmis/platform';
import type { Knex } from 'knex';

export interface Consent {
  suppressed?: { reason: SuppressionReason; detail?: string };
}

const ADDRESS_STREAM = 'email-address';

async function publish(
  rt: ServiceRuntime,
  trx: Knex.Transaction,
  orgId: string,
  subject: string,
  id: string,
  type: string,
  data: Record<string, unknown>,
  at: Date,
  chain: { correlationId?: string; causationId?: string } = {},
) {
  await rt.eventStore.append(trx, {
    orgId,
    streamType: ADDRESS_STREAM,
    streamId: subject.slice(0, 200),
    expectedVersion: 'any',
    events: [
      {
        id,
        type,
        data,
        metadata: rt.eventMetadata(chain),
        topic: emailSubscriptionsTopic.name,
        key: `${orgId}:${subject}`,
        occurredAt: at,
      },
    ],
  });
  void trx.executionPromise.then(
    () => rt.relay.wake(),
    () => undefined,
  );
}

/** Why an address may not be sent to, if it may not; for a contact also its unsubscribes. */
export async function consentOf(
  trx: Knex.Transaction,
  orgId: string,
  address: string,
  contact?: { unsubscribed_at: Date | null; unsubscribed_topics: string[] },
  message?: { transactional: boolean; subscriptionTopic?: string | null },
): Promise<Consent> {
  const row = await trx('suppressions').where({ org_id: orgId, address }).first('reason', 'detail');
  if (row)
    return { suppressed: { reason: row.reason as SuppressionReason, detail: row.detail ?? undefined } };
  // Transactional mail (receipts, password resets, alerts) is not marketing: unsubscribes do not stop it.
  if (!contact || message?.transactional) return {};
  if (contact.unsubscribed_at) return { suppressed: { reason: 'unsubscribed' } };
  const topic = message?.subscriptionTopic;
  if (topic && contact.unsubscribed_topics.includes(topic))
    return { suppressed: { reason: 'topic_unsubscribed', detail: topic } };
  return {};
}

/** Suppresses an address (once: a suppression already there keeps its first reason). */
export async function suppressAddress(
  rt: ServiceRuntime,
  trx: Knex.Transaction,
  orgId: string,
  input: {
    address: string;
    reason: SuppressionReason;
    messageId?: string;
    detail?: string;
    contactId?: string;
  },
  at: Date,
): Promise<boolean> {
  const inserted = await trx('suppressions')
    .insert({
      org_id: orgId,
      address: input.address,
      reason: input.reason,
      message_id: input.messageId ?? null,
      detail: input.detail?.slice(0, 1000) ?? null,
      at,
    })
    .onConflict(['org_id', 'address'])
    .ignore()
    .returning('address');
  if (inserted.length === 0) return false;
  await publish(
    rt,
    trx,
    orgId,
    input.contactId ?? input.address,
    stableId(orgId, input.address, 'suppressed', at.toISOString()),
    'cmis.email.address-suppressed',
    {
      address: input.address,
      reason: input.reason,
      ...(input.contactId ? { contactId: input.contactId } : {}),
      ...(input.messageId ? { messageId: input.messageId } : {}),
      ...(input.detail ? { detail: input.detail.slice(0, 1000) } : {}),
    },
    at,
  );
  return true;
}

export async function unsuppressAddress(
  rt: ServiceRuntime,
  trx: Knex.Transaction,
  orgId: string,
  address: string,
  at: Date,
): Promise<boolean> {
  const removed = await trx('suppressions').where({ org_id: orgId, address }).delete();
  await trx('soft_bounces').where({ org_id: orgId, address }).delete();
  if (removed === 0) return false;
  await publish(
    rt,
    trx,
    orgId,
    address,
    stableId(orgId, address, 'unsuppressed', at.toISOString()),
    'cmis.email.address-unsuppressed',
    { address },
    at,
  );
  return true;
}

/** Counts a soft bounce; at the org's limit the address is suppressed. */
export async function recordSoftBounce(
  rt: ServiceRuntime,
  trx: Knex.Transaction,
  orgId: string,
  input: { address: string; messageId: string; contactId?: string; reason: string },
  limit: number,
  at: Date,
): Promise<void> {
  const { rows } = await trx.raw<{ rows: Array<{ count: number }> }>(
    `insert into soft_bounces (org_id, address, count, last_at) values (?, ?, 1, ?)
     on conflict (org_id, address) do update set count = soft_bounces.count + 1, last_at = excluded.last_at
     returning count`,
    [orgId, input.address, at],
  );
  if (rows[0]!.count >= limit)
    await suppressAddress(
      rt,
      trx,
      orgId,
      {
        ...input,
        reason: 'soft_bounce_limit',
        detail: `${rows[0]!.count} soft bounces; last: ${input.reason}`,
      },
      at,
    );
}

export type UnsubscribeMethod = 'one_click' | 'link' | 'mailto' | 'preferences' | 'api';

/** Unsubscribes a contact from all marketing email or from one topic; false if it already was. */
export async function unsubscribeContact(
  rt: ServiceRuntime,
  trx: Knex.Transaction,
  orgId: string,
  input: {
    contactId?: string;
    address: string;
    scope: 'all' | 'topic';
    topic?: string;
    messageId?: string;
    method: UnsubscribeMethod;
  },
  at: Date,
): Promise<boolean> {
  if (input.contactId) {
    const changed =
      input.scope === 'all'
        ? await trx('contacts')
            .where({ org_id: orgId, contact_id: input.contactId })
            .whereNull('unsubscribed_at')
            .update({ unsubscribed_at: at, updated_at: at })
        : await trx('contacts')
            .where({ org_id: orgId, contact_id: input.contactId })
            .whereRaw('not (? = any(unsubscribed_topics))', [input.topic!])
            .update({
              unsubscribed_topics: trx.raw('array_append(unsubscribed_topics, ?)', [input.topic!]),
              updated_at: at,
            });
    if (changed === 0) return false;
  } else {
    // A bare address (no contact): unsubscribing it from everything suppresses it.
    return suppressAddress(
      rt,
      trx,
      orgId,
      { address: input.address, reason: 'unsubscribed', messageId: input.messageId, detail: input.method },
      at,
    );
  }
  await publish(
    rt,
    trx,
    orgId,
    input.contactId,
    stableId(orgId, input.contactId, 'unsubscribed', input.scope, input.topic ?? '', at.toISOString()),
    'cmis.email.contact-unsubscribed',
    {
      contactId: input.contactId,
      address: input.address,
      scope: input.scope,
      ...(input.topic ? { topic: input.topic } : {}),
      ...(input.messageId ? { messageId: input.messageId } : {}),
      method: input.method,
    },
    at,
  );
  return true;
}

export async function resubscribeContact(
  rt: ServiceRuntime,
  trx: Knex.Transaction,
  orgId: string,
  input: { contactId: string; address: string; scope: 'all' | 'topic'; topic?: string },
  at: Date,
): Promise<boolean> {
  const changed =
    input.scope === 'all'
      ? await trx('contacts')
          .where({ org_id: orgId, contact_id: input.contactId })
          .whereNotNull('unsubscribed_at')
          .update({ unsubscribed_at: null, updated_at: at })
      : await trx('contacts')
          .where({ org_id: orgId, contact_id: input.contactId })
          .whereRaw('? = any(unsubscribed_topics)', [input.topic!])
          .update({
            unsubscribed_topics: trx.raw('array_remove(unsubscribed_topics, ?)', [input.topic!]),
            updated_at: at,
          });
  if (changed === 0) return false;
  await publish(
    rt,
    trx,
    orgId,
    input.contactId,
    stableId(orgId, input.contactId, 'resubscribed', input.scope, input.topic ?? '', at.toISOString()),
    'cmis.email.contact-resubscribed',
    {
      contactId: input.contactId,
      address: input.address,
      scope: input.scope,
      ...(input.topic ? { topic: input.topic } : {}),
    },
    at,
  );
  return true;
}
