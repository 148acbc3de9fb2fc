// Amazon SES notifications (the Message of an SNS notification) into delivery reports. Both
// shapes SES publishes are read: identity notifications (`notificationType`) and configuration
// set events (`eventType`); their bounce, complaint and delivery objects are the same.
// https://docs.aws.amazon.com/ses/latest/dg/notification-contents.html
import { cmisMessageIdOf, definedOnly, objectOf, textOf, type JsonObject } from './payload';
import { WebhookRejected, type DeliveryReport, type MessageRef } from './report';
import { diagnosticText, smtpReplyCode } from './smtp';

const malformed = (what: string) => new WebhookRejected(400, `malformed SES notification: ${what}`);

function listOf(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) throw malformed(`${what} is not a list`);
  return value;
}

function refOf(mail: JsonObject | undefined): MessageRef {
  const headers = Array.isArray(mail?.headers) ? mail.headers : [];
  const header = (name: string) =>
    headers.map(objectOf).find((h) => textOf(h?.name)?.toLowerCase() === name)?.value;
  const source = textOf(mail?.source);
  return definedOnly({
    smtpMessageId: textOf(objectOf(mail?.commonHeaders)?.messageId) ?? textOf(header('message-id')),
    // SES reports the Source it was given; ours is the bare VERP address, but allow "Name <addr>".
    verpAddress: source ? (/<([^>]+)>/.exec(source)?.[1] ?? source) : undefined,
    cmisMessageId: cmisMessageIdOf(header('x-cmis-message-id')),
  });
}

function addressOf(entry: unknown, field: string, what: string): string {
  const address = textOf(objectOf(entry)?.[field]) ?? textOf(entry);
  if (!address) throw malformed(`a ${what} has no ${field}`);
  return address;
}

function bounces(bounce: JsonObject, ref: MessageRef): DeliveryReport[] {
  const bounceType = textOf(bounce.bounceType);
  if (!bounceType) throw malformed('the bounce has no bounceType');
  const subType = textOf(bounce.bounceSubType);
  return listOf(bounce.bouncedRecipients, 'bouncedRecipients').map((entry) => {
    const recipient = objectOf(entry) ?? {};
    const diagnostic = textOf(recipient.diagnosticCode);
    const status = textOf(recipient.status);
    const smtpCode = smtpReplyCode(diagnostic);
    return {
      type: 'bounce' as const,
      // Undetermined is SES's "could not tell"; counting it as soft bounds the damage of a guess.
      bounceType: bounceType === 'Permanent' ? ('hard' as const) : ('soft' as const),
      address: addressOf(entry, 'emailAddress', 'bounced recipient'),
      reason: diagnostic
        ? diagnosticText(diagnostic)
        : `${bounceType} bounce${subType ? ` (${subType})` : ''}${status ? `, status ${status}` : ''}`,
      ...(smtpCode !== undefined ? { smtpCode } : {}),
      ref,
      source: 'ses' as const,
    };
  });
}

/** The reports an SES notification carries; [] for messages that are not about delivery. */
export function parseSesNotification(message: string): DeliveryReport[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(message);
  } catch {
    // A verified message on an allowed topic that is not JSON: a test publish, not an SES event.
    return [];
  }
  const notification = objectOf(parsed);
  const kind = textOf(notification?.notificationType) ?? textOf(notification?.eventType);
  if (!notification || !kind) return [];
  const ref = refOf(objectOf(notification.mail));
  const section = (name: string) => {
    const value = objectOf(notification[name]);
    if (!value) throw malformed(`a ${kind} notification has no ${name} object`);
    return value;
  };

  switch (kind) {
    case 'Bounce':
      return bounces(section('bounce'), ref);
    case 'Complaint': {
      const complaint = section('complaint');
      const feedbackType = textOf(complaint.complaintFeedbackType);
      return listOf(complaint.complainedRecipients, 'complainedRecipients').map((entry) => ({
        type: 'complaint' as const,
        address: addressOf(entry, 'emailAddress', 'complained recipient'),
        ...(feedbackType ? { feedbackType } : {}),
        ref,
        source: 'ses' as const,
      }));
    }
    case 'Delivery': {
      const delivery = section('delivery');
      const detail = textOf(delivery.smtpResponse);
      return listOf(delivery.recipients, 'recipients').map((entry) => ({
        type: 'delivered' as const,
        address: addressOf(entry, 'emailAddress', 'delivery recipient'),
        ref,
        source: 'ses' as const,
        ...(detail ? { detail } : {}),
      }));
    }
    default:
      // Send, Reject, Open, Click, DeliveryDelay, AmazonSnsSubscriptionSucceeded…: SES retries a
      // delay itself and reports a Bounce if it gives up, so none of these is a delivery outcome.
      return [];
  }
}
