import { randomUUID } from 'node:crypto';
import { ZodError } from 'zod';
import {
  allTopics,
  catalogEntries,
  createTopicEnvelope,
  deadLetterTopics,
  eventTopicByName,
  isEventTypeOf,
  payloadSchema,
  topicByName,
} from './catalog';
import { allExampleEnvelopes } from './spec-support/examples';
import { DEFAULT_PARTITIONS, EVENT_TYPE_PATTERN, TOPIC_NAME_PATTERN } from './topic';

describe('topic catalog', () => {
  it('names every topic cmis.<service>.<stream>.v<N>', () => {
    for (const topic of allTopics()) expect(topic.name).toMatch(TOPIC_NAME_PATTERN);
    expect(allTopics().map((t) => t.name)).toEqual([
      'cmis.platform.tenancy.v1',
      'cmis.triggers.user-actions.v1',
      'cmis.triggers.contacts.v1',
      'cmis.triggers.entity-metrics.v1',
      'cmis.triggers.schedule-fired.v1',
      'cmis.rules.rule-events.v1',
      'cmis.rules.actions.v1',
      'cmis.email.requests.v1',
      'cmis.email.messages.v1',
      'cmis.email.subscriptions.v1',
      'cmis.email.campaigns.v1',
      'cmis.workflows.instances.v1',
      'cmis.workflows.actions.v1',
      'cmis.drip.subscriptions.v1',
      'cmis.analytics.segments.v1',
      'cmis.analytics.decisions.v1',
      'cmis.analytics.measures.v1',
    ]);
  });

  it('names a topic after its owning service, except the platform-owned tenancy topic', () => {
    for (const topic of allTopics()) expect(topic.name.split('.')[1]).toBe(topic.service);
  });

  it('lists a dead-letter topic <name>.dlq beside every topic', () => {
    const listed = catalogEntries().map((e) => e.name);
    for (const topic of allTopics()) {
      expect(topic.deadLetterTopic).toBe(`${topic.name}.dlq`);
      expect(listed).toContain(topic.deadLetterTopic);
      expect(topicByName(topic.deadLetterTopic)).toMatchObject({
        kind: 'dead-letter',
        deadLetterOf: topic.name,
      });
    }
    expect(deadLetterTopics()).toHaveLength(allTopics().length);
    expect(new Set(listed).size).toBe(listed.length);
  });

  it('keys every message <orgId>:<subject>', () => {
    const orgId = randomUUID();
    for (const entry of catalogEntries()) {
      expect(entry.key({ orgId, subject: 'contact-1' })).toBe(`${orgId}:contact-1`);
      expect(entry.key({ orgId, subject: 'a:b' })).toBe(`${orgId}:a:b`);
    }
  });

  it('gives every topic partitions, a retention, a key description and a schema version', () => {
    for (const topic of allTopics()) {
      expect(topic.partitions).toBe(DEFAULT_PARTITIONS);
      expect(topic.retentionMs === -1 || topic.retentionMs > 0).toBe(true);
      expect(topic.keyDescription).toMatch(/^subject is /);
      expect(Number.isInteger(topic.schemaVersion) && topic.schemaVersion > 0).toBe(true);
    }
  });

  it('names event types cmis.<domain>.<event>, each carried by exactly one topic', () => {
    const types = allTopics().flatMap((t) => Object.keys(t.events));
    for (const type of types) expect(type).toMatch(EVENT_TYPE_PATTERN);
    expect(new Set(types).size).toBe(types.length);
  });

  it('finds topics by name and knows no others', () => {
    expect(topicByName('cmis.rules.actions.v1').events).toHaveProperty(['cmis.rules.action-requested']);
    expect(topicByName('cmis.nothing.here.v1')).toBeUndefined();
    expect(eventTopicByName('cmis.rules.actions.v1.dlq')).toBeUndefined();
    expect(isEventTypeOf('cmis.rules.actions.v1', 'cmis.rules.rule-fired')).toBe(false);
  });

  it('gives the payload schema of a (topic, event type)', () => {
    const schema = payloadSchema('cmis.platform.tenancy.v1', 'cmis.tenancy.api-key-revoked');
    expect(schema.parse({ keyId: 'k1' })).toEqual({ keyId: 'k1' });
    // @ts-expect-error the tenancy topic does not carry rule events
    expect(() => payloadSchema('cmis.platform.tenancy.v1', 'cmis.rules.rule-fired')).toThrow();
  });

  it('has a valid example for every event type (the specs below rely on them)', () => {
    expect(allExampleEnvelopes().map((e) => e.type)).toEqual(
      allTopics().flatMap((t) => Object.keys(t.events)),
    );
  });
});

describe('createTopicEnvelope', () => {
  const attributes = {
    id: 'evt-1',
    time: '2026-01-02T03:04:05Z',
    source: '/cmis/platform',
    subject: 'org-subject',
    orgId: randomUUID(),
  };

  it('takes the schema version from the catalog', () => {
    const envelope = createTopicEnvelope('cmis.platform.tenancy.v1', {
      ...attributes,
      type: 'cmis.tenancy.api-key-revoked',
      data: { keyId: 'k1' },
    });
    expect(envelope).toMatchObject({
      schemaVersion: 1,
      type: 'cmis.tenancy.api-key-revoked',
      data: { keyId: 'k1' },
    });
  });

  it('validates data against the event type', () => {
    expect(() =>
      createTopicEnvelope('cmis.platform.tenancy.v1', {
        ...attributes,
        type: 'cmis.tenancy.org-created',
        // @ts-expect-error name is required
        data: { orgId: attributes.orgId },
      }),
    ).toThrow(ZodError);
  });

  it('requires a userId or an anonymousId on Segment calls', () => {
    const call = {
      event: 'x',
      properties: {},
      context: {},
      messageId: 'm',
      timestamp: attributes.time,
      sourceId: 's',
    };
    const schema = payloadSchema('cmis.triggers.user-actions.v1', 'cmis.triggers.action-tracked');
    expect(schema.safeParse(call).error?.issues.map((i) => i.path)).toEqual([['userId']]);
    expect(schema.safeParse({ ...call, anonymousId: 'a' }).success).toBe(true);
  });
});
