import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseAllowlist } from './address';
import { createWebhookSender, type WebhookRequest } from './deliver';
import { newWebhookSecret, signWebhook } from './signature';

type Received = { headers: IncomingMessage['headers']; body: string; url: string };

/** A local receiver on 127.0.0.1 answering with whatever the test scripts. */
async function startReceiver(
  answer: (
    n: number,
    req: IncomingMessage,
  ) => { status: number; headers?: Record<string, string>; body?: string; delayMs?: number },
) {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push({ headers: req.headers, body, url: req.url ?? '' });
      const a = answer(received.length, req);
      setTimeout(() => {
        res.writeHead(a.status, a.headers);
        res.end(a.body ?? '');
      }, a.delayMs ?? 0);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    received,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const local = parseAllowlist('127.0.0.1/32');
const secret = newWebhookSecret();
const requestTo = (url: string, id = 'act-1'): WebhookRequest => ({
  id,
  url,
  method: 'POST',
  headers: { 'x-campaign': 'cmp-1' },
  body: { rule: 'Pause high CPA campaigns', cpa: 55 },
  secret,
});

describe('webhook delivery against a local receiver', () => {
  it('signs per Standard Webhooks and retries under one webhook-id until it succeeds', async () => {
    const receiver = await startReceiver((n) => ({ status: n < 3 ? 503 : 200, body: 'ok' }));
    const sender = createWebhookSender({ allowlist: local, backoffMs: 10 });
    try {
      const result = await sender.deliver(requestTo(`${receiver.url}/hook`));
      expect(result).toMatchObject({ ok: true, status: 200, attempts: 3 });
      expect(receiver.received).toHaveLength(3);
      expect(new Set(receiver.received.map((r) => r.headers['webhook-id']))).toEqual(new Set(['act-1']));
      for (const r of receiver.received) {
        const ts = Number(r.headers['webhook-timestamp']);
        expect(r.headers['webhook-signature']).toBe(signWebhook(secret, 'act-1', ts, r.body));
        expect(Math.abs(ts - Date.now() / 1000)).toBeLessThan(60);
        expect(r.headers['x-campaign']).toBe('cmp-1');
        expect(JSON.parse(r.body)).toEqual({ rule: 'Pause high CPA campaigns', cpa: 55 });
      }
    } finally {
      await sender.close();
      await receiver.close();
    }
  });

  it('gives up after the last attempt, and does not retry a 4xx', async () => {
    const failing = await startReceiver(() => ({ status: 500 }));
    const refusing = await startReceiver(() => ({ status: 410 }));
    const sender = createWebhookSender({ allowlist: local, backoffMs: 5, maxAttempts: 3 });
    try {
      expect(await sender.deliver(requestTo(failing.url))).toMatchObject({
        ok: false,
        retryable: true,
        attempts: 3,
      });
      expect(failing.received).toHaveLength(3);
      expect(await sender.deliver(requestTo(refusing.url))).toMatchObject({
        ok: false,
        retryable: false,
        attempts: 1,
        status: 410,
      });
    } finally {
      await sender.close();
      await Promise.all([failing.close(), refusing.close()]);
    }
  });

  it('refuses a private address that is not allowlisted, before any connection', async () => {
    const receiver = await startReceiver(() => ({ status: 200 }));
    const sender = createWebhookSender({ backoffMs: 5 });
    try {
      const result = await sender.deliver(requestTo(receiver.url));
      expect(result).toMatchObject({ ok: false, retryable: false, attempts: 1 });
      expect(!result.ok && result.reason).toContain('loopback');
      expect(receiver.received).toHaveLength(0);
    } finally {
      await sender.close();
      await receiver.close();
    }
  });

  it('checks every address a name resolves to, and connects to the address it checked', async () => {
    const receiver = await startReceiver(() => ({ status: 204 }));
    // hooks.cmis.test exists in no DNS: reaching the receiver proves the checked address is the one used.
    const resolve = async (host: string) => {
      if (host === 'hooks.cmis.test') return [{ address: '127.0.0.1', family: 4 }];
      if (host === 'mixed.cmis.test')
        return [
          { address: '8.8.8.8', family: 4 },
          { address: '10.0.0.5', family: 4 },
        ];
      throw new Error(`no such host ${host}`);
    };
    const open = createWebhookSender({ allowlist: local, resolve, backoffMs: 5 });
    const closed = createWebhookSender({ resolve, backoffMs: 5 });
    try {
      expect(await open.deliver(requestTo(`http://hooks.cmis.test:${receiver.port}/x`))).toMatchObject({
        ok: true,
        status: 204,
      });
      expect(receiver.received).toHaveLength(1);
      const refused = await closed.deliver(requestTo(`http://hooks.cmis.test:${receiver.port}/x`));
      expect(refused).toMatchObject({ ok: false, retryable: false });
      expect(!refused.ok && refused.reason).toContain('resolves to 127.0.0.1 is a loopback address');
      const mixed = await open.deliver(requestTo(`http://mixed.cmis.test:${receiver.port}/x`));
      expect(!mixed.ok && mixed.reason).toContain('10.0.0.5 is a private address');
      expect(receiver.received).toHaveLength(1);
    } finally {
      await Promise.all([open.close(), closed.close()]);
      await receiver.close();
    }
  });

  it('re-checks every redirect: into the network or the metadata address is refused', async () => {
    const resolve = async () => [{ address: '10.1.2.3', family: 4 }];
    for (const target of [
      'http://169.254.169.254/latest/meta-data/',
      'http://10.0.0.1/admin',
      'http://[::ffff:192.168.0.1]/',
      'http://internal.cmis.test/',
    ]) {
      const receiver = await startReceiver(() => ({ status: 302, headers: { location: target } }));
      const sender = createWebhookSender({ allowlist: local, resolve, backoffMs: 5 });
      try {
        const result = await sender.deliver(requestTo(receiver.url));
        expect(result).toMatchObject({ ok: false, retryable: false, attempts: 1 });
        expect(!result.ok && result.reason).toMatch(/redirect|refused/);
      } finally {
        await sender.close();
        await receiver.close();
      }
    }
  });

  it('follows an allowed redirect, bounds the response size and the time', async () => {
    const target = await startReceiver(() => ({ status: 200, body: 'x'.repeat(200_000) }));
    const hop = await startReceiver(() => ({ status: 307, headers: { location: `${target.url}/final` } }));
    const slow = await startReceiver(() => ({ status: 200, delayMs: 1_500 }));
    const sender = createWebhookSender({
      allowlist: local,
      backoffMs: 5,
      maxResponseBytes: 1024,
      timeoutMs: 300,
      maxAttempts: 2,
    });
    try {
      expect(await sender.deliver(requestTo(hop.url))).toMatchObject({
        ok: true,
        status: 200,
        truncated: true,
        bytes: 1024,
      });
      expect(target.received[0]!.url).toBe('/final');
      // Another port is another origin: the signature stays behind (ssrf.int.spec.ts).
      expect(target.received[0]!.headers['webhook-id']).toBeUndefined();
      const started = Date.now();
      expect(await sender.deliver(requestTo(slow.url))).toMatchObject({
        ok: false,
        retryable: true,
        attempts: 2,
      });
      expect(Date.now() - started).toBeLessThan(1_500);
    } finally {
      await sender.close();
      await Promise.all([target.close(), hop.close(), slow.close()]);
    }
  });
});
