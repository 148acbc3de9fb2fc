// Segments and RFM in the analytics service as its own runtime on Kafka, the registry, Postgres
// and Redis, on a clock the spec moves: orders make a Champion (rfm-changed) and enter "ordered
// 3+ times in 30 days" on the order that makes it true; the window passing exits it by timer; a changed
// definition backfills; bad definitions are refused naming the fault.
import { randomUUID } from 'node:crypto';
import {
  createTopicEnvelope,
  segmentEventsTopic,
  userActionsTopic,
  type EventEnvelope,
} from '@cmis/contracts';
import { startServiceProcess, type RunningServiceProcess, type Subscription } from '@cmis/platform';
import { testEnv, uniqueName, until } from '@cmis/testkit';
import { createAnalyticsService } from '../service';

// The service with only the slices this spec is about: the others' start-up (assets, their own
// consumers) is theirs to test, and is no part of a segment's latency.
jest.mock('../slices', () => ({
  SLICES: [jest.requireActual('../rfm').rfmSlice, jest.requireActual('../segments').segmentsSlice],
}));

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;
const ADMIN_TOKEN = 'analytics-spec-admin-token-0123456789';
const DAY = 86_400_000;
const THREE_IN_30 = {
  name: 'Ordered 3+ times in 30 days',
  definition: { kind: 'performed', event: 'Order Completed', atLeast: 3, withinDays: 30 },
};

describe('segments and RFM', () => {
  let proc: RunningServiceProcess;
  let collector: Subscription;
  const clock = { t: Date.parse('2026-03-02T10:00:00Z') };
  const seen: Array<{ envelope: EventEnvelope; at: number }> = [];

  beforeAll(async () => {
    const env = testEnv();
    proc = await startServiceProcess(
      {
        service: uniqueName('analytics'),
        httpPort: 0,
        create: createAnalyticsService({ now: () => new Date(clock.t) }),
      },
      {
        KAFKA_BROKERS: env.kafkaBrokers!.join(','),
        SCHEMA_REGISTRY_URL: env.schemaRegistryUrl,
        DATABASE_URL: env.databaseUrl,
        REDIS_URL: env.redisUrl,
        CMIS_ADMIN_TOKEN: ADMIN_TOKEN,
        LOG_LEVEL: 'silent',
      },
    );
    collector = await proc.platform.bus.subscribe({
      groupId: uniqueName('segments-spec'),
      topics: [segmentEventsTopic.name],
      fromBeginning: false,
      handleBatch: async (batch) => {
        for (const m of batch.messages) {
          const envelope = await proc.platform.codec.decode(m.topic, { value: m.value, headers: m.headers });
          seen.push({ envelope, at: Date.now() });
        }
      },
    });
  });
  afterAll(async () => {
    await collector?.stop();
    await proc?.shutdown();
  });

  const call = async (method: string, path: string, token?: string, body?: unknown) => {
    const res = await fetch(`${proc.url}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return {
      status: res.status,
      type: res.headers.get('content-type'),
      body: (text ? JSON.parse(text) : undefined) as Json,
    };
  };

  async function newOrg() {
    const org = (await call('POST', '/admin/orgs', ADMIN_TOKEN, { name: uniqueName('org') })).body as {
      orgId: string;
    };
    const { key } = (
      await call('POST', `/admin/orgs/${org.orgId}/keys`, ADMIN_TOKEN, {
        scopes: ['analytics:read', 'analytics:write'],
      })
    ).body as { key: string };
    await until(
      () => call('GET', '/v1/segments', key),
      (r) => r.status !== 401,
    );
    return { orgId: org.orgId, key };
  }

  /** Publishes an order through the bus; resolves to the time it was handed to Kafka. */
  async function order(orgId: string, contactId: string, revenue: number, event = 'Order Completed') {
    const envelope = createTopicEnvelope(userActionsTopic.name, {
      id: randomUUID(),
      time: new Date(clock.t).toISOString(),
      source: '/cmis/analytics-spec',
      type: 'cmis.triggers.action-tracked',
      subject: contactId,
      orgId,
      data: {
        userId: contactId,
        context: {},
        messageId: randomUUID(),
        timestamp: new Date(clock.t).toISOString(),
        sourceId: 'spec',
        event,
        properties: { revenue },
      },
    } as never);
    const encoded = await proc.platform.codec.encode(userActionsTopic.name, envelope as EventEnvelope);
    const sentAt = Date.now();
    await proc.platform.bus.publish(userActionsTopic.name, [
      { key: `${orgId}:${contactId}`, value: encoded.value, headers: encoded.headers },
    ]);
    return { id: envelope.id, sentAt };
  }

  const eventsOf = (
    orgId: string,
    contactId: string,
    type: string,
    more: (d: Json) => boolean = () => true,
  ) =>
    seen.filter(
      (s) =>
        s.envelope.orgId === orgId &&
        s.envelope.type === type &&
        (s.envelope.data as Json).contactId === contactId &&
        more(s.envelope.data as Json),
    );
  const waitFor = (orgId: string, contactId: string, type: string, more?: (d: Json) => boolean) =>
    until(
      async () => eventsOf(orgId, contactId, type, more),
      (found) => found.length > 0,
      // Generous: what is asserted is the cause and the event time, not the latency (a full
      // suite run once took over 20 s to bring the timer's exit).
      { timeoutMs: 60_000 },
    ).then((found) => {
      if (!found[0]) throw new Error(`no ${type} of ${contactId} within 60 s`);
      return found[0];
    });

  it('refuses bad definitions naming the fault, writing nothing', async () => {
    const { key } = await newOrg();
    const bad = await call('POST', '/v1/segments', key, {
      name: 'Bad',
      definition: {
        and: [
          { kind: 'performed', event: 'Order Completed', atLeast: 3, withinDays: 0 },
          { kind: 'trait', condition: { field: 'contact.plan', operator: 'gt', value: 1 } },
          { kind: 'rfm', segment: 'whales' },
        ],
      },
    });
    expect(bad.status).toBe(400);
    expect(bad.type).toContain('application/problem+json');
    const paths = (bad.body.errors as Json[]).map((e) => e.path);
    expect(paths).toEqual(
      expect.arrayContaining(['body.definition.and.0.withinDays', 'body.definition.and.2.segment']),
    );
    expect(paths.some((p: string) => p.startsWith('body.definition.and.1.condition'))).toBe(true);
    expect((await call('POST', '/v1/segments', key, { definition: { kind: 'nope' } })).body.errors).toEqual([
      { path: 'body.name', message: 'must be a name of 1 to 200 characters' },
      {
        path: 'body.definition.kind',
        message:
          'must be and, or, not, or a leaf of kind trait, performed, not_performed, rfm, engagement, list',
      },
    ]);
    const list = await call('POST', '/v1/lists/vip/members', key, { add: [] });
    expect(list.status).toBe(400);
    expect((await call('GET', '/v1/segments', key)).body.segments).toEqual([]);
    const put = await call('PUT', `/v1/segments/${randomUUID()}`, key, THREE_IN_30);
    expect(put.status).toBe(404);
  });

  it('orders make a Champion and enter "3+ in 30 days" on the order that makes it true; the window exits it by timer; a change backfills', async () => {
    const { orgId, key } = await newOrg();
    const created = await call('POST', '/v1/segments', key, THREE_IN_30);
    expect(created.status).toBe(201);
    const segmentId = created.body.segmentId as string;
    expect(created.body.version).toBe(1);

    // Four other buyers, each with one small order some days ago, so the population is ranked.
    for (const [i, contactId] of ['b1', 'b2', 'b3', 'b4'].entries()) {
      clock.t -= (i + 1) * 3 * DAY;
      await order(orgId, contactId, 10 + i);
      clock.t += (i + 1) * 3 * DAY;
    }
    await until(
      () => call('GET', '/v1/rfm/grid', key),
      (r) => Object.values(r.body.segments as Record<string, number>).reduce((a, b) => a + b, 0) === 4,
      { timeoutMs: 20_000 },
    );

    await order(orgId, 'star', 100);
    clock.t += DAY;
    await order(orgId, 'star', 200);
    clock.t += DAY;
    const third = await order(orgId, 'star', 300);

    const entered = await waitFor(orgId, 'star', 'cmis.analytics.segment-entered');
    expect(entered.envelope.data).toEqual({
      segmentId,
      segmentVersion: 1,
      contactId: 'star',
      causeId: third.id,
    });
    // Entered by the third order itself (its causeId), not by a later sweep. How fast is the
    // segments benchmark's question (bench/src/segments.ts), not a timed test's.
    expect(entered.at).toBeGreaterThanOrEqual(third.sentAt);
    const champion = await waitFor(
      orgId,
      'star',
      'cmis.analytics.rfm-changed',
      (d) => d.segment === 'champions',
    );
    // The most recent and biggest spender is a Champion from the first order (F ties at 3).
    expect(champion.envelope.data).toMatchObject({ recency: 5, monetary: 5 });
    expect(eventsOf(orgId, 'star', 'cmis.analytics.rfm-changed')).toHaveLength(1);
    const scores = await until(
      () => call('GET', '/v1/rfm/contacts/star', key),
      (r) => r.body?.orders === 3,
    );
    expect(scores.body).toMatchObject({
      segment: 'champions',
      recency: 5,
      frequency: 5,
      monetary: 5,
      revenue: 600,
    });
    expect((await call('GET', `/v1/segments/${segmentId}/count`, key)).body.count).toBe(1);
    expect((await call('GET', `/v1/segments/${segmentId}/members?limit=10`, key)).body.members).toEqual([
      expect.objectContaining({ contactId: 'star', version: 1 }),
    ]);
    expect((await call('GET', `/v1/segments/${segmentId}/members?limit=0`, key)).status).toBe(400);

    // 29 days after the first order it is still in; past 30 days the first one leaves the window.
    clock.t += 27 * DAY;
    await new Promise((r) => setTimeout(r, 600));
    expect(eventsOf(orgId, 'star', 'cmis.analytics.segment-exited')).toEqual([]);
    clock.t += 2 * DAY;
    const exited = await waitFor(orgId, 'star', 'cmis.analytics.segment-exited');
    expect(exited.envelope.data).toEqual({
      segmentId,
      segmentVersion: 1,
      contactId: 'star',
      reason: 'a window closed',
    });
    expect((await call('GET', `/v1/segments/${segmentId}/count`, key)).body.count).toBe(0);

    // Changed to "ordered in 30 days": the backfill finds star (its third order is 29 days old;
    // the other buyers' orders are all older) and publishes it as version 2.
    const changed = await call('PUT', `/v1/segments/${segmentId}`, key, {
      ...THREE_IN_30,
      name: 'Ordered in the last 30 days',
      definition: { ...THREE_IN_30.definition, atLeast: 1 },
    });
    expect(changed.status).toBe(200);
    expect(changed.body.version).toBe(2);
    const backfilled = await waitFor(
      orgId,
      'star',
      'cmis.analytics.segment-entered',
      (d) => d.segmentVersion === 2,
    );
    expect(backfilled.envelope.data).toEqual({ segmentId, segmentVersion: 2, contactId: 'star' });
    expect((await call('GET', `/v1/segments/${segmentId}/count`, key)).body.count).toBe(1);
    // Nobody else ordered within 30 days: nobody else entered.
    expect(
      seen.filter((s) => s.envelope.orgId === orgId && s.envelope.type === 'cmis.analytics.segment-entered')
        .length,
    ).toBe(2);
  }, 180_000);

  it('a static list and a trait leaf: upload enters, removal exits', async () => {
    const { orgId, key } = await newOrg();
    const created = await call('POST', '/v1/segments', key, {
      name: 'VIP list, not lost',
      definition: { and: [{ kind: 'list', listId: 'vip' }, { not: { kind: 'rfm', segment: 'lost' } }] },
    });
    expect(created.status).toBe(201);
    const upload = await call('POST', '/v1/lists/vip/members', key, { add: ['ann', 'bob'] });
    expect(upload.body).toMatchObject({ added: 2, segmentChanges: 2 });
    await waitFor(orgId, 'ann', 'cmis.analytics.segment-entered');
    await call('POST', '/v1/lists/vip/members', key, { remove: ['bob'] });
    const exited = await waitFor(orgId, 'bob', 'cmis.analytics.segment-exited');
    expect((exited.envelope.data as Json).reason).toBe('list vip changed');
    expect((await call('GET', `/v1/segments/${created.body.segmentId}/count`, key)).body.count).toBe(1);
  });
});
