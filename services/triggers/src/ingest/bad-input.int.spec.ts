import { randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { contactsTopic, entityMetricsTopic, userActionsTopic } from '@cmis/contracts';
import type { RunningServiceProcess } from '@cmis/platform';
import { signatureOf } from '../webhooks/signature';
import { client, createOrgWithSource, messagesNow, startTriggers, type TestOrg } from '../testing/support';

/**
 * Each bad input gets a 4xx problem+json naming the field at fault. No test here sends anything
 * valid, so the last test proves that none of them reached a topic.
 */
describe('ingest: bad input is refused with problem+json and publishes nothing', () => {
  let proc: RunningServiceProcess;
  let org: TestOrg;

  beforeAll(async () => {
    proc = await startTriggers();
    org = await createOrgWithSource(proc.url);
  });
  afterAll(() => proc?.shutdown());

  const raw = (path: string, body: string, headers: Record<string, string>) =>
    fetch(`${proc.url}${path}`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${org.source.writeKey}:`).toString('base64')}`,
        ...headers,
      },
      body,
    });
  const send = (path: string, body: unknown, writeKey = org.source.writeKey) =>
    client(proc.url)('POST', path, { writeKey, body });

  async function expectProblem(response: Response, status: number, path?: string) {
    expect(response.status).toBe(status);
    expect(response.headers.get('content-type')).toContain('application/problem+json');
    const problem = (await response.json()) as { status: number; errors?: Array<{ path: string }> };
    expect(problem.status).toBe(status);
    if (path !== undefined) expect(problem.errors?.map((e) => e.path)).toContain(path);
  }

  it('malformed JSON', async () => {
    // The platform's body parser answers before service routes; its problem carries no field path.
    await expectProblem(
      await raw('/v1/track', '{"userId": "u", "event": ', { 'content-type': 'application/json' }),
      400,
    );
  });

  it('wrong content type', async () => {
    await expectProblem(
      await raw('/v1/track', 'userId=u&event=E', { 'content-type': 'application/x-www-form-urlencoded' }),
      415,
    );
  });

  it('an event over 32 KB', async () => {
    await expectProblem(
      await send('/v1/track', { userId: 'u', event: 'E', properties: { blob: 'x'.repeat(33_000) } }),
      413,
      'body',
    );
  });

  it('a batch over 500 KB', async () => {
    const call = { type: 'track', userId: 'u', event: 'E', properties: { blob: 'x'.repeat(20_000) } };
    await expectProblem(
      await send('/v1/batch', { batch: Array.from({ length: 26 }, () => call) }),
      413,
      'body',
    );
  });

  it('wrong types', async () => {
    await expectProblem(await send('/v1/track', { userId: 42, event: 'E' }), 400, 'body.userId');
    await expectProblem(await send('/v1/identify', { userId: 'u', traits: 'gold' }), 400, 'body.traits');
    await expectProblem(
      await send('/v1/metrics', { entityType: 'campaign', entityId: 'c', metrics: { spend: '12' } }),
      400,
      'body.metrics.spend',
    );
  });

  it('missing identifiers', async () => {
    await expectProblem(await send('/v1/track', { event: 'E' }), 400, 'body.userId');
    await expectProblem(await send('/v1/alias', { previousId: 'a' }), 400, 'body.userId');
    await expectProblem(
      await send('/v1/metrics', { entityType: 'campaign', metrics: { spend: 1 } }),
      400,
      'body.entityId',
    );
  });

  it('an unparseable timestamp', async () => {
    await expectProblem(
      await send('/v1/track', { userId: 'u', event: 'E', timestamp: 'next friday' }),
      400,
      'body.timestamp',
    );
  });

  it('a timestamp more than a day in the future', async () => {
    const future = new Date(Date.now() + 25 * 3600 * 1000).toISOString();
    await expectProblem(await send('/v1/page', { userId: 'u', timestamp: future }), 400, 'body.timestamp');
    await expectProblem(
      await send('/v1/metrics', {
        entityType: 'ad',
        entityId: 'a',
        metrics: { clicks: 1 },
        timestamp: future,
      }),
      400,
      'body.timestamp',
    );
  });

  it('a batch whose calls are all invalid', async () => {
    await expectProblem(
      await send('/v1/batch', { batch: [{ type: 'track', userId: 'u' }] }),
      400,
      'body.batch.0.event',
    );
  });

  it('text Postgres cannot store (NUL, lone surrogates), wherever it is', async () => {
    // JSON.stringify writes a lone surrogate as a \u escape and NUL as \u0000: what SDKs send.
    await expectProblem(
      await send('/v1/track', { userId: 'u', event: 'E', properties: { name: 'a\u0000b' } }),
      400,
      'body.properties.name',
    );
    await expectProblem(await send('/v1/identify', { userId: 'u\ud800' }), 400, 'body.userId');
    await expectProblem(
      await send('/v1/batch', {
        batch: [
          { type: 'track', userId: 'u', event: 'E' },
          { type: 'track', userId: 'u', event: 'E', context: { ['k\udc00']: 1 } },
        ],
      }),
      400,
      'body.batch.1.context.k\udc00',
    );
    await expectProblem(
      await send('/v1/metrics', { entityType: 'campaign', entityId: 'c\u0000', metrics: { cpa: 1 } }),
      400,
      'body.entityId',
    );
  });

  it('a compressed body that inflates past the limit (a zip bomb): 413, inflated no further', async () => {
    // 1 GiB of zeros would be ~1 MB gzipped; 64 MiB (~65 KB) makes the point. The limit (512 KB)
    // applies to the inflated bytes, so the body is refused as soon as they pass it.
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20));
    const response = await fetch(`${proc.url}/v1/batch`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${org.source.writeKey}:`).toString('base64')}`,
        'content-type': 'application/json',
        'content-encoding': 'gzip',
      },
      body: bomb,
    });
    await expectProblem(response, 413);
  });

  it('an unknown content encoding: 415', async () => {
    const response = await fetch(`${proc.url}/v1/track`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${org.source.writeKey}:`).toString('base64')}`,
        'content-type': 'application/json',
        'content-encoding': 'compress',
      },
      body: '{"userId":"u","event":"E"}',
    });
    await expectProblem(response, 415);
  });

  it('an unknown write key, or none', async () => {
    await expectProblem(
      await send('/v1/track', { userId: 'u', event: 'E' }, 'wk_unknown'),
      401,
      'headers.authorization',
    );
    await expectProblem(
      await client(proc.url)('POST', '/v1/track', { body: { userId: 'u', event: 'E' } }),
      401,
      'headers.authorization',
    );
  });

  describe('webhooks', () => {
    const hook = (sourceId: string, body: string, headers: Record<string, string>) =>
      fetch(`${proc.url}/v1/webhooks/${sourceId}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body,
      });
    const payload = JSON.stringify({ type: 'invoice.paid', data: { userId: 'cus_1' } });
    const signedHeaders = (
      id: string,
      seconds: number,
      secret = org.source.webhookSecret,
      body = payload,
    ) => ({
      'webhook-id': id,
      'webhook-timestamp': String(seconds),
      'webhook-signature': `v1,${signatureOf(secret, id, seconds, body)}`,
    });
    const nowSeconds = () => Math.floor(Date.now() / 1000);

    it('a bad signature', async () => {
      const wrong = `whsec_${Buffer.from('not the secret of this source').toString('base64')}`;
      await expectProblem(
        await hook(org.source.sourceId, payload, signedHeaders(`msg_${randomUUID()}`, nowSeconds(), wrong)),
        401,
        'headers.webhook-signature',
      );
    });

    it('a stale signature', async () => {
      await expectProblem(
        await hook(org.source.sourceId, payload, signedHeaders(`msg_${randomUUID()}`, nowSeconds() - 301)),
        401,
        'headers.webhook-timestamp',
      );
    });

    it('missing webhook headers', async () => {
      await expectProblem(await hook(org.source.sourceId, payload, {}), 400, 'headers.webhook-id');
    });

    it('an unknown source', async () => {
      await expectProblem(
        await hook('src_does_not_exist', payload, signedHeaders(`msg_${randomUUID()}`, nowSeconds())),
        404,
        'params.sourceId',
      );
    });

    it('a payload that does not fit the mapping', async () => {
      const body = JSON.stringify({ type: 'invoice.paid', data: {} });
      await expectProblem(
        await hook(
          org.source.sourceId,
          body,
          signedHeaders(`msg_${randomUUID()}`, nowSeconds(), org.source.webhookSecret, body),
        ),
        400,
        'body.data.userId',
      );
    });
  });

  it('published nothing for any of the inputs above', async () => {
    for (const topic of [userActionsTopic.name, contactsTopic.name, entityMetricsTopic.name]) {
      expect([topic, await messagesNow(topic, `${org.orgId}:`)]).toEqual([topic, []]);
    }
  });
});
