import {
  createTopicEnvelope,
  type EventDataOf,
  type EventTypeOf,
  type TopicEnvelope,
  type TopicName,
} from '../catalog';

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
