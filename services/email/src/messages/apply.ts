// A command on an existing message and what follows from its events: the read-model row takes the
// new status, a hard bounce or a complaint suppresses the address, soft bounces are counted
// against the org's limit, and an unsubscribe from a message unsubscribes its contact.
import type { ServiceRuntime } from '@cmis/platform';
import type { Knex } from 'knex';
import type { EmailSettings } from '../settings/settings';
import { recordSoftBounce, suppressAddress, unsubscribeContact } from '../suppression/consent';
import type { MessageCommand, MessageEvent, MessageState } from './message';
import { recordMessage } from './record';

export async function applyToMessage(
  rt: ServiceRuntime,
  trx: Knex.Transaction,
  orgId: string,
  messageId: string,
  command: MessageCommand,
  settings: EmailSettings,
): Promise<{ state: MessageState; events: MessageEvent[] }> {
  const result = await recordMessage(rt, trx, orgId, messageId, command);
  if (result.events.length === 0) return result;
  const at = new Date(command.metadata.at);
  const ref = result.state.ref!;
  const human = (type: MessageEvent['type']) =>
    result.events.some((e) => e.type === type && !(e.data as { machine: boolean }).machine);
  await trx('messages')
    .where({ org_id: orgId, message_id: messageId })
    .update({
      status: result.state.status,
      ...(human('cmis.email.message-opened') ? { human_opened: true } : {}),
      // A click implies the message was opened, whether or not the pixel loaded.
      ...(human('cmis.email.message-clicked') ? { human_clicked: true, human_opened: true } : {}),
    });
  for (const event of result.events) {
    const address = event.data.address ?? ref.address;
    if (!address) continue;
    const who = { address, messageId, ...(ref.contactId ? { contactId: ref.contactId } : {}) };
    switch (event.type) {
      case 'cmis.email.message-bounced':
        if (event.data.bounceType === 'hard')
          await suppressAddress(
            rt,
            trx,
            orgId,
            { ...who, reason: 'hard_bounce', detail: event.data.reason },
            at,
          );
        else
          await recordSoftBounce(
            rt,
            trx,
            orgId,
            { ...who, reason: event.data.reason },
            settings.policy.softBounceLimit,
            at,
          );
        break;
      case 'cmis.email.message-complained':
        await suppressAddress(
          rt,
          trx,
          orgId,
          { ...who, reason: 'complaint', detail: event.data.feedbackType },
          at,
        );
        break;
      case 'cmis.email.message-unsubscribed':
        await unsubscribeContact(
          rt,
          trx,
          orgId,
          { ...who, scope: event.data.scope, topic: event.data.topic, method: event.data.method },
          at,
        );
        break;
      default:
        break;
    }
  }
  return result;
}
