// Mailgun's webhooks: HMAC-SHA256 of timestamp + token with the org's webhook signing key, each
// token accepted once; then `event-data` into delivery reports.
// https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/securing-webhooks
// https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/webhook-payloads
import { createHmac } from 'node:crypto';
import { equalsConstantTime } from './constant-time';
import { cmisMessageIdOf, definedOnly, objectOf, textOf } from './payload';
import { WebhookRejected, type DeliveryReport } from './report';
import { smtpReplyCode } from './smtp';

/**
 * 401 when the signature is missing, wrong or its timestamp is out of tolerance; 403 when it is
 * valid but its token was seen before (an authentic request, replayed: not allowed). The token
 * store is asked only after the signature verifies, so forged requests cannot fill it.
 */
export async function verifyMailgun(opts: {
  signingKey: string;
  signature: { timestamp: string; token: string; signature: string } | undefined;
  now: Date;
  toleranceSeconds?: number;
  tokenSeenBefore: (token: string) => Promise<boolean>;
}): Promise<void> {
  const signature = objectOf(opts.signature);
  const timestamp = textOf(signature?.timestamp);
  const token = textOf(signature?.token);
  const given = textOf(signature?.signature);
  if (!timestamp || !token || !given) throw new WebhookRejected(401, 'the Mailgun signature is missing');
  const expected = createHmac('sha256', opts.signingKey)
    .update(timestamp + token)
    .digest('hex');
  if (!equalsConstantTime(expected, given.toLowerCase()))
    throw new WebhookRejected(401, 'the Mailgun signature does not verify');
  if (
    !/^\d{1,12}$/.test(timestamp) ||
    Math.abs(opts.now.getTime() / 1000 - Number(timestamp)) > (opts.toleranceSeconds ?? 300)
  )
    throw new WebhookRejected(401, 'the Mailgun timestamp is too far from now');
  if (await opts.tokenSeenBefore(token)) throw new WebhookRejected(403, 'this Mailgun token was used before');
}

export function parseMailgun(body: unknown): DeliveryReport[] {
  const data = objectOf(objectOf(body)?.['event-data']);
  if (!data) throw new WebhookRejected(400, 'a Mailgun webhook body has no event-data object');
  const event = textOf(data.event);
  const address = () => {
    const recipient = textOf(data.recipient);
    if (!recipient) throw new WebhookRejected(400, `a Mailgun ${event} event has no recipient`);
    return recipient;
  };
  const status = objectOf(data['delivery-status']);
  const headers = objectOf(objectOf(data.message)?.headers);
  const ref = definedOnly({
    smtpMessageId: textOf(headers?.['message-id']),
    cmisMessageId: cmisMessageIdOf(objectOf(data['user-variables'])?.cmis_message_id),
  });

  switch (event) {
    case 'failed': {
      const code = status?.code;
      // Mailgun also reports codes outside SMTP's range (605: an address that bounced before) for
      // failures no server answered; those are not reply codes.
      const smtpCode =
        typeof code === 'number' && code >= 200 && code <= 599
          ? code
          : smtpReplyCode(textOf(status?.message));
      const reason =
        textOf(status?.description) ??
        textOf(status?.message) ??
        textOf(data.reason) ??
        `${textOf(data.severity)} failure`;
      return [
        {
          type: 'bounce',
          // A failure Mailgun did not call permanent is counted, not suppressed outright.
          bounceType: textOf(data.severity) === 'permanent' ? 'hard' : 'soft',
          address: address(),
          reason,
          ...(smtpCode !== undefined ? { smtpCode } : {}),
          ref,
          source: 'mailgun',
        },
      ];
    }
    case 'complained':
      return [{ type: 'complaint', address: address(), ref, source: 'mailgun' }];
    case 'delivered': {
      const detail = textOf(status?.message) ?? textOf(status?.description);
      return [
        { type: 'delivered', address: address(), ref, source: 'mailgun', ...(detail ? { detail } : {}) },
      ];
    }
    case undefined:
      throw new WebhookRejected(400, 'a Mailgun event has no event field');
    default:
      // accepted, opened, clicked, unsubscribed, rejected (our request, not a delivery): ignored.
      return [];
  }
}
