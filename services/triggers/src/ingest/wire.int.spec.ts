import { randomUUID } from 'node:crypto';
import { contactsTopic, createCodec, entityMetricsTopic, userActionsTopic } from '@cmis/contracts';
import type { RunningServiceProcess } from '@cmis/platform';
import { testEnv, uniqueName } from '@cmis/testkit';
import { client, createOrgWithSource, messagesNow, startTriggers, type TestOrg } from '../testing/support';

// Ingest encodes Segment facts and metric snapshots with the codec's { validated: true } (no second validation, the
// registry frame written directly): what it publishes must decode, validated, as consumers read it.
describe('ingest: published messages on the wire', () => {
  let proc: RunningServiceProcess;
  let org: TestOrg;

  beforeAll(async () => {
    proc = await startTriggers({}, uniqueName('trg'));
    org = await createOrgWithSource(proc.url);
  });
  afterAll(() => proc?.shutdown());

  it('decode with the registry codec (schema id and schema checked) to what was sent', async () => {
    const user = `u-${randomUUID()}`;
    const response = await client(proc.url)('POST', '/v1/batch', {
      writeKey: org.source.writeKey,
      body: {
        context: { library: { name: 'analytics-node' } },
        batch: [
          { type: 'track', userId: user, event: 'Order Completed', properties: { revenue: 42, note: 'é ✓' } },
          { type: 'page', anonymousId: `a-${user}`, name: 'Pricing', messageId: randomUUID() },
          { type: 'identify', userId: user, traits: { email: 'a@example.com' }, integrations: { All: true } },
          { type: 'alias', userId: user, previousId: `a-${user}`, timestamp: '2025-06-01T14:00:00+02:00' },
        ],
      },
    });
    expect(response.status).toBe(200);
    const codec = createCodec({ registryUrl: testEnv().schemaRegistryUrl });
    const messages = [
      ...(await messagesNow(userActionsTopic.name, `${org.orgId}:`)).map((m) => ({
        topic: userActionsTopic.name,
        m,
      })),
      ...(await messagesNow(contactsTopic.name, `${org.orgId}:`)).map((m) => ({
        topic: contactsTopic.name,
        m,
      })),
    ];
    expect(messages).toHaveLength(4);
    for (const { topic, m } of messages) {
      expect(m.value[0]).toBe(0); // registry framed
      const decoded = await codec.decode(topic, { value: m.value });
      expect(decoded).toEqual(m.envelope);
    }
    const tracked = messages.find((x) => x.m.envelope.type === 'cmis.triggers.action-tracked')!.m.envelope;
    expect(tracked.data).toMatchObject({
      userId: user,
      properties: { revenue: 42, note: 'é ✓' },
      context: { library: { name: 'analytics-node' } },
    });
    const aliased = messages.find((x) => x.m.envelope.type === 'cmis.triggers.contact-aliased')!.m.envelope;
    expect(aliased.data).toMatchObject({ timestamp: '2025-06-01T12:00:00.000Z' });
  });

  it('decode the same way for metric snapshots', async () => {
    const campaign = `cmp-${randomUUID()}`;
    const response = await client(proc.url)('POST', '/v1/metrics', {
      writeKey: org.source.writeKey,
      body: {
        batch: [
          { entityType: 'campaign', entityId: campaign, metrics: { spend: 120.5, ctr: 0.031 } },
          {
            entityType: 'ad_set',
            entityId: campaign,
            metrics: { clicks: 3 },
            timestamp: '2025-06-01T14:00:00+02:00',
          },
        ],
      },
    });
    expect(response.status).toBe(200);
    const codec = createCodec({ registryUrl: testEnv().schemaRegistryUrl });
    const messages = (await messagesNow(entityMetricsTopic.name, `${org.orgId}:`)).filter((m) =>
      m.key.endsWith(campaign),
    );
    expect(messages).toHaveLength(2);
    for (const m of messages) {
      expect(m.value[0]).toBe(0); // registry framed
      expect(await codec.decode(entityMetricsTopic.name, { value: m.value })).toEqual(m.envelope);
    }
    const adSet = messages.find((m) => m.envelope.data.entityType === 'ad_set')!.envelope;
    expect(adSet.data).toEqual({
      entityType: 'ad_set',
      entityId: campaign,
      metrics: { clicks: 3 },
      observedAt: '2025-06-01T12:00:00.000Z',
    });
  });
});
