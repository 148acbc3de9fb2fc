import { randomUUID } from 'node:crypto';
import { deflateSync, gzipSync } from 'node:zlib';
import { contactsTopic, userActionsTopic } from '@cmis/contracts';
import type { RunningServiceProcess } from '@cmis/platform';
import { uniqueName } from '@cmis/testkit';
import { client, createOrgWithSource, messagesNow, startTriggers, type TestOrg } from '../testing/support';

describe('ingest: Segment calls over HTTP to Kafka', () => {
  let proc: RunningServiceProcess;
  let org: TestOrg;
  const service = uniqueName('trg');

  beforeAll(async () => {
    proc = await startTriggers({}, service);
    org = await createOrgWithSource(proc.url);
  });
  afterAll(() => proc?.shutdown());

  const send = (path: string, body: unknown, writeKey = org.source.writeKey) =>
    client(proc.url)('POST', path, { writeKey, body });

  it('publishes every call type to its topic, keyed <orgId>:<userId or anonymousId>', async () => {
    const user = `u-${randomUUID()}`;
    const calls: Array<[string, Record<string, unknown>]> = [
      ['/v1/track', { userId: user, event: 'Order Completed', properties: { revenue: 42 } }],
      ['/v1/page', { anonymousId: `anon-${user}`, name: 'Pricing', properties: { path: '/pricing' } }],
      ['/v1/screen', { userId: user, name: 'Home' }],
      ['/v1/identify', { userId: user, traits: { email: 'a@example.com', plan: 'pro' } }],
      ['/v1/group', { userId: user, groupId: 'acme', traits: { seats: 10 } }],
      ['/v1/alias', { userId: user, previousId: `anon-${user}` }],
    ];
    for (const [path, body] of calls) {
      const response = await send(path, { ...body, messageId: randomUUID() });
      expect([path, response.status]).toEqual([path, 200]);
    }
    const actions = await messagesNow(userActionsTopic.name, `${org.orgId}:`);
    const contacts = await messagesNow(contactsTopic.name, `${org.orgId}:`);
    expect(actions.map((m) => [m.envelope.type, m.key]).sort()).toEqual(
      [
        ['cmis.triggers.action-tracked', `${org.orgId}:${user}`],
        ['cmis.triggers.page-viewed', `${org.orgId}:anon-${user}`],
        ['cmis.triggers.screen-viewed', `${org.orgId}:${user}`],
      ].sort(),
    );
    expect(contacts.map((m) => m.envelope.type).sort()).toEqual([
      'cmis.triggers.contact-aliased',
      'cmis.triggers.contact-grouped',
      'cmis.triggers.contact-identified',
    ]);
    const tracked = actions.find((m) => m.envelope.type === 'cmis.triggers.action-tracked')!;
    expect(tracked.envelope).toMatchObject({
      orgId: org.orgId,
      subject: user,
      data: {
        userId: user,
        event: 'Order Completed',
        properties: { revenue: 42 },
        context: {},
        sourceId: org.source.sourceId,
      },
    });
    const identified = contacts.find((m) => m.envelope.type === 'cmis.triggers.contact-identified')!;
    expect(identified.envelope.data.traits).toEqual({ email: 'a@example.com', plan: 'pro' });
  });

  it('accepts the valid calls of a batch and reports each rejected one by index', async () => {
    const user = `b-${randomUUID()}`;
    const response = await send('/v1/batch', {
      batch: [
        { type: 'track', userId: user, event: 'First', messageId: randomUUID() },
        { type: 'track', userId: user, messageId: randomUUID() },
        { type: 'identify', userId: user, traits: { plan: 'free' }, messageId: randomUUID() },
        { type: 'launch', userId: user },
        { type: 'page', userId: 42 },
        { type: 'track', userId: user, event: 'Second', messageId: randomUUID(), timestamp: 'yesterday' },
      ],
    });
    expect(response.status).toBe(200);
    const result = (await response.json()) as {
      accepted: number;
      rejected: Array<{ index: number; errors: Array<{ path: string }> }>;
    };
    expect(result.accepted).toBe(2);
    expect(result.rejected.map((r) => [r.index, r.errors.map((e) => e.path)])).toEqual([
      [1, ['body.batch.1.event']],
      [3, ['body.batch.3.type']],
      [4, ['body.batch.4.userId']],
      [5, ['body.batch.5.timestamp']],
    ]);
    const published = await messagesNow(userActionsTopic.name, `${org.orgId}:${user}`);
    expect(published.map((m) => m.envelope.data.event)).toEqual(['First']);
    expect(await messagesNow(contactsTopic.name, `${org.orgId}:${user}`)).toHaveLength(1);
  });

  it.each([
    ['gzip', gzipSync],
    ['deflate', deflateSync],
  ] as const)('accepts a %s-compressed batch, as server-side SDKs send them', async (encoding, compress) => {
    const user = `u-${randomUUID()}`;
    const batch = Array.from({ length: 200 }, (_, i) => ({
      type: 'track',
      userId: user,
      event: 'Compressed',
      messageId: randomUUID(),
      properties: { i, padding: 'x'.repeat(2_000) },
    }));
    // ~430 KB inflated, within the 512 KB limit; a few KB on the wire.
    const response = await fetch(`${proc.url}/v1/batch`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${org.source.writeKey}:`).toString('base64')}`,
        'content-type': 'application/json',
        'content-encoding': encoding,
      },
      body: compress(Buffer.from(JSON.stringify({ batch }))),
    });
    expect(response.status).toBe(200);
    const published = await messagesNow(userActionsTopic.name, `${org.orgId}:${user}`);
    expect(
      published
        .map((m) => (m.envelope.data as { properties: { i: number } }).properties.i)
        .sort((a, b) => a - b),
    ).toEqual(batch.map((_, i) => i));
  });

  it('publishes a retried messageId once, also after a restart of triggers (Redis, not memory)', async () => {
    const user = `i-${randomUUID()}`;
    const call = { userId: user, event: 'Signed Up', messageId: `m-${randomUUID()}` };
    expect((await send('/v1/track', call)).status).toBe(200);
    const retried = await send('/v1/track', call);
    expect(retried.status).toBe(200);
    expect(await retried.json()).toEqual({ success: true, duplicate: true });

    await proc.shutdown();
    proc = await startTriggers({}, service);
    const afterRestart = await send('/v1/track', call);
    expect(afterRestart.status).toBe(200);
    expect(await afterRestart.json()).toEqual({ success: true, duplicate: true });
    const inBatch = await send('/v1/batch', { batch: [{ type: 'track', ...call }] });
    expect(await inBatch.json()).toMatchObject({ accepted: 1, duplicates: 1 });

    expect(await messagesNow(userActionsTopic.name, `${org.orgId}:${user}`)).toHaveLength(1);
  });

  it('answers requests sent at once with the same messageId 200: one publishes, the others wait and learn it is a duplicate', async () => {
    const user = `c-${randomUUID()}`;
    const call = { userId: user, event: 'Clicked Twice', messageId: `m-${randomUUID()}` };
    const answers = await Promise.all(
      Array.from({ length: 6 }, async () => {
        const response = await send('/v1/track', call);
        return { status: response.status, body: (await response.json()) as { duplicate?: boolean } };
      }),
    );
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(answers.filter((a) => a.body.duplicate !== true)).toHaveLength(1);
    expect(await messagesNow(userActionsTopic.name, `${org.orgId}:${user}`)).toHaveLength(1);
  });

  it('answers 429 with Retry-After over the per-source limit', async () => {
    const limited = await startTriggers({ rateLimits: { sourceEventsPerSecond: 3 } });
    try {
      const limitedOrg = await createOrgWithSource(limited.url);
      const post = () =>
        client(limited.url)('POST', '/v1/batch', {
          writeKey: limitedOrg.source.writeKey,
          body: {
            batch: [
              { type: 'track', userId: 'u', event: 'E' },
              { type: 'track', userId: 'u', event: 'E' },
            ],
          },
        });
      expect((await post()).status).toBe(200);
      const refused = await post();
      expect(refused.status).toBe(429);
      expect(refused.headers.get('content-type')).toContain('application/problem+json');
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    } finally {
      await limited.shutdown();
    }
  });

  it('claims no messageId for a request over the limit (its retry is published), and 429 wins over 400', async () => {
    const limited = await startTriggers({ rateLimits: { sourceEventsPerSecond: 2 } });
    try {
      const limitedOrg = await createOrgWithSource(limited.url);
      const user = `l-${randomUUID()}`;
      const post = (batch: unknown[]) =>
        client(limited.url)('POST', '/v1/batch', { writeKey: limitedOrg.source.writeKey, body: { batch } });
      const invalid = { type: 'track', userId: user };
      const track = () => ({ type: 'track', userId: user, event: 'E', messageId: `m-${randomUUID()}` });

      // In one 1 s window: 2 points spent, then an over-limit call and an invalid batch are refused.
      // Should a window end between the three requests, the next attempt starts in a fresh one.
      let call: ReturnType<typeof track> | undefined;
      let refused: Response | undefined;
      for (let attempt = 0; attempt < 3 && !call; attempt++) {
        const candidate = track();
        const statuses = [
          (await post([track(), invalid])).status,
          (refused = await post([candidate])).status,
          (await post([invalid])).status,
        ];
        if (statuses.join() === '200,429,429') call = candidate;
        else await new Promise((resolve) => setTimeout(resolve, 1_100));
      }
      expect(call).toBeDefined();

      await new Promise((resolve) =>
        setTimeout(resolve, Number(refused!.headers.get('retry-after')) * 1_000),
      );
      const retried = await post([call!]);
      expect(retried.status).toBe(200);
      expect(await retried.json()).toMatchObject({ accepted: 1, duplicates: 0 });
      const invalidAlone = await post([invalid]);
      expect(invalidAlone.status).toBe(400);

      const published = await messagesNow(userActionsTopic.name, `${limitedOrg.orgId}:${user}`);
      expect(published.filter((m) => m.envelope.data.messageId === call!.messageId)).toHaveLength(1);
    } finally {
      await limited.shutdown();
    }
  });
});
