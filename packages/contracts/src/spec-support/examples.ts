import {
  createTopicEnvelope,
  type EventDataOf,
  type EventTypeOf,
  type TopicEnvelope,
  type TopicName,
} from '../catalog';

const EXAMPLE_MESSAGE = {
  messageId: 'msg-1',
  idempotencyKey: 'act-3:0',
  origin: { kind: 'rule' as const, id: 'rule-1', version: 3 },
  contactId: 'contact-1',
  address: 'ada@example.com',
};

const SUB = { subscriptionId: 'sub-1', dripId: 'drip-1', contactId: 'contact-1' };
const WF = { instanceId: 'wf-inst-1', workflowId: 'wf-1', workflowVersion: 2, contactId: 'contact-1' };

/** One valid `data` per event type of the catalog, for specs. */
export const exampleData = {
  'cmis.platform.tenancy.v1': {
    'cmis.tenancy.org-created': { orgId: '3f0c4d2e-8a61-4f7b-9c1e-2b7d5a9e4f10', name: 'Acme' },
    'cmis.tenancy.api-key-issued': {
      keyId: 'key_1',
      orgId: '3f0c4d2e-8a61-4f7b-9c1e-2b7d5a9e4f10',
      hash: 'a'.repeat(64),
      scopes: ['rules:write'],
      prefix: 'cmis_live_ab12',
    },
    'cmis.tenancy.api-key-revoked': { keyId: 'key_1' },
  },
  'cmis.triggers.user-actions.v1': {
    'cmis.triggers.action-tracked': {
      userId: 'contact-1',
      event: 'Order Completed',
      properties: { total: 42.5 },
      context: { ip: '203.0.113.7' },
      messageId: 'msg-1',
      timestamp: '2026-01-02T03:04:05.000Z',
      sourceId: 'src-1',
    },
    'cmis.triggers.page-viewed': {
      anonymousId: 'anon-1',
      name: 'Pricing',
      properties: {},
      context: {},
      messageId: 'msg-2',
      timestamp: '2026-01-02T03:04:05+02:00',
      sourceId: 'src-1',
    },
    'cmis.triggers.screen-viewed': {
      userId: 'contact-1',
      properties: {},
      context: {},
      messageId: 'msg-3',
      timestamp: '2026-01-02T03:04:05Z',
      sourceId: 'src-1',
    },
  },
  'cmis.triggers.contacts.v1': {
    'cmis.triggers.contact-identified': {
      userId: 'contact-1',
      traits: { email: 'ada@example.com' },
      context: {},
      messageId: 'msg-4',
      timestamp: '2026-01-02T03:04:05Z',
      sourceId: 'src-1',
    },
    'cmis.triggers.contact-grouped': {
      userId: 'contact-1',
      groupId: 'account-9',
      traits: { plan: 'pro' },
      context: {},
      messageId: 'msg-5',
      timestamp: '2026-01-02T03:04:05Z',
      sourceId: 'src-1',
    },
    'cmis.triggers.contact-aliased': {
      userId: 'contact-1',
      previousId: 'anon-1',
      context: {},
      messageId: 'msg-6',
      timestamp: '2026-01-02T03:04:05Z',
      sourceId: 'src-1',
    },
  },
  'cmis.triggers.entity-metrics.v1': {
    'cmis.triggers.entity-metrics-observed': {
      entityType: 'campaign',
      entityId: 'cmp-7',
      metrics: { spend: 120.5, ctr: 0.031 },
      observedAt: '2026-01-02T03:00:00Z',
    },
  },
  'cmis.triggers.schedule-fired.v1': {
    'cmis.triggers.schedule-fired': {
      scheduleId: 'sch-1',
      name: 'Every morning',
      scheduledFor: '2026-01-02T08:00:00Z',
      firedAt: '2026-01-02T08:00:01Z',
    },
  },
  'cmis.rules.rule-events.v1': {
    'cmis.rules.rule-fired': {
      ruleId: 'rule-1',
      ruleVersion: 3,
      subject: 'contact-1',
      dryRun: false,
      matchedConditions: ['cond-1'],
    },
    'cmis.rules.action-succeeded': {
      ruleId: 'rule-1',
      ruleVersion: 3,
      actionId: 'act-1',
      kind: 'adjust_budget',
      attempts: 1,
      detail: { budget: 90 },
    },
    'cmis.rules.action-failed': {
      ruleId: 'rule-1',
      ruleVersion: 3,
      actionId: 'act-2',
      kind: 'webhook',
      attempts: 5,
      reason: 'HTTP 500',
      retryable: false,
    },
  },
  'cmis.rules.actions.v1': {
    'cmis.rules.action-requested': {
      ruleId: 'rule-1',
      ruleVersion: 3,
      actionId: 'act-3',
      action: {
        kind: 'webhook',
        url: 'https://hooks.example.com/cmis',
        method: 'POST',
        headers: { 'x-team': 'growth' },
        body: { hello: 'world' },
      },
    },
  },
  'cmis.email.requests.v1': {
    'cmis.email.send-requested': {
      idempotencyKey: 'act-3:0',
      to: { kind: 'contact', contactId: 'contact-1' },
      content: { kind: 'template', templateId: 'welcome' },
      data: { firstName: 'Ada' },
      origin: { kind: 'rule', id: 'rule-1', version: 3, instanceId: 'act-3' },
    },
  },
  'cmis.email.messages.v1': {
    'cmis.email.message-requested': {
      ...EXAMPLE_MESSAGE,
      to: { kind: 'contact', contactId: 'contact-1' },
      content: { kind: 'inline', subject: 'Hi {{ contact.name }}', text: 'Hello' },
      transactional: false,
    },
    'cmis.email.message-rendered': {
      ...EXAMPLE_MESSAGE,
      templateId: 'welcome',
      templateVersion: 2,
      subject: 'Welcome, Ada',
      links: 3,
    },
    'cmis.email.message-suppressed': { ...EXAMPLE_MESSAGE, reason: 'hard_bounce' },
    'cmis.email.message-deferred': {
      ...EXAMPLE_MESSAGE,
      reason: 'SMTP 451 try again later',
      smtpCode: 451,
      attempt: 1,
      retryAt: '2026-01-02T03:09:06.000Z',
    },
    'cmis.email.message-sent': {
      ...EXAMPLE_MESSAGE,
      smtpMessageId: '<msg-1@mail.example.com>',
      provider: 'smtp.example.com',
      attempt: 1,
      response: '250 OK queued',
    },
    'cmis.email.message-delivered': { ...EXAMPLE_MESSAGE, provider: 'ses' },
    'cmis.email.message-bounced': {
      ...EXAMPLE_MESSAGE,
      bounceType: 'hard',
      reason: '550 5.1.1 no such user',
      smtpCode: 550,
      source: 'ses',
    },
    'cmis.email.message-complained': { ...EXAMPLE_MESSAGE, source: 'ses', feedbackType: 'abuse' },
    'cmis.email.message-opened': { ...EXAMPLE_MESSAGE, machine: true, machineReason: 'apple_mpp' },
    'cmis.email.message-clicked': {
      ...EXAMPLE_MESSAGE,
      machine: false,
      linkIndex: 0,
      url: 'https://shop.example.com/',
    },
    'cmis.email.message-unsubscribed': { ...EXAMPLE_MESSAGE, scope: 'all', method: 'one_click' },
    'cmis.email.message-failed': { ...EXAMPLE_MESSAGE, reason: 'the contact has no email address' },
  },
  'cmis.email.subscriptions.v1': {
    'cmis.email.contact-unsubscribed': {
      contactId: 'contact-1',
      address: 'ada@example.com',
      scope: 'topic',
      topic: 'newsletter',
      method: 'preferences',
    },
    'cmis.email.contact-resubscribed': { contactId: 'contact-1', address: 'ada@example.com', scope: 'all' },
    'cmis.email.address-suppressed': { address: 'ada@example.com', reason: 'complaint', messageId: 'msg-1' },
    'cmis.email.address-unsuppressed': { address: 'ada@example.com' },
  },
  'cmis.email.campaigns.v1': {
    'cmis.email.broadcast-started': { broadcastId: 'bc-1', audienceId: 'aud-1', recipients: 1000 },
    'cmis.email.broadcast-paused': {
      broadcastId: 'bc-1',
      reason: 'complaint rate 0.4% over 0.3%',
      complaintRate: 0.004,
      by: 'policy',
    },
    'cmis.email.broadcast-completed': { broadcastId: 'bc-1', requested: 1000 },
    'cmis.email.ab-test-decided': {
      testId: 'test-1',
      broadcastId: 'bc-1',
      metric: 'clicks',
      winnerVariantId: 'b',
      decidedBy: 'significant',
      confidence: 0.95,
      pValue: 0.01,
      z: 2.6,
      variants: [
        { variantId: 'a', sent: 100, conversions: 5, rate: 0.05 },
        { variantId: 'b', sent: 100, conversions: 15, rate: 0.15 },
      ],
      reason: 'b beats a at 95% confidence',
    },
  },
  'cmis.workflows.instances.v1': {
    'cmis.workflows.instance-started': { ...WF, entry: 'event', causeId: 'evt-1' },
    'cmis.workflows.step-completed': {
      ...WF,
      stepId: 'wait-order',
      stepKind: 'wait_event',
      outcome: 'timed_out',
      next: 'send-reminder',
    },
    'cmis.workflows.instance-waiting': {
      ...WF,
      stepId: 'wait-order',
      stepKind: 'wait_event',
      until: '2026-12-06T10:00:00.000Z',
      eventName: 'order_completed',
    },
    'cmis.workflows.step-failed': {
      ...WF,
      stepId: 'hook',
      attempt: 1,
      reason: 'HTTP 503',
      retryAt: '2026-12-06T10:00:10.000Z',
    },
    'cmis.workflows.instance-ended': { ...WF, status: 'converted', stepId: 'wait-order', causeId: 'evt-2' },
    'cmis.workflows.instance-migrated': { ...WF, fromVersion: 1, fromStepId: 'wait', toStepId: 'wait-order' },
  },
  'cmis.workflows.actions.v1': {
    'cmis.workflows.action-requested': {
      ...WF,
      stepId: 'pause',
      actionId: 'wf-inst-1:pause:1',
      action: { kind: 'pause_campaign', campaignId: 'cmp-1', platform: 'google_ads' },
    },
  },
  'cmis.drip.subscriptions.v1': {
    'cmis.drip.subscriber-enrolled': {
      ...SUB,
      dripVersion: 1,
      entry: 'identify',
      causeId: 'evt-1',
      enrollment: 1,
    },
    'cmis.drip.step-due': {
      ...SUB,
      stepId: 'day-2',
      dripVersion: 1,
      dueAt: '2026-12-08T21:00:00.000Z',
      sendAt: '2026-12-09T08:00:00.000Z',
    },
    'cmis.drip.step-requested': {
      ...SUB,
      stepId: 'day-2',
      dripVersion: 1,
      templateId: 'welcome-2',
      idempotencyKey: 'drip:sub-1:day-2',
    },
    'cmis.drip.step-skipped': { ...SUB, stepId: 'day-5', dripVersion: 2, reason: 'skip condition' },
    'cmis.drip.subscriber-exited': { ...SUB, reason: 'exit event order_completed', causeId: 'evt-9' },
    'cmis.drip.subscriber-completed': { ...SUB },
    'cmis.drip.subscriber-converted': { ...SUB, goal: 'order_completed', causeId: 'evt-9' },
  },
  'cmis.analytics.segments.v1': {
    'cmis.analytics.segment-entered': {
      segmentId: 'seg-1',
      segmentVersion: 1,
      contactId: 'contact-1',
      causeId: 'evt-1',
    },
    'cmis.analytics.segment-exited': {
      segmentId: 'seg-1',
      segmentVersion: 1,
      contactId: 'contact-1',
      reason: 'window closed',
    },
    'cmis.analytics.rfm-changed': {
      contactId: 'contact-1',
      recency: 5,
      frequency: 5,
      monetary: 4,
      segment: 'champions',
      previousSegment: 'loyal',
    },
  },
  'cmis.analytics.decisions.v1': {
    'cmis.analytics.experiment-decided': {
      experimentId: 'ab-1',
      kind: 'email',
      winnerVariantId: 'b',
      metric: 'human unique clicks',
      test: 'two-proportion z',
      pValue: 0.01,
      confidence: 0.95,
      variants: [
        { variantId: 'a', exposed: 100, conversions: 5, rate: 0.05, low: 0.01, high: 0.09 },
        { variantId: 'b', exposed: 100, conversions: 15, rate: 0.15, low: 0.08, high: 0.22 },
      ],
    },
    'cmis.analytics.budget-recommended': {
      recommendationId: 'rec-1',
      fromCampaignId: 'cmp-1',
      toCampaignId: 'cmp-2',
      amount: 100,
      reason: 'CPA 80 vs 20',
      metrics: { fromCpa: 80, toCpa: 20 },
    },
    'cmis.analytics.allocation-updated': {
      experimentId: 'wf-1:split',
      kind: 'workflow_split',
      workflowId: 'wf-1',
      stepId: 'split',
      metric: 'conversion',
      explorationShare: 0.05,
      revision: 3,
      asOf: '2026-12-06T10:00:00.000Z',
      variants: [
        { variantId: 'a', weight: 0.25, exposed: 100, conversions: 5 },
        { variantId: 'b', weight: 0.75, exposed: 100, conversions: 9 },
      ],
    },
  },
  'cmis.analytics.measures.v1': {
    'cmis.analytics.measures-published': {
      periodStart: '2026-12-06T10:00:00.000Z',
      periodEnd: '2026-12-06T11:00:00.000Z',
      email: {
        requested: 10,
        sent: 10,
        delivered: 9,
        uniqueOpens: 4,
        uniqueClicks: 2,
        machineOpens: 3,
        machineClicks: 1,
        bounces: 1,
        complaints: 0,
        unsubscribes: 0,
        openRate: 0.44,
        clickRate: 0.22,
        bounceRate: 0.1,
        complaintRate: 0,
      },
      rules: [
        {
          ruleId: 'rule-1',
          firings: 3,
          suppressedFirings: 0,
          actionsRequested: 3,
          actionsSucceeded: 3,
          actionsFailed: 0,
        },
      ],
    },
  },
} satisfies { [N in TopicName]: { [T in EventTypeOf<N>]: EventDataOf<N, T> } };

export const EXAMPLE_ORG_ID = '3f0c4d2e-8a61-4f7b-9c1e-2b7d5a9e4f10';

/** A valid envelope of `type` on `topic`, with fixed attributes a spec can override. */
export function exampleEnvelope<N extends TopicName>(
  topic: N,
  type: EventTypeOf<N>,
  overrides: { orgId?: string; id?: string } = {},
): TopicEnvelope<N> {
  const data = (exampleData[topic] as Record<string, unknown>)[type];
  return createTopicEnvelope(topic, {
    id: overrides.id ?? 'evt-1',
    time: '2026-01-02T03:04:06.000Z',
    source: '/cmis/spec',
    type,
    subject: 'contact-1',
    orgId: overrides.orgId ?? EXAMPLE_ORG_ID,
    data: data as never,
  }) as TopicEnvelope<N>;
}

/** Every (topic, event type) of the catalog with an example envelope. */
export function allExampleEnvelopes(): Array<{
  topic: TopicName;
  type: string;
  envelope: TopicEnvelope<TopicName>;
}> {
  return (Object.keys(exampleData) as TopicName[]).flatMap((topic) =>
    Object.keys(exampleData[topic]).map((type) => ({
      topic,
      type,
      envelope: exampleEnvelope(topic, type as EventTypeOf<typeof topic>),
    })),
  );
}
