// Postmark's webhooks: HTTP Basic credentials the org set on the webhook URL (TLS is the edge's
// concern), then one record per request into delivery reports.
// https://postmarkapp.com/developer/webhooks/webhooks-overview
import { equalsConstantTime } from './constant-time';
import { cmisMessageIdOf, definedOnly, objectOf, textOf, type JsonObject } from './payload';
import { WebhookRejected, type DeliveryReport, type MessageRef } from './report';
import { diagnosticText, smtpReplyCode } from './smtp';

export function verifyPostmarkAuth(
  header: string | undefined,
  expected: { user: string; password: string },
): void {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!match) throw new WebhookRejected(401, 'Postmark webhooks must carry Basic credentials');
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const user = colon >= 0 ? decoded.slice(0, colon) : decoded;
  const password = colon >= 0 ? decoded.slice(colon + 1) : '';
  // Both halves are compared whatever the first says, so timing does not tell which was wrong.
  const userOk = equalsConstantTime(user, expected.user);
  const passwordOk = equalsConstantTime(password, expected.password);
  if (!(userOk && passwordOk) || colon < 0)
    throw new WebhookRejected(401, 'the Postmark credentials are wrong');
}

/**
 * Postmark's bounce Type into ours. Hard: the address does not exist or Postmark will not send
 * to it again. Soft: the failure may pass (full mailbox, DNS, a block of our message). Anything
 * else (auto-replies, address changes, challenge mails, our own API or template errors, DMARC)
 * is not a statement about the address, and is ignored.
 */
export const POSTMARK_BOUNCE_TYPES: Readonly<Record<string, 'hard' | 'soft' | 'complaint'>> = {
  HardBounce: 'hard',
  BadEmailAddress: 'hard',
  ManuallyDeactivated: 'hard',
  SoftBounce: 'soft',
  Transient: 'soft',
  DnsError: 'soft',
  SpamNotification: 'soft',
  Blocked: 'soft',
  Unknown: 'soft',
  SpamComplaint: 'complaint',
};

/**
 * Postmark's MessageID is Postmark's own id, not our Message-ID, so it is not used: the message is
 * named by the Metadata we attach (cmis_message_id) and by a Message-ID among Headers when sent.
 */
function refOf(record: JsonObject): MessageRef {
  const headers = Array.isArray(record.Headers) ? record.Headers : [];
  const messageId = headers.map(objectOf).find((h) => textOf(h?.Name)?.toLowerCase() === 'message-id')?.Value;
  return definedOnly({
    smtpMessageId: textOf(messageId),
    cmisMessageId: cmisMessageIdOf(objectOf(record.Metadata)?.cmis_message_id),
  });
}

function reportOf(record: JsonObject): DeliveryReport | undefined {
  const recordType = textOf(record.RecordType);
  const addressIn = (field: string) => {
    const address = textOf(record[field]);
    if (!address) throw new WebhookRejected(400, `a Postmark ${recordType} record has no ${field}`);
    return address;
  };
  switch (recordType) {
    case 'Bounce':
    case 'SpamComplaint': {
      const kind =
        recordType === 'SpamComplaint' ? 'complaint' : POSTMARK_BOUNCE_TYPES[textOf(record.Type) ?? ''];
      if (!kind) return undefined;
      const base = { address: addressIn('Email'), ref: refOf(record), source: 'postmark' as const };
      if (kind === 'complaint') return { type: 'complaint', ...base };
      const details = textOf(record.Details);
      const smtpCode = smtpReplyCode(details);
      return {
        type: 'bounce',
        bounceType: kind,
        ...base,
        reason: details ? diagnosticText(details) : (textOf(record.Description) ?? textOf(record.Type)!),
        ...(smtpCode !== undefined ? { smtpCode } : {}),
      };
    }
    case 'Delivery': {
      const details = textOf(record.Details);
      return {
        type: 'delivered',
        address: addressIn('Recipient'),
        ref: refOf(record),
        source: 'postmark',
        ...(details ? { detail: details } : {}),
      };
    }
    case undefined:
      throw new WebhookRejected(400, 'a Postmark record has no RecordType');
    default:
      // Open, Click, SubscriptionChange: not delivery outcomes.
      return undefined;
  }
}

/** Postmark posts one record per request; a list of records is accepted too. */
export function parsePostmark(body: unknown): DeliveryReport[] {
  const records = Array.isArray(body) ? body : [body];
  return records.flatMap((item) => {
    const record = objectOf(item);
    if (!record) throw new WebhookRejected(400, 'a Postmark record is not an object');
    const report = reportOf(record);
    return report ? [report] : [];
  });
}
