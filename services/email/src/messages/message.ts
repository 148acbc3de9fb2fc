// The message aggregate: one email to one recipient, from its request to what became of it.
// Pure: what the handlers learned (the recipient, consent, the rendered result, the SMTP reply,
// a provider's report, a tracked hit) comes in with the command; time comes with its metadata.
import type {
  EmailContent,
  EmailOrigin,
  EmailRecipient,
  EmailRequested,
  MessageBounced,
  MessageClicked,
  MessageComplained,
  MessageDeferred,
  MessageDelivered,
  MessageFailed,
  MessageOpened,
  MessageRendered,
  MessageRequested,
  MessageSent,
  MessageSuppressed,
  MessageUnsubscribed,
  SuppressionReason,
} from '@cmis/contracts';
import type { Decider } from '@cmis/platform';

export interface MessageRef {
  messageId: string;
  idempotencyKey: string;
  origin: EmailOrigin;
  contactId?: string;
  address?: string;
}

/** When, plus the causal chain and trace context the events carry (runtime.eventMetadata). */
export type MessageMetadata = { at: string } & Record<string, string>;

type Ev<T extends string, D> = { type: T; data: D; metadata: MessageMetadata };
export type MessageEvent =
  | Ev<'cmis.email.message-requested', MessageRequested>
  | Ev<'cmis.email.message-rendered', MessageRendered>
  | Ev<'cmis.email.message-suppressed', MessageSuppressed>
  | Ev<'cmis.email.message-deferred', MessageDeferred>
  | Ev<'cmis.email.message-sent', MessageSent>
  | Ev<'cmis.email.message-delivered', MessageDelivered>
  | Ev<'cmis.email.message-bounced', MessageBounced>
  | Ev<'cmis.email.message-complained', MessageComplained>
  | Ev<'cmis.email.message-opened', MessageOpened>
  | Ev<'cmis.email.message-clicked', MessageClicked>
  | Ev<'cmis.email.message-unsubscribed', MessageUnsubscribed>
  | Ev<'cmis.email.message-failed', MessageFailed>;

/** What handling a request came to, found out before deciding. */
export type RequestOutcome =
  | { kind: 'failed'; reason: string; address?: string }
  | { kind: 'suppressed'; reason: SuppressionReason; detail?: string; address: string }
  | {
      kind: 'rendered';
      address: string;
      templateId?: string;
      templateVersion?: number;
      subject: string;
      abTestId?: string;
      variantId?: string;
      links: number;
      /** Quiet hours or notBefore: the first attempt waits until then. */
      deferred?: { reason: string; retryAt: string };
    };

export type SendOutcome =
  | { kind: 'accepted'; smtpMessageId: string; provider: string; response: string }
  | { kind: 'deferred'; reason: string; smtpCode?: number; retryAt: string }
  | { kind: 'bounced'; bounceType: 'hard' | 'soft'; reason: string; smtpCode?: number }
  | { kind: 'suppressed'; reason: SuppressionReason; detail?: string }
  | { kind: 'failed'; reason: string };

export type ProviderReport =
  | { kind: 'delivered'; provider: string; detail?: string }
  | { kind: 'bounced'; bounceType: 'hard' | 'soft'; reason: string; smtpCode?: number; source: string }
  | { kind: 'complained'; source: string; feedbackType?: string };

type Cmd<T extends string, D> = { type: T; data: D; metadata: MessageMetadata };
export type MessageCommand =
  | Cmd<
      'RequestMessage',
      { messageId: string; request: EmailRequested; contactId?: string; outcome: RequestOutcome }
    >
  | Cmd<'RecordSendOutcome', { attempt: number; outcome: SendOutcome }>
  | Cmd<'RecordReport', ProviderReport>
  | Cmd<'RecordOpen', { machine: boolean; machineReason?: string; userAgent?: string }>
  | Cmd<
      'RecordClick',
      { linkIndex: number; url: string; machine: boolean; machineReason?: string; userAgent?: string }
    >
  | Cmd<
      'RecordUnsubscribe',
      { scope: 'all' | 'topic'; topic?: string; method: MessageUnsubscribed['method'] }
    >;

export type MessageStatus =
  'none' | 'queued' | 'deferred' | 'sent' | 'delivered' | 'bounced' | 'complained' | 'suppressed' | 'failed';

export interface MessageState {
  status: MessageStatus;
  ref?: MessageRef;
  attempts: number;
  delivered: boolean;
  bounced: boolean;
  complained: boolean;
  /** Opens and clicks recorded (bounded: a pixel fetched in a loop does not grow the stream forever). */
  hits: number;
  unsubscribed: string[];
}

/** Opens and clicks recorded per message at most; later hits are not events. */
export const MAX_HITS_PER_MESSAGE = 100;

const SENDABLE: ReadonlySet<MessageStatus> = new Set(['queued', 'deferred']);
const WAS_SENT: ReadonlySet<MessageStatus> = new Set(['sent', 'delivered', 'bounced', 'complained']);

export class MessageNotFound extends Error {
  override name = 'MessageNotFound';
}

function refOf(state: MessageState): MessageRef {
  if (!state.ref) throw new MessageNotFound('no such message');
  return state.ref;
}

function requested(
  data: Extract<MessageCommand, { type: 'RequestMessage' }>['data'],
  metadata: MessageMetadata,
): MessageEvent[] {
  const { request, outcome } = data;
  const ref: MessageRef = {
    messageId: data.messageId,
    idempotencyKey: request.idempotencyKey,
    origin: request.origin,
    ...(data.contactId !== undefined ? { contactId: data.contactId } : {}),
    ...(outcome.address !== undefined ? { address: outcome.address } : {}),
  };
  const events: MessageEvent[] = [
    {
      type: 'cmis.email.message-requested',
      data: {
        ...ref,
        to: request.to as EmailRecipient,
        content: request.content as EmailContent,
        transactional: request.transactional ?? false,
        ...(request.subscriptionTopic !== undefined ? { subscriptionTopic: request.subscriptionTopic } : {}),
      },
      metadata,
    },
  ];
  switch (outcome.kind) {
    case 'failed':
      events.push({ type: 'cmis.email.message-failed', data: { ...ref, reason: outcome.reason }, metadata });
      break;
    case 'suppressed':
      events.push({
        type: 'cmis.email.message-suppressed',
        data: { ...ref, reason: outcome.reason, ...(outcome.detail ? { detail: outcome.detail } : {}) },
        metadata,
      });
      break;
    case 'rendered': {
      const { kind: _kind, address: _address, deferred, ...rendered } = outcome;
      events.push({ type: 'cmis.email.message-rendered', data: { ...ref, ...rendered }, metadata });
      if (deferred)
        events.push({
          type: 'cmis.email.message-deferred',
          data: { ...ref, reason: deferred.reason, attempt: 0, retryAt: deferred.retryAt },
          metadata,
        });
      break;
    }
    default: {
      const never: never = outcome;
      throw new Error(`unknown outcome ${JSON.stringify(never)}`);
    }
  }
  return events;
}

function decide(command: MessageCommand, state: MessageState): MessageEvent[] {
  const { metadata } = command;
  switch (command.type) {
    case 'RequestMessage':
      // The idempotency key names the message: a repeated request is the same message.
      return state.status === 'none' ? requested(command.data, metadata) : [];
    case 'RecordSendOutcome': {
      // An outcome of an attempt already recorded (a worker whose lease ran out) changes nothing.
      if (!SENDABLE.has(state.status) || command.data.attempt <= state.attempts) return [];
      const ref = refOf(state);
      const { outcome, attempt } = command.data;
      switch (outcome.kind) {
        case 'accepted':
          return [
            {
              type: 'cmis.email.message-sent',
              data: {
                ...ref,
                smtpMessageId: outcome.smtpMessageId,
                provider: outcome.provider,
                attempt,
                response: outcome.response,
              },
              metadata,
            },
          ];
        case 'deferred':
          return [
            {
              type: 'cmis.email.message-deferred',
              data: {
                ...ref,
                reason: outcome.reason,
                ...(outcome.smtpCode !== undefined ? { smtpCode: outcome.smtpCode } : {}),
                attempt,
                retryAt: outcome.retryAt,
              },
              metadata,
            },
          ];
        case 'bounced':
          return [
            {
              type: 'cmis.email.message-bounced',
              data: {
                ...ref,
                bounceType: outcome.bounceType,
                reason: outcome.reason,
                ...(outcome.smtpCode !== undefined ? { smtpCode: outcome.smtpCode } : {}),
                source: 'smtp',
              },
              metadata,
            },
          ];
        case 'suppressed':
          return [
            {
              type: 'cmis.email.message-suppressed',
              data: { ...ref, reason: outcome.reason, ...(outcome.detail ? { detail: outcome.detail } : {}) },
              metadata,
            },
          ];
        case 'failed':
          return [{ type: 'cmis.email.message-failed', data: { ...ref, reason: outcome.reason }, metadata }];
        default: {
          const never: never = outcome;
          throw new Error(`unknown send outcome ${JSON.stringify(never)}`);
        }
      }
    }
    case 'RecordReport': {
      const ref = refOf(state);
      const report = command.data;
      switch (report.kind) {
        case 'delivered':
          if (!WAS_SENT.has(state.status) || state.delivered || state.bounced) return [];
          return [
            {
              type: 'cmis.email.message-delivered',
              data: {
                ...ref,
                provider: report.provider,
                ...(report.detail ? { detail: report.detail } : {}),
              },
              metadata,
            },
          ];
        case 'bounced':
          // A bounce can arrive for a message still being retried (a DSN after a 250 by a relay).
          if (state.bounced || !(WAS_SENT.has(state.status) || SENDABLE.has(state.status))) return [];
          return [
            {
              type: 'cmis.email.message-bounced',
              data: {
                ...ref,
                bounceType: report.bounceType,
                reason: report.reason,
                ...(report.smtpCode !== undefined ? { smtpCode: report.smtpCode } : {}),
                source: report.source,
              },
              metadata,
            },
          ];
        case 'complained':
          if (state.complained || !WAS_SENT.has(state.status)) return [];
          return [
            {
              type: 'cmis.email.message-complained',
              data: {
                ...ref,
                source: report.source,
                ...(report.feedbackType ? { feedbackType: report.feedbackType } : {}),
              },
              metadata,
            },
          ];
        default: {
          const never: never = report;
          throw new Error(`unknown report ${JSON.stringify(never)}`);
        }
      }
    }
    case 'RecordOpen':
    case 'RecordClick': {
      if (!WAS_SENT.has(state.status) || state.hits >= MAX_HITS_PER_MESSAGE) return [];
      const ref = refOf(state);
      const { machine, machineReason, userAgent } = command.data;
      const flag = {
        machine,
        ...(machineReason !== undefined ? { machineReason } : {}),
        ...(userAgent !== undefined ? { userAgent: userAgent.slice(0, 500) } : {}),
      };
      return command.type === 'RecordOpen'
        ? [{ type: 'cmis.email.message-opened', data: { ...ref, ...flag }, metadata }]
        : [
            {
              type: 'cmis.email.message-clicked',
              data: { ...ref, ...flag, linkIndex: command.data.linkIndex, url: command.data.url },
              metadata,
            },
          ];
    }
    case 'RecordUnsubscribe': {
      const ref = refOf(state);
      const { scope, topic, method } = command.data;
      const key = scope === 'all' ? '*' : `topic:${topic}`;
      if (state.unsubscribed.includes(key)) return [];
      return [
        {
          type: 'cmis.email.message-unsubscribed',
          data: { ...ref, scope, ...(topic !== undefined ? { topic } : {}), method },
          metadata,
        },
      ];
    }
    default: {
      const never: never = command;
      throw new Error(`unknown command ${JSON.stringify(never)}`);
    }
  }
}

function evolve(state: MessageState, event: MessageEvent): MessageState {
  switch (event.type) {
    case 'cmis.email.message-requested': {
      const { messageId, idempotencyKey, origin, contactId, address } = event.data;
      return { ...state, status: 'queued', ref: { messageId, idempotencyKey, origin, contactId, address } };
    }
    case 'cmis.email.message-rendered':
      return state;
    case 'cmis.email.message-deferred':
      return { ...state, status: 'deferred', attempts: Math.max(state.attempts, event.data.attempt) };
    case 'cmis.email.message-sent':
      return { ...state, status: 'sent', attempts: event.data.attempt };
    case 'cmis.email.message-suppressed':
      return { ...state, status: 'suppressed' };
    case 'cmis.email.message-failed':
      return { ...state, status: 'failed' };
    case 'cmis.email.message-delivered':
      return { ...state, status: state.status === 'sent' ? 'delivered' : state.status, delivered: true };
    case 'cmis.email.message-bounced':
      return { ...state, status: 'bounced', bounced: true };
    case 'cmis.email.message-complained':
      return { ...state, status: 'complained', complained: true };
    case 'cmis.email.message-opened':
    case 'cmis.email.message-clicked':
      return { ...state, hits: state.hits + 1 };
    case 'cmis.email.message-unsubscribed': {
      const key = event.data.scope === 'all' ? '*' : `topic:${event.data.topic}`;
      return { ...state, unsubscribed: [...state.unsubscribed, key] };
    }
    default: {
      const never: never = event;
      throw new Error(`unknown event ${JSON.stringify(never)}`);
    }
  }
}

export const messageDecider: Decider<MessageState, MessageCommand, MessageEvent> = {
  decide,
  evolve,
  initialState: () => ({
    status: 'none',
    attempts: 0,
    delivered: false,
    bounced: false,
    complained: false,
    hits: 0,
    unsubscribed: [],
  }),
};
