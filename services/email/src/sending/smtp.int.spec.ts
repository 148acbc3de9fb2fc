// The sender against real SMTP servers on loopback: the service's own receiver, a bare
// smtp-server where a test needs its hooks, and a TCP server that never speaks. No Kafka or
// Postgres; "int" because it opens sockets.
import { generateKeyPairSync } from 'node:crypto';
import net from 'node:net';
import { dkimVerify } from 'mailauth';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { parseReceived } from '../receiver/parse';
import { startSmtpReceiver, type ReceivedEmail, type SmtpReceiver } from '../receiver/smtp-receiver';
import {
  createSmtpSender,
  messageIdFor,
  type OutgoingEmail,
  type ProviderSettings,
  type SmtpSender,
} from './smtp-sender';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const dkim = {
  domainName: 'acme.test',
  keySelector: 'cmis1',
  privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
};
const dkimTxt = `v=DKIM1; k=rsa; p=${publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`;
/** DNS as mailauth asks it: only the selector's TXT record exists. */
const resolver = async (name: string, rrtype: string): Promise<string[][]> => {
  if (rrtype === 'TXT' && name === `${dkim.keySelector}._domainkey.${dkim.domainName}`) return [[dkimTxt]];
  throw Object.assign(new Error(`no ${rrtype} for ${name}`), { code: 'ENOTFOUND' });
};

let seq = 0;
function email(overrides: Partial<OutgoingEmail> = {}): OutgoingEmail {
  const id = `${Date.now().toString(16)}${(seq++).toString(16).padStart(8, '0')}`;
  return {
    from: { address: 'news@acme.test', name: 'Acme News' },
    to: { address: `ada-${id}@example.com`, name: 'Ada' },
    subject: 'Spring offers',
    text: 'Offers: https://t.example/c/LINK1',
    html: '<p>See <a href="https://t.example/c/LINK1">our offers</a></p>',
    messageId: messageIdFor(id, 'acme.test'),
    envelopeFrom: `bounces+${id}@bounce.acme.test`,
    headers: {
      'List-Unsubscribe': `<https://x.example/u/TOKEN${id}>, <mailto:unsub+TOKEN${id}@x.example>`,
      'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
      'X-CMIS-Message-Id': id,
    },
    ...overrides,
  };
}

const provider = (port: number, extra: Partial<ProviderSettings> = {}): ProviderSettings => ({
  name: 'loopback',
  host: '127.0.0.1',
  port,
  secure: false,
  ...extra,
});

// Everything a test opens is closed after it, senders before servers (their pooled sessions end first).
const senders: SmtpSender[] = [];
const servers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(senders.splice(0).map((s) => s.close()));
  await Promise.all(servers.splice(0).map((close) => close()));
});

function sender(options: Parameters<typeof createSmtpSender>[0] = {}): SmtpSender {
  const s = createSmtpSender(options);
  senders.push(s);
  return s;
}

async function receiver(
  onMessage: (email: ReceivedEmail) => Promise<void>,
  options: { maxBytes?: number } = {},
): Promise<SmtpReceiver> {
  const r = await startSmtpReceiver({ port: 0, onMessage, ...options });
  servers.push(() => r.close());
  return r;
}

/** A bare smtp-server, for the hooks the service's receiver does not expose. */
async function bareServer(options: SMTPServerOptions): Promise<{ port: number; received: string[] }> {
  const received: string[] = [];
  const server = new SMTPServer({
    logger: false,
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    onData(stream, _session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        received.push(Buffer.concat(chunks).toString());
        callback();
      });
    },
    ...options,
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(() => new Promise<void>((resolve) => server.close(resolve)));
  return { port: (server.server.address() as net.AddressInfo).port, received };
}

/** A TCP server that accepts and then says nothing, or only `greeting`. */
async function silentServer(greeting?: string): Promise<number> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    if (greeting) socket.write(`${greeting}\r\n`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return (server.address() as net.AddressInfo).port;
}

describe('SMTP sending', () => {
  it('delivers the message as given: exact Message-ID, VERP envelope, one-click headers signed by DKIM', async () => {
    const inbox: ReceivedEmail[] = [];
    const r = await receiver(async (m) => void inbox.push(m));
    const message = email({ dkim });

    const outcome = await sender().send(provider(r.port), message);

    expect(outcome).toEqual({ kind: 'accepted', response: expect.stringMatching(/^250/) });
    expect(inbox).toHaveLength(1);
    const received = inbox[0]!;
    expect(received.envelopeFrom).toBe(message.envelopeFrom);
    expect(received.recipients).toEqual([message.to.address]);

    const parsed = await parseReceived(received.raw);
    const header = (name: string) => parsed.headers.filter(([k]) => k === name).map(([, v]) => v);
    expect(header('message-id')).toEqual([message.messageId]);
    expect(header('list-unsubscribe')).toEqual([message.headers['List-Unsubscribe']]);
    expect(header('list-unsubscribe-post')).toEqual(['List-Unsubscribe=One-Click']);
    expect(header('x-cmis-message-id')).toEqual([message.headers['X-CMIS-Message-Id']]);
    expect(parsed.html).toContain('href="https://t.example/c/LINK1"');
    expect(parsed.text).toContain('https://t.example/c/LINK1');

    const [signature] = header('dkim-signature');
    const signed = /(?:^|;)\s*h=([^;]+)/.exec(signature!.replace(/\s+/g, ''))![1]!.toLowerCase().split(':');
    expect(signed).toEqual(
      expect.arrayContaining([
        'from',
        'to',
        'subject',
        'date',
        'message-id',
        'list-unsubscribe',
        'list-unsubscribe-post',
      ]),
    );
    const verified = await dkimVerify(received.raw, { resolver });
    expect(verified.results.map((res) => [res.signingDomain, res.status.result])).toEqual([
      ['acme.test', 'pass'],
    ]);

    // Covered means covered: a rewritten one-click header breaks the signature.
    const tampered = Buffer.from(
      received.raw.toString().replace('List-Unsubscribe=One-Click', 'List-Unsubscribe=Nope'),
    );
    expect((await dkimVerify(tampered, { resolver })).results[0]!.status.result).toBe('fail');
  });

  it('does not send with a DKIM key it cannot sign with: deferred, nothing handed over', async () => {
    const inbox: ReceivedEmail[] = [];
    const r = await receiver(async (m) => void inbox.push(m));
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
      type: 'pkcs8',
      format: 'pem',
    });

    const broken = await sender().send(
      provider(r.port),
      email({ dkim: { ...dkim, privateKey: 'not a key' } }),
    );
    const wrongKind = await sender().send(
      provider(r.port),
      email({ dkim: { ...dkim, privateKey: ec.toString() } }),
    );

    expect(broken).toEqual({ kind: 'deferred', reason: expect.stringContaining('DKIM key unusable') });
    expect(wrongKind).toEqual({ kind: 'deferred', reason: expect.stringContaining('rsa-sha256 needs RSA') });
    expect(inbox).toHaveLength(0);
  });

  it('a receiver that cannot store the message answers 451: deferred with the code', async () => {
    const r = await receiver(async () => {
      throw new Error('disk full');
    });
    const outcome = await sender().send(provider(r.port), email());
    expect(outcome).toEqual({ kind: 'deferred', smtpCode: 451, reason: expect.stringContaining('451') });
  });

  it('a recipient refused with 550 at RCPT TO is bounced with 550', async () => {
    const server = await bareServer({
      onRcptTo: (_address, _session, callback) =>
        callback(Object.assign(new Error('5.1.1 No such user here'), { responseCode: 550 })),
    });
    const outcome = await sender().send(provider(server.port), email());
    expect(outcome).toEqual({
      kind: 'bounced',
      smtpCode: 550,
      reason: expect.stringContaining('550 5.1.1 No such user here'),
    });
    expect(server.received).toHaveLength(0);
  });

  it('a message over the receiver limit is bounced 552 after DATA (the sender offers no SIZE)', async () => {
    const inbox: ReceivedEmail[] = [];
    const r = await receiver(async (m) => void inbox.push(m), { maxBytes: 2_048 });
    const outcome = await sender().send(
      provider(r.port),
      email({ text: 'x'.repeat(10_000), html: undefined }),
    );
    expect(outcome).toEqual({ kind: 'bounced', smtpCode: 552, reason: expect.stringContaining('at DATA') });
    expect(inbox).toHaveLength(0);
  });

  it('a server that never greets is deferred within the greeting bound', async () => {
    const port = await silentServer();
    const started = Date.now();
    const outcome = await sender({ greetingTimeoutMs: 500 }).send(provider(port), email());
    expect(outcome).toEqual({ kind: 'deferred', reason: 'ETIMEDOUT at CONN: Greeting never received' });
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('a server that greets and then hangs is deferred within the socket bound', async () => {
    const port = await silentServer('220 hello, and then nothing');
    const started = Date.now();
    const outcome = await sender({ socketTimeoutMs: 500 }).send(provider(port), email());
    expect(outcome).toEqual({ kind: 'deferred', reason: expect.stringContaining('ETIMEDOUT') });
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('a provider that is down is deferred: nothing lost', async () => {
    const port = await silentServer();
    await servers.pop()!(); // closed: the port now refuses
    const outcome = await sender().send(provider(port), email());
    expect(outcome).toEqual({ kind: 'deferred', reason: expect.stringContaining('ECONNREFUSED') });
  });

  it('pools: sends to one provider reuse a connection; changed settings get their own transport', async () => {
    let connections = 0;
    const server = await bareServer({
      onConnect: (_session, callback) => {
        connections += 1;
        callback();
      },
    });
    const smtp = sender();
    const one = provider(server.port, { maxConnections: 1 });

    const first = await Promise.all([1, 2, 3].map(() => smtp.send(one, email())));
    const later = await smtp.send(one, email());

    expect([...first, later].map((o) => o.kind)).toEqual(['accepted', 'accepted', 'accepted', 'accepted']);
    expect(server.received).toHaveLength(4);
    expect(connections).toBe(1);

    expect((await smtp.send({ ...one, maxConnections: 2 }, email())).kind).toBe('accepted');
    expect(connections).toBe(2);
  });

  it('a closed sender sends nothing and says so', async () => {
    const inbox: ReceivedEmail[] = [];
    const r = await receiver(async (m) => void inbox.push(m));
    const smtp = sender();
    await smtp.close();
    expect(await smtp.send(provider(r.port), email())).toEqual({
      kind: 'deferred',
      reason: expect.any(String),
    });
    expect(inbox).toHaveLength(0);
  });
});
