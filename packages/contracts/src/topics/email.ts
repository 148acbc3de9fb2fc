// The email contracts, designed once for every producer and consumer: an email request (rules'
// send-notification action, workflow and drip steps, broadcasts, the transactional API), the
// events of each message, and what changes a contact's or an address's ability to receive mail.
import { z } from 'zod';
import { defineTopic, RETAIN_FOREVER } from '../topic';
import { DAY_MS, JsonObject, NonEmpty, Timestamp } from './common';

const Address = z.string().email().max(320);

export const EmailRecipient = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('contact'), contactId: NonEmpty.describe("The contact's userId (triggers)") }),
  z.object({
    kind: z.literal('address'),
    address: Address.describe('A bare address, e.g. a manager notified by a rule'),
    name: NonEmpty.optional(),
  }),
]);
export type EmailRecipient = z.infer<typeof EmailRecipient>;

export const EmailContent = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('template'),
    templateId: NonEmpty,
    version: z.number().int().positive().optional().describe('Default: the current version when handled'),
  }),
  z.object({
    kind: z.literal('inline'),
    subject: NonEmpty.describe('Liquid'),
    html: NonEmpty.optional().describe('Liquid; MJML when mjml is true. html or text is required'),
    text: NonEmpty.optional().describe('Liquid; derived from the HTML when absent'),
    mjml: z.boolean().optional(),
  }),
]);
export type EmailContent = z.infer<typeof EmailContent>;

export const EmailOrigin = z
  .object({
    kind: z.enum(['rule', 'workflow', 'drip', 'broadcast', 'transactional']),
    id: NonEmpty.describe('Rule, workflow, drip or broadcast id; the API key id for transactional sends'),
    version: z.number().int().positive().optional(),
    stepId: NonEmpty.optional().describe('Workflow or drip step, or the rule action index'),
    instanceId: NonEmpty.optional().describe('Workflow instance, drip subscription, or rule action id'),
  })
  .describe('What asked for the message: every message event carries it, so funnels can count it');
export type EmailOrigin = z.infer<typeof EmailOrigin>;

export const EmailVariant = z.object({
  variantId: NonEmpty,
  weight: z.number().positive().optional().describe('Relative share; default equal shares'),
  subject: NonEmpty.optional().describe('Replaces the content subject'),
  templateId: NonEmpty.optional().describe('Replaces the content template'),
});
export type EmailVariant = z.infer<typeof EmailVariant>;

export const EmailAbTest = z.object({
  testId: NonEmpty.describe('Assignment is sticky by a hash of testId and recipient'),
  variants: z.array(EmailVariant).min(2).max(10),
  winnerVariantId: NonEmpty.optional().describe('Set once decided: every later send gets it'),
});
export type EmailAbTest = z.infer<typeof EmailAbTest>;

export const EmailRequested = z
  .object({
    idempotencyKey: NonEmpty.max(200).describe(
      'Stable per intended message (e.g. rule action id + recipient, workflow instance + step): a repeat is one message',
    ),
    to: EmailRecipient,
    content: EmailContent,
    data: JsonObject.describe('Liquid variables; the contact is `contact`'),
    origin: EmailOrigin,
    transactional: z
      .boolean()
      .optional()
      .describe(
        'Exempt from frequency caps and quiet hours, and sent to contacts who unsubscribed from marketing',
      ),
    subscriptionTopic: NonEmpty.optional().describe('Preference-center topic the message belongs to'),
    abTest: EmailAbTest.optional(),
    notBefore: Timestamp.optional().describe('Not sent before this time'),
  })
  .describe('A request to send one email to one recipient');
export type EmailRequested = z.infer<typeof EmailRequested>;

export const emailRequestsTopic = defineTopic({
  name: 'cmis.email.requests.v1',
  service: 'email',
  description:
    'Requests to send one email, one contract for every producer (rules, workflows, drip); the email service consumes them.',
  keyDescription: 'subject is the recipient: the contact id, or the address for a bare address',
  retentionMs: 14 * DAY_MS,
  schemaVersion: 1,
  events: {
    'cmis.email.send-requested': EmailRequested,
  },
});

const messageRef = {
  messageId: NonEmpty.describe(
    'Derived from the org and the idempotency key; the Message-ID is built from it',
  ),
  idempotencyKey: NonEmpty,
  origin: EmailOrigin,
  contactId: NonEmpty.optional(),
  address: Address.optional().describe('Where it goes, once known'),
};

export const MessageRequested = z
  .object({
    ...messageRef,
    to: EmailRecipient,
    content: EmailContent,
    transactional: z.boolean(),
    subscriptionTopic: NonEmpty.optional(),
  })
  .describe('A message was accepted for sending');
export type MessageRequested = z.infer<typeof MessageRequested>;

export const MessageRendered = z
  .object({
    ...messageRef,
    templateId: NonEmpty.optional(),
    templateVersion: z
      .number()
      .int()
      .positive()
      .optional()
      .describe('The template version it was rendered from'),
    subject: z.string(),
    abTestId: NonEmpty.optional(),
    variantId: NonEmpty.optional(),
    links: z.number().int().nonnegative().describe('Tracked links in the message'),
  })
  .describe('A message was rendered for its recipient');
export type MessageRendered = z.infer<typeof MessageRendered>;

export const SuppressionReason = z.enum([
  'unsubscribed',
  'topic_unsubscribed',
  'hard_bounce',
  'complaint',
  'soft_bounce_limit',
  'manual',
  'frequency_cap',
]);
export type SuppressionReason = z.infer<typeof SuppressionReason>;

export const MessageSuppressed = z
  .object({ ...messageRef, reason: SuppressionReason, detail: z.string().optional() })
  .describe('A message was not sent: the recipient is unsubscribed, suppressed or capped');
export type MessageSuppressed = z.infer<typeof MessageSuppressed>;

export const MessageDeferred = z
  .object({
    ...messageRef,
    reason: NonEmpty.describe('quiet hours, an SMTP 4xx reply, a connection failure, a throttle'),
    smtpCode: z.number().int().optional(),
    attempt: z.number().int().nonnegative(),
    retryAt: Timestamp,
  })
  .describe('A message will be tried again later, under the same Message-ID');
export type MessageDeferred = z.infer<typeof MessageDeferred>;

export const MessageSent = z
  .object({
    ...messageRef,
    smtpMessageId: NonEmpty,
    provider: NonEmpty,
    attempt: z.number().int().positive(),
    response: z.string().describe("The SMTP server's reply"),
  })
  .describe('The SMTP server accepted the message');
export type MessageSent = z.infer<typeof MessageSent>;

export const MessageDelivered = z
  .object({ ...messageRef, provider: NonEmpty, detail: z.string().optional() })
  .describe("The provider reported the message delivered to the recipient's mailbox server");
export type MessageDelivered = z.infer<typeof MessageDelivered>;

export const MessageBounced = z
  .object({
    ...messageRef,
    bounceType: z.enum(['hard', 'soft']),
    reason: z.string(),
    smtpCode: z.number().int().optional(),
    source: NonEmpty.describe('smtp, dsn, ses, sendgrid, postmark, mailgun'),
  })
  .describe('The message bounced');
export type MessageBounced = z.infer<typeof MessageBounced>;

export const MessageComplained = z
  .object({ ...messageRef, source: NonEmpty, feedbackType: z.string().optional() })
  .describe('The recipient marked the message as spam');
export type MessageComplained = z.infer<typeof MessageComplained>;

const machineFlag = {
  machine: z.boolean().describe('An automated open or click (privacy proxy, scanner, prefetch)'),
  machineReason: NonEmpty.optional(),
  userAgent: z.string().optional(),
};

export const MessageOpened = z
  .object({ ...messageRef, ...machineFlag })
  .describe('The open pixel was fetched');
export type MessageOpened = z.infer<typeof MessageOpened>;

export const MessageClicked = z
  .object({ ...messageRef, ...machineFlag, linkIndex: z.number().int().nonnegative(), url: NonEmpty })
  .describe('A tracked link was followed');
export type MessageClicked = z.infer<typeof MessageClicked>;

export const MessageUnsubscribed = z
  .object({
    ...messageRef,
    scope: z.enum(['all', 'topic']),
    topic: NonEmpty.optional(),
    method: z.enum(['one_click', 'link', 'mailto', 'preferences']),
  })
  .describe('The recipient unsubscribed from this message');
export type MessageUnsubscribed = z.infer<typeof MessageUnsubscribed>;

export const MessageFailed = z
  .object({ ...messageRef, reason: NonEmpty })
  .describe('The message cannot be sent (no address, unknown template, a render error)');
export type MessageFailed = z.infer<typeof MessageFailed>;

export const emailMessagesTopic = defineTopic({
  name: 'cmis.email.messages.v1',
  service: 'email',
  description:
    'What happened to each email: requested, rendered, suppressed, deferred, sent, delivered, bounced, complained, opened, clicked, unsubscribed, failed.',
  keyDescription: 'subject is the recipient: the contact id, or the address for a bare address',
  retentionMs: 180 * DAY_MS,
  schemaVersion: 1,
  events: {
    'cmis.email.message-requested': MessageRequested,
    'cmis.email.message-rendered': MessageRendered,
    'cmis.email.message-suppressed': MessageSuppressed,
    'cmis.email.message-deferred': MessageDeferred,
    'cmis.email.message-sent': MessageSent,
    'cmis.email.message-delivered': MessageDelivered,
    'cmis.email.message-bounced': MessageBounced,
    'cmis.email.message-complained': MessageComplained,
    'cmis.email.message-opened': MessageOpened,
    'cmis.email.message-clicked': MessageClicked,
    'cmis.email.message-unsubscribed': MessageUnsubscribed,
    'cmis.email.message-failed': MessageFailed,
  },
});

const who = {
  contactId: NonEmpty.optional(),
  address: Address,
};

export const ContactUnsubscribed = z
  .object({
    ...who,
    scope: z.enum(['all', 'topic']),
    topic: NonEmpty.optional(),
    messageId: NonEmpty.optional(),
    method: z.enum(['one_click', 'link', 'mailto', 'preferences', 'api']),
  })
  .describe('A contact stopped marketing email (all) or one topic; drips and workflows exit on it');
export type ContactUnsubscribed = z.infer<typeof ContactUnsubscribed>;

export const ContactResubscribed = z
  .object({ ...who, scope: z.enum(['all', 'topic']), topic: NonEmpty.optional() })
  .describe('A contact opted in again');
export type ContactResubscribed = z.infer<typeof ContactResubscribed>;

export const AddressSuppressed = z
  .object({
    ...who,
    reason: SuppressionReason,
    messageId: NonEmpty.optional(),
    detail: z.string().optional(),
  })
  .describe('An address receives no more email (hard bounce, complaint, soft bounces, manual)');
export type AddressSuppressed = z.infer<typeof AddressSuppressed>;

export const AddressUnsuppressed = z.object({ ...who }).describe('A suppression was lifted');
export type AddressUnsuppressed = z.infer<typeof AddressUnsuppressed>;

export const emailSubscriptionsTopic = defineTopic({
  name: 'cmis.email.subscriptions.v1',
  service: 'email',
  description: 'Changes to who may be emailed: unsubscribes, resubscribes, suppressions of addresses.',
  keyDescription: 'subject is the contact id, or the address when no contact is known',
  retentionMs: RETAIN_FOREVER,
  schemaVersion: 1,
  events: {
    'cmis.email.contact-unsubscribed': ContactUnsubscribed,
    'cmis.email.contact-resubscribed': ContactResubscribed,
    'cmis.email.address-suppressed': AddressSuppressed,
    'cmis.email.address-unsuppressed': AddressUnsuppressed,
  },
});

const VariantStatistics = z.object({
  variantId: NonEmpty,
  sent: z.number().int().nonnegative(),
  conversions: z.number().int().nonnegative().describe('Human unique clicks or opens, by the metric'),
  rate: z.number().nonnegative(),
});

export const AbTestDecided = z
  .object({
    testId: NonEmpty,
    broadcastId: NonEmpty.optional(),
    metric: z.enum(['clicks', 'opens']),
    winnerVariantId: NonEmpty.describe('The winner, or the fallback when there is none'),
    decidedBy: z.enum(['significant', 'fallback']),
    confidence: z.number().gt(0).lt(1),
    pValue: z.number().min(0).max(1).optional(),
    z: z.number().optional(),
    variants: z.array(VariantStatistics),
    reason: z.string(),
  })
  .describe('An A/B test was decided: the statistics and the variant the rest of the audience gets');
export type AbTestDecided = z.infer<typeof AbTestDecided>;

export const BroadcastStarted = z
  .object({ broadcastId: NonEmpty, audienceId: NonEmpty, recipients: z.number().int().nonnegative() })
  .describe('A broadcast began sending to its audience');
export type BroadcastStarted = z.infer<typeof BroadcastStarted>;

export const BroadcastPaused = z
  .object({
    broadcastId: NonEmpty,
    reason: NonEmpty,
    complaintRate: z.number().nonnegative().optional(),
    by: z.enum(['policy', 'user']),
  })
  .describe(
    'A broadcast stopped sending: by its user, or by itself when its complaint rate passed the limit',
  );
export type BroadcastPaused = z.infer<typeof BroadcastPaused>;

export const BroadcastCompleted = z
  .object({ broadcastId: NonEmpty, requested: z.number().int().nonnegative() })
  .describe('Every recipient of a broadcast has been requested');
export type BroadcastCompleted = z.infer<typeof BroadcastCompleted>;

export const emailCampaignsTopic = defineTopic({
  name: 'cmis.email.campaigns.v1',
  service: 'email',
  description: 'Broadcasts and A/B tests: started, paused (and why), completed, decided.',
  keyDescription: 'subject is the broadcast id (or the test id of a test outside a broadcast)',
  retentionMs: 365 * DAY_MS,
  schemaVersion: 1,
  events: {
    'cmis.email.broadcast-started': BroadcastStarted,
    'cmis.email.broadcast-paused': BroadcastPaused,
    'cmis.email.broadcast-completed': BroadcastCompleted,
    'cmis.email.ab-test-decided': AbTestDecided,
  },
});
