import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseAllowlist } from './address';
import { createWebhookSender, type Resolver, type WebhookRequest } from './deliver';
import { newWebhookSecret } from './signature';

/** A listener on `host` that records every request it gets and answers as scripted. */
async function listen(
  host: string,
  answer: (req: IncomingMessage) => { status: number; headers?: Record<string, string> } = () => ({
    status: 200,
  }),
) {
  const hits: Array<{ url: string; headers: IncomingMessage['headers'] }> = [];
  const server: Server = createServer((req, res) => {
    hits.push({ url: req.url ?? '', headers: req.headers });
    req.resume();
    const a = answer(req);
    res.writeHead(a.status, a.headers);
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as AddressInfo).port;
  return { port, hits, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

const secret = newWebhookSecret();
const requestTo = (url: string): WebhookRequest => ({
  id: 'act-ssrf',
  url,
  method: 'POST',
  headers: { 'x-campaign': 'cmp-1' },
  body: { probe: true },
  secret,
});

describe('webhook SSRF: no probe reaches an address inside the network', () => {
  // The canary stands for everything inside: loopback here, where a test can see a hit.
  let canary: Awaited<ReturnType<typeof listen>>;
  // A receiver the test allows (127.0.0.2 only) that redirects wherever the path says.
  let redirector: Awaited<ReturnType<typeof listen>>;
  beforeAll(async () => {
    canary = await listen('127.0.0.1');
    redirector = await listen('127.0.0.2', (req) => ({
      status: 307,
      headers: { location: decodeURIComponent((req.url ?? '/').slice(1)) },
    }));
  });
  afterAll(async () => {
    await canary.close();
    await redirector.close();
  });

  // Names resolved as a DNS server under an attacker's control would answer them.
  const names: Record<string, string[]> = {
    'internal.example.test': ['127.0.0.1'],
    'mixed.example.test': ['93.184.216.34', '127.0.0.1'],
    'mapped.example.test': ['::ffff:127.0.0.1'],
    'compat.example.test': ['::7f00:1'],
    'nat64.example.test': ['64:ff9b::7f00:1'],
    'sixtofour.example.test': ['2002:7f00:1::1'],
    'metadata.example.test': ['169.254.169.254'],
    'private.example.test': ['10.0.0.7'],
  };
  const resolve: Resolver = async (hostname) =>
    (names[hostname] ?? []).map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));

  const probes = (p: number): string[] => [
    `http://127.0.0.1:${p}/`,
    `http://2130706433:${p}/`, // decimal
    `http://0177.0.0.1:${p}/`, // octal
    `http://0x7f.0.0.1:${p}/`, // hex
    `http://0x7f000001:${p}/`,
    `http://127.1:${p}/`,
    `http://0177.1:${p}/`,
    `http://0:${p}/`,
    `http://0.0.0.0:${p}/`,
    `http://[::]:${p}/`,
    `http://[::1]:${p}/`,
    `http://[::ffff:127.0.0.1]:${p}/`,
    `http://[::ffff:7f00:1]:${p}/`,
    `http://[::127.0.0.1]:${p}/`, // IPv4-compatible
    `http://[0:0:0:0:0:0:127.0.0.1]:${p}/`,
    `http://[::ffff:0:127.0.0.1]:${p}/`, // IPv4-translated
    `http://[64:ff9b::127.0.0.1]:${p}/`, // NAT64
    `http://[64:ff9b:1::7f00:1]:${p}/`, // local-use NAT64
    `http://[2002:7f00:1::]:${p}/`, // 6to4 of 127.0.0.1
    `http://[2001:0:4136:e378:8000:63bf:80ff:fffe]:${p}/`, // Teredo, client 127.0.0.1
    `http://user:pass@127.0.0.1:${p}/`, // userinfo
    `http://example.com@127.0.0.1:${p}/`,
    `http://127.0.0.1:${p}#@example.com/`,
    `http://127.0.0.1:${p}\\@example.com/`,
    `http://localhost:${p}/`,
    `http://LOCALHOST:${p}/`,
    `http://app.localhost:${p}/`,
    `http://169.254.169.254/latest/meta-data/`,
    `http://[::ffff:169.254.169.254]/latest/meta-data/`,
    `http://[fd00:ec2::254]/latest/meta-data/`,
    `http://100.100.100.200/latest/meta-data/`,
    `http://10.0.0.1:${p}/`,
    `http://172.16.0.1:${p}/`,
    `http://192.168.0.1:${p}/`,
    `http://100.64.0.1:${p}/`,
    `http://[fc00::1]:${p}/`,
    `http://[fe80::1]:${p}/`,
    `http://internal.example.test:${p}/`,
    `http://mixed.example.test:${p}/`,
    `http://mapped.example.test:${p}/`,
    `http://compat.example.test:${p}/`,
    `http://nat64.example.test:${p}/`,
    `http://sixtofour.example.test:${p}/`,
    `http://metadata.example.test/latest/meta-data/`,
    `http://private.example.test:${p}/`,
    `file:///etc/passwd`,
    `gopher://127.0.0.1:${p}/`,
  ];

  it('refuses every probe, directly and behind a redirect, and the canary is never hit', async () => {
    const sender = createWebhookSender({
      allowlist: parseAllowlist('127.0.0.2/32'),
      resolve,
      maxAttempts: 1,
      timeoutMs: 3_000,
    });
    const targets = probes(canary.port);
    expect(targets.length).toBeGreaterThanOrEqual(30);
    const outcomes: Array<[string, string]> = [];
    try {
      for (const target of targets) {
        const direct = await sender.deliver(requestTo(target));
        const redirected = await sender.deliver(
          requestTo(`http://127.0.0.2:${redirector.port}/${encodeURIComponent(target)}`),
        );
        for (const [how, result] of [
          ['direct', direct],
          ['redirect', redirected],
        ] as const) {
          expect([how, target, result.ok]).toEqual([how, target, false]);
          if (!result.ok) outcomes.push([`${how} ${target}`, result.reason]);
        }
      }
    } finally {
      await sender.close();
    }
    // Each refusal says why (no network error stands in for a refusal).
    for (const [probe, reason] of outcomes) {
      expect([
        probe,
        /points inside the network|refused|must be http|must not carry credentials|resolves to|does not resolve/.test(
          reason,
        ),
      ]).toEqual([probe, true]);
    }
    expect(canary.hits).toEqual([]);
    expect(redirector.hits.length).toBe(targets.length); // every redirect was asked for, none followed
  });
});

describe('webhook redirects: the signature and custom headers stay with their origin', () => {
  it('keeps them on a same-origin redirect and drops them on a cross-origin one', async () => {
    const other = await listen('127.0.0.3');
    const origin = await listen('127.0.0.2', (req) =>
      req.url === '/same'
        ? { status: 307, headers: { location: '/final' } }
        : req.url === '/away'
          ? { status: 307, headers: { location: `http://127.0.0.3:${other.port}/final` } }
          : { status: 200 },
    );
    const sender = createWebhookSender({ allowlist: parseAllowlist('127.0.0.2/32,127.0.0.3/32') });
    try {
      expect(await sender.deliver(requestTo(`http://127.0.0.2:${origin.port}/same`))).toMatchObject({
        ok: true,
      });
      expect(await sender.deliver(requestTo(`http://127.0.0.2:${origin.port}/away`))).toMatchObject({
        ok: true,
      });
      const sameFinal = origin.hits.find((h) => h.url === '/final')!;
      expect(sameFinal.headers).toMatchObject({ 'x-campaign': 'cmp-1', 'webhook-id': 'act-ssrf' });
      expect(sameFinal.headers['webhook-signature']).toMatch(/^v1,/);
      expect(other.hits).toHaveLength(1);
      for (const name of ['x-campaign', 'webhook-id', 'webhook-timestamp', 'webhook-signature']) {
        expect([name, other.hits[0]!.headers[name]]).toEqual([name, undefined]);
      }
    } finally {
      await sender.close();
      await origin.close();
      await other.close();
    }
  });
});
