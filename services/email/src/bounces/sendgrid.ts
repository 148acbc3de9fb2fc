// SendGrid's Event Webhook: ECDSA P-256 over the timestamp header followed by the raw body, with
// the org's verification key; then the events (a JSON array) into delivery reports.
// https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook-security-features
// https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/event
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { cmisMessageIdOf, definedOnly, objectOf, textOf, type JsonObject } from './payload';
import { WebhookRejected, type DeliveryReport, type MessageRef } from './report';
import { diagnosticText, isPermanentFailure, smtpReplyCode } from './smtp';

function publicKeyOf(key: string): KeyObject {
  let parsed: KeyObject;
  try {
    parsed = key.includes('-----BEGIN')
      ? createPublicKey(key)
      : // The dashboard shows the SubjectPublicKeyInfo DER in base64, without PEM armour.
        createPublicKey({ key: Buffer.from(key.trim(), 'base64'), format: 'der', type: 'spki' });
  } catch {
    throw new WebhookRejected(401, 'the configured SendGrid verification key is not a public key');
  }
  if (parsed.asymmetricKeyType !== 'ec' || parsed.asymmetricKeyDetails?.namedCurve !== 'prime256v1')
    throw new WebhookRejected(401, 'the configured SendGrid verification key is not an ECDSA P-256 key');
  return parsed;
}

export function verifySendgrid(opts: {
  publicKey: string;
  signature: string | undefined;
  timestamp: string | undefined;
  rawBody: Buffer;
  now: Date;
  toleranceSeconds?: number;
}): void {
  const { signature, timestamp } = opts;
  if (!signature || !timestamp)
    throw new WebhookRejected(401, 'the SendGrid signature or timestamp header is missing');
  if (!/^\d{1,12}$/.test(timestamp))
    throw new WebhookRejected(401, 'the SendGrid timestamp is not a Unix time');
  // The timestamp is signed, so checking it first only saves the ECDSA work on stale requests.
  if (Math.abs(opts.now.getTime() / 1000 - Number(timestamp)) > (opts.toleranceSeconds ?? 300))
    throw new WebhookRejected(401, 'the SendGrid timestamp is too far from now');
  let valid: boolean;
  try {
    valid = verify(
      'sha256',
      Buffer.concat([Buffer.from(timestamp, 'utf8'), opts.rawBody]),
      { key: publicKeyOf(opts.publicKey), dsaEncoding: 'der' },
      Buffer.from(signature, 'base64'),
    );
  } catch (error) {
    if (error instanceof WebhookRejected) throw error;
    valid = false;
  }
  if (!valid) throw new WebhookRejected(401, 'the SendGrid signature does not verify');
}

function refOf(event: JsonObject): MessageRef {
  return definedOnly({
    smtpMessageId: textOf(event['smtp-id']),
    // Custom args come back as top-level fields of each event.
    cmisMessageId: cmisMessageIdOf(event.cmis_message_id),
  });
}

function reportOf(event: JsonObject): DeliveryReport | undefined {
  const kind = textOf(event.event);
  const address = textOf(event.email);
  if (!kind) throw new WebhookRejected(400, 'a SendGrid event has no event field');
  const base = () => {
    if (!address) throw new WebhookRejected(400, `a SendGrid ${kind} event has no email`);
    return { address, ref: refOf(event), source: 'sendgrid' as const };
  };
  const response = textOf(event.reason) ?? textOf(event.response);
  switch (kind) {
    case 'bounce': {
      const status = textOf(event.status);
      const smtpCode = smtpReplyCode(response);
      // "blocked" is the receiver refusing us (reputation, content), not the address failing:
      // soft, so only a repeat suppresses it. A bounce is hard when its status is permanent.
      const hard = textOf(event.type) !== 'blocked' && isPermanentFailure(status, smtpCode);
      return {
        type: 'bounce',
        bounceType: hard ? 'hard' : 'soft',
        ...base(),
        reason: response
          ? diagnosticText(response)
          : `${textOf(event.type) ?? 'bounce'}, status ${status ?? 'unknown'}`,
        ...(smtpCode !== undefined ? { smtpCode } : {}),
      };
    }
    case 'dropped':
      // SendGrid drops what its own lists forbid. An address it knows to bounce, or that is
      // invalid, fails for us too; one that reported spam is a complaint. Other drops (content,
      // unsubscribes, quota) say nothing about the address.
      if (response === 'Bounced Address' || response === 'Invalid')
        return { type: 'bounce', bounceType: 'hard', ...base(), reason: `dropped by SendGrid: ${response}` };
      if (response === 'Spam Reporting Address') return { type: 'complaint', ...base() };
      return undefined;
    case 'delivered':
      return { type: 'delivered', ...base(), ...(response ? { detail: response } : {}) };
    case 'spamreport':
      return { type: 'complaint', ...base() };
    default:
      // deferred: SendGrid retries for 72 h and sends a bounce if it gives up; counting each
      // deferral as a soft bounce would suppress addresses that are only slow. processed, open,
      // click and the unsubscribe events are not delivery outcomes.
      return undefined;
  }
}

export function parseSendgridEvents(body: unknown): DeliveryReport[] {
  if (!Array.isArray(body)) throw new WebhookRejected(400, 'a SendGrid event body is a JSON array');
  return body.flatMap((item) => {
    const event = objectOf(item);
    if (!event) throw new WebhookRejected(400, 'a SendGrid event is not an object');
    const report = reportOf(event);
    return report ? [report] : [];
  });
}
