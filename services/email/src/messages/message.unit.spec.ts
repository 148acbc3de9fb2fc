import type { EmailRequested } from '@cmis/contracts';
import { DeciderSpecification } from '@cmis/platform';
import { MAX_HITS_PER_MESSAGE, messageDecider, MessageNotFound, type MessageEvent } from './message';

const spec = DeciderSpecification.for(messageDecider);
const metadata = { at: '2026-12-06T10:00:00.000Z' };
const request: EmailRequested = {
  idempotencyKey: 'wf-1:inst-1:welcome',
  to: { kind: 'contact', contactId: 'ada' },
  content: { kind: 'template', templateId: 'welcome' },
  data: {},
  origin: { kind: 'workflow', id: 'wf-1', stepId: 'welcome' },
};
const ref = {
  messageId: 'm1',
  idempotencyKey: 'wf-1:inst-1:welcome',
  origin: { kind: 'workflow' as const, id: 'wf-1', stepId: 'welcome' },
  contactId: 'ada',
  address: 'ada@example.com',
};
const requested: MessageEvent = {
  type: 'cmis.email.message-requested',
  data: { ...ref, to: request.to, content: request.content, transactional: false },
  metadata,
};
const rendered: MessageEvent = {
  type: 'cmis.email.message-rendered',
  data: { ...ref, templateId: 'welcome', templateVersion: 2, subject: 'Hi Ada', links: 1 },
  metadata,
};
const sent: MessageEvent = {
  type: 'cmis.email.message-sent',
  data: { ...ref, smtpMessageId: '<m1@acme.test>', provider: 'smtp', attempt: 1, response: '250 ok' },
  metadata,
};
const requestWith = (outcome: unknown) => ({
  type: 'RequestMessage' as const,
  data: { messageId: 'm1', request, contactId: 'ada', outcome: outcome as never },
  metadata,
});
const accepted = {
  kind: 'accepted',
  smtpMessageId: '<m1@acme.test>',
  provider: 'smtp',
  response: '250 ok',
} as const;

describe('an email message', () => {
  it('is requested and rendered, recording the template version', () => {
    spec
      .given([])
      .when(
        requestWith({
          kind: 'rendered',
          address: 'ada@example.com',
          templateId: 'welcome',
          templateVersion: 2,
          subject: 'Hi Ada',
          links: 1,
        }),
      )
      .then([requested, rendered]);
  });

  it('waits for quiet hours as a deferral of attempt 0', () => {
    spec
      .given([])
      .when(
        requestWith({
          kind: 'rendered',
          address: 'ada@example.com',
          subject: 'Hi Ada',
          links: 1,
          templateId: 'welcome',
          templateVersion: 2,
          deferred: { reason: 'quiet hours', retryAt: '2026-12-06T07:00:00.000Z' },
        }),
      )
      .then([
        requested,
        rendered,
        {
          type: 'cmis.email.message-deferred',
          data: { ...ref, reason: 'quiet hours', attempt: 0, retryAt: '2026-12-06T07:00:00.000Z' },
          metadata,
        },
      ]);
  });

  it('ends failed (no address) or suppressed with the reason', () => {
    const noAddress = { ...ref, address: undefined };
    delete noAddress.address;
    spec
      .given([])
      .when(requestWith({ kind: 'failed', reason: 'the contact has no email address' }))
      .then(
        [
          { ...requested, data: { ...requested.data, address: undefined } as never },
          {
            type: 'cmis.email.message-failed',
            data: { ...noAddress, reason: 'the contact has no email address' },
            metadata,
          },
        ].map((e) => JSON.parse(JSON.stringify(e)) as MessageEvent),
      );
    spec
      .given([])
      .when(requestWith({ kind: 'suppressed', reason: 'hard_bounce', address: 'ada@example.com' }))
      .then([
        requested,
        { type: 'cmis.email.message-suppressed', data: { ...ref, reason: 'hard_bounce' }, metadata },
      ]);
  });

  it('is the same message when requested again (the idempotency key names it)', () => {
    spec
      .given([requested, rendered])
      .when(requestWith({ kind: 'failed', reason: 'x' }))
      .then([]);
  });

  it('records an attempt once: a late outcome of an attempt already recorded changes nothing', () => {
    const outcome = (attempt: number, o: unknown) => ({
      type: 'RecordSendOutcome' as const,
      data: { attempt, outcome: o as never },
      metadata,
    });
    spec.given([requested, rendered]).when(outcome(1, accepted)).then([sent]);
    spec.given([requested, rendered, sent]).when(outcome(2, accepted)).then([]);
    const deferred: MessageEvent = {
      type: 'cmis.email.message-deferred',
      data: { ...ref, reason: '451 later', smtpCode: 451, attempt: 1, retryAt: '2026-12-06T10:01:00.000Z' },
      metadata,
    };
    spec
      .given([requested, rendered])
      .when(
        outcome(1, {
          kind: 'deferred',
          reason: '451 later',
          smtpCode: 451,
          retryAt: '2026-12-06T10:01:00.000Z',
        }),
      )
      .then([deferred]);
    spec.given([requested, rendered, deferred]).when(outcome(1, accepted)).then([]);
    spec
      .given([requested, rendered, deferred])
      .when(outcome(2, accepted))
      .then([{ ...sent, data: { ...sent.data, attempt: 2 } } as MessageEvent]);
  });

  it('takes delivery, bounce and complaint reports once, and only for a message that was sent', () => {
    const report = (data: unknown) => ({ type: 'RecordReport' as const, data: data as never, metadata });
    const delivered: MessageEvent = {
      type: 'cmis.email.message-delivered',
      data: { ...ref, provider: 'ses' },
      metadata,
    };
    spec
      .given([requested, rendered])
      .when(report({ kind: 'delivered', provider: 'ses' }))
      .then([]);
    spec
      .given([requested, rendered, sent])
      .when(report({ kind: 'delivered', provider: 'ses' }))
      .then([delivered]);
    spec
      .given([requested, rendered, sent, delivered])
      .when(report({ kind: 'delivered', provider: 'ses' }))
      .then([]);
    const bounced: MessageEvent = {
      type: 'cmis.email.message-bounced',
      data: { ...ref, bounceType: 'hard', reason: '550 user unknown', smtpCode: 550, source: 'ses' },
      metadata,
    };
    const bounce = report({
      kind: 'bounced',
      bounceType: 'hard',
      reason: '550 user unknown',
      smtpCode: 550,
      source: 'ses',
    });
    spec.given([requested, rendered, sent]).when(bounce).then([bounced]);
    spec.given([requested, rendered, sent, bounced]).when(bounce).then([]);
    const complaint = report({ kind: 'complained', source: 'ses', feedbackType: 'abuse' });
    spec
      .given([requested, rendered, sent])
      .when(complaint)
      .then([
        {
          type: 'cmis.email.message-complained',
          data: { ...ref, source: 'ses', feedbackType: 'abuse' },
          metadata,
        },
      ]);
    spec.given([]).when(complaint).thenThrows(MessageNotFound);
  });

  it('records opens and clicks of a sent message with their machine flag, up to a bound', () => {
    const click = {
      type: 'RecordClick' as const,
      data: { linkIndex: 0, url: 'https://acme.test/', machine: true, machineReason: 'head_request' },
      metadata,
    };
    const clicked: MessageEvent = {
      type: 'cmis.email.message-clicked',
      data: { ...ref, machine: true, machineReason: 'head_request', linkIndex: 0, url: 'https://acme.test/' },
      metadata,
    };
    spec.given([requested, rendered]).when(click).then([]);
    spec.given([requested, rendered, sent]).when(click).then([clicked]);
    spec
      .given([requested, rendered, sent, ...Array.from({ length: MAX_HITS_PER_MESSAGE }, () => clicked)])
      .when(click)
      .then([]);
  });

  it('unsubscribes once per scope', () => {
    const unsubscribe = {
      type: 'RecordUnsubscribe' as const,
      data: { scope: 'all' as const, method: 'one_click' as const },
      metadata,
    };
    const unsubscribed: MessageEvent = {
      type: 'cmis.email.message-unsubscribed',
      data: { ...ref, scope: 'all', method: 'one_click' },
      metadata,
    };
    spec.given([requested, rendered, sent]).when(unsubscribe).then([unsubscribed]);
    spec.given([requested, rendered, sent, unsubscribed]).when(unsubscribe).then([]);
  });
});
