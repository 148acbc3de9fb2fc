import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { connect, type AddressInfo } from 'node:net';
import { createCodec, createTopicEnvelope, emailRequestsTopic, type EmailRequested } from '@cmis/contracts';
import { createKafkaBus, type OutgoingMessage } from '@cmis/platform';
import { freePort, uniqueName, type Infra } from '@cmis/testkit';
import { simpleParser } from 'mailparser';
import nodemailer, { type Transporter } from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { secondsSince, type Benchmark } from './bench';
import { BENCH_ADMIN_TOKEN, pollUntil, startServiceProcess } from './service-process';

// Enough for the measured phase to last over 10 s on the 2-core bench machine.
const COUNT = Number(process.env.BENCH_EMAIL_COUNT ?? 3_000);
const WARMUP = 200;
const PUBLISH_BATCH = 500;
// As many sends in flight as the service's send worker allows by default.
const REFERENCE_IN_FLIGHT = 32;
const DOMAIN = 'bench.test';

const WELCOME_MJML = `<mjml><mj-head><mj-style inline="inline">.note { color: #336699; }</mj-style></mj-head>
<mj-body><mj-section><mj-column>
  <mj-image src="https://cdn.shop.bench.test/logo.png" alt="Shop" width="120px" />
  <mj-text css-class="note">Hi {{ contact.name }}, thank you for your order of {{ order.total }} EUR.</mj-text>
  <mj-button href="https://shop.bench.test/orders?utm_source=email">Your order</mj-button>
  <mj-button href="https://shop.bench.test/new?utm_source=email">What is new</mj-button>
  <mj-text>Questions? <a href="https://help.bench.test/contact">Write to us</a>.</mj-text>
  <mj-text>{% unsubscribe_link "Unsubscribe" %}</mj-text>
</mj-column></mj-section></mj-body></mjml>`;

/**
 * A local SMTP server that takes every message (no TLS, no auth) and counts them by the
 * recipient's local part before its number (w = warm-up, m = measured, ref = reference), keeping
 * the first message's raw MIME.
 */
async function startSmtpSink() {
  const accepted = new Map<string, number>();
  let first: Buffer | undefined;
  let waiter: { phase: string; count: number; done: () => void } | undefined;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, callback) {
      const capture = first === undefined ? ([] as Buffer[]) : undefined;
      if (capture) stream.on('data', (chunk: Buffer) => capture.push(chunk));
      else stream.resume();
      stream.on('end', () => {
        if (capture && first === undefined) first = Buffer.concat(capture);
        const rcpt = session.envelope.rcptTo[0]?.address ?? '';
        const phase = /^[a-z]+/.exec(rcpt)?.[0] ?? '';
        const n = (accepted.get(phase) ?? 0) + 1;
        accepted.set(phase, n);
        if (waiter && waiter.phase === phase && n >= waiter.count) waiter.done();
        callback();
      });
    },
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    first: () => first,
    accepted: (phase: string) => accepted.get(phase) ?? 0,
    /** Resolves once `count` messages of `phase` arrived; throws naming the shortfall at the deadline. */
    async waitFor(phase: string, count: number, timeoutMs: number) {
      if ((accepted.get(phase) ?? 0) >= count) return;
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          new Promise<void>((done) => (waiter = { phase, count, done })),
          new Promise<never>((_, fail) => {
            timer = setTimeout(
              () =>
                fail(
                  new Error(
                    `email-send bench: ${accepted.get(phase) ?? 0} of ${count} '${phase}' messages in ${timeoutMs} ms`,
                  ),
                ),
              timeoutMs,
            );
          }),
        ]);
      } finally {
        clearTimeout(timer);
        waiter = undefined;
      }
    },
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
}

const call = (url: string, method: string, auth: string, body: unknown) =>
  fetch(url, {
    method,
    headers: { 'content-type': 'application/json', authorization: auth },
    body: JSON.stringify(body),
  });

/**
 * Email send throughput: request events on cmis.email.requests.v1 to messages accepted by a local
 * SMTP server, through the email service (its own process) rendering a precompiled MJML template
 * with Liquid per recipient, wrapping links, adding the open pixel and signing with DKIM.
 * Reference, same run and server: raw nodemailer (pooled, 5 connections, 32 in flight) sending
 * one message the service rendered, DKIM-signed with the same key. Targets: ratio >= 0.4, the
 * service's peak RSS < 300 MB.
 */
export const emailSendBench: Benchmark = {
  name: 'email-send',
  description: `email: ${COUNT} request events -> accepted by a local SMTP server vs raw pooled nodemailer`,
  async run(infra: Infra) {
    const sink = await startSmtpSink();
    const port = await freePort();
    const service = await startServiceProcess('email', infra, process.env.BENCH_EMAIL_NODE_ARGS, {
      port,
      env: {
        EMAIL_SMTP_URL: `smtp://127.0.0.1:${sink.port}`,
        EMAIL_PUBLIC_URL: `http://127.0.0.1:${port}`,
      },
    }).catch(async (error: unknown) => {
      await sink.close();
      throw error;
    });
    const bus = createKafkaBus({ brokers: infra.kafkaBrokers, clientId: uniqueName('bench-email') });
    // As the service's sender configures its pool (5 connections, 100 messages each).
    const pool = {
      pool: true,
      host: '127.0.0.1',
      port: sink.port,
      secure: false,
      maxConnections: 5,
    } as const;
    const transport = nodemailer.createTransport({ ...pool, logger: false });
    const noDelayTransport = nodemailer.createTransport({
      ...pool,
      logger: false,
      getSocket(_options, callback) {
        const socket = connect({ host: '127.0.0.1', port: sink.port, noDelay: true });
        socket.once('connect', () => callback(null, { connection: socket }));
        socket.once('error', (error) => callback(error, undefined));
      },
    });
    try {
      const rssAtStart = service.memoryMb()?.rss;
      const admin = `Bearer ${BENCH_ADMIN_TOKEN}`;
      const { orgId } = (await (
        await call(`${service.url}/admin/orgs`, 'POST', admin, { name: uniqueName('bench') })
      ).json()) as { orgId: string };
      const { key } = (await (
        await call(`${service.url}/admin/orgs/${orgId}/keys`, 'POST', admin, { scopes: ['*'] })
      ).json()) as { key: string };
      const { privateKey } = generateKeyPairSync('rsa', {
        modulusLength: 2048,
        privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
        publicKeyEncoding: { type: 'spki', format: 'pem' },
      });
      const dkim = { domainName: DOMAIN, keySelector: 's1', privateKey };
      // The key is projected asynchronously: 401 until it is.
      await pollUntil(
        async () => {
          const r = await call(`${service.url}/v1/settings`, 'PUT', `Bearer ${key}`, {
            from: { address: `news@${DOMAIN}` },
            dkim,
          });
          if (r.status !== 401 && r.status !== 200)
            throw new Error(`settings: ${r.status} ${await r.text()}`);
          return r.status === 200;
        },
        30_000,
        'settings',
      );
      const template = await call(`${service.url}/v1/templates/welcome`, 'PUT', `Bearer ${key}`, {
        name: 'Welcome',
        kind: 'template',
        content: { subject: 'Hi {{ contact.name }}', mjml: true, html: WELCOME_MJML },
      });
      if (template.status !== 201) throw new Error(`template: ${template.status} ${await template.text()}`);

      await bus.ensureTopics([
        { topic: emailRequestsTopic.name, numPartitions: emailRequestsTopic.partitions },
      ]);
      const codec = createCodec({ registryUrl: infra.schemaRegistryUrl });
      const run = randomUUID();
      /** Request events for `count` recipients `<phase><i>@bench.test`, encoded as a producer would. */
      const requests = (phase: string, count: number): Promise<OutgoingMessage[]> =>
        Promise.all(
          Array.from({ length: count }, async (_, i) => {
            const address = `${phase}${i}@${DOMAIN}`;
            const data: EmailRequested = {
              idempotencyKey: `${run}:${phase}:${i}`,
              to: { kind: 'address', address, name: `Recipient ${i}` },
              content: { kind: 'template', templateId: 'welcome' },
              data: { order: { total: i } },
              origin: { kind: 'broadcast', id: 'bench' },
              transactional: true,
            };
            const envelope = createTopicEnvelope(emailRequestsTopic.name, {
              id: randomUUID(),
              time: new Date().toISOString(),
              source: '/cmis/bench',
              type: 'cmis.email.send-requested',
              subject: address,
              orgId,
              data,
            });
            const encoded = await codec.encode(emailRequestsTopic.name, envelope);
            return { key: `${orgId}:${address}`, value: encoded.value, headers: encoded.headers };
          }),
        );
      const publish = async (messages: OutgoingMessage[]) => {
        for (let i = 0; i < messages.length; i += PUBLISH_BATCH)
          await bus.publish(emailRequestsTopic.name, messages.slice(i, i + PUBLISH_BATCH));
      };

      // Warm-up, untimed: the consumer group joined, the template compiled, connections open.
      await publish(await requests('w', WARMUP));
      await sink.waitFor('w', WARMUP, 180_000);
      const rssAfterWarmup = service.memoryMb()?.rss;
      const raw = sink.first();
      if (!raw) throw new Error('email-send bench: no warm-up message captured');
      const sample = await simpleParser(raw);
      const rawText = raw.toString('utf8');
      // What the measurement stands for: each message signed, its links wrapped, the pixel in.
      for (const [what, ok] of [
        ['a DKIM signature', /^DKIM-Signature:/im.test(rawText)],
        ['wrapped links', typeof sample.html === 'string' && sample.html.includes('/t/c/')],
        ['the open pixel', typeof sample.html === 'string' && sample.html.includes('/t/o/')],
      ] as const)
        if (!ok) throw new Error(`email-send bench: the service's message lacks ${what}`);

      // Measured: from the first request published to the last message accepted.
      const measured = await requests('m', COUNT);
      const cpuBefore = service.cpuSeconds();
      const benchCpuBefore = process.cpuUsage();
      let maxRss = 0;
      const sampleRss = () => (maxRss = Math.max(maxRss, service.memoryMb()?.rss ?? 0));
      const rssTimer = setInterval(sampleRss, 100);
      const started = process.hrtime.bigint();
      try {
        await publish(measured);
        await sink.waitFor('m', COUNT, Math.max(120_000, COUNT * 50));
      } finally {
        clearInterval(rssTimer);
      }
      const serviceSeconds = secondsSince(started);
      sampleRss();
      const cpuAfter = service.cpuSeconds();
      const benchCpu = process.cpuUsage(benchCpuBefore);
      const memory = service.memoryMb();

      // Reference: one message the service rendered, sent COUNT times by pooled nodemailer.
      const headers = Object.fromEntries(
        sample.headerLines
          .filter((h) => h.key.startsWith('list-') || h.key.startsWith('x-'))
          .map((h) => [
            h.key,
            h.line
              .slice(h.line.indexOf(':') + 1)
              .replace(/\r?\n[ \t]+/g, ' ')
              .trim(),
          ]),
      );
      const message = {
        from: `news@${DOMAIN}`,
        subject: sample.subject ?? '',
        html: sample.html || undefined,
        text: sample.text ?? '',
        headers,
        dkim,
      };
      /** COUNT copies of the message through `transport`, REFERENCE_IN_FLIGHT at a time: msg/s. */
      const sendCopies = async (transport: Transporter, phase: string) => {
        await transport.sendMail({ ...message, to: `${phase}warm@${DOMAIN}` });
        let next = 0;
        const referenceStarted = process.hrtime.bigint();
        await Promise.all(
          Array.from({ length: REFERENCE_IN_FLIGHT }, async () => {
            while (next < COUNT) {
              const i = next++;
              await transport.sendMail({ ...message, to: `${phase}${i}@${DOMAIN}` });
            }
          }),
        );
        const seconds = secondsSince(referenceStarted);
        if (sink.accepted(phase) < COUNT)
          throw new Error(
            `email-send bench: the server took ${sink.accepted(phase)} of ${COUNT} '${phase}' messages`,
          );
        return COUNT / seconds;
      };
      const reference = await sendCopies(transport, 'ref');
      // Not compared, for reading the figures: the same with Nagle off on the client's sockets.
      // nodemailer leaves it on, so each connection waits out the server's delayed ACK (40 ms on
      // Linux) before the final '.' of every message: about 22 messages a second per connection.
      const noDelay = await sendCopies(noDelayTransport, 'nodelay');

      const serviceCpu = cpuBefore === undefined || cpuAfter === undefined ? undefined : cpuAfter - cpuBefore;
      return {
        name: 'email-send',
        value: COUNT / serviceSeconds,
        unit: 'msg/s',
        reference,
        details: {
          count: COUNT,
          'service seconds (first publish -> last accepted)': serviceSeconds.toFixed(2),
          'reference: nodemailer pool msg/s (5 connections, 32 in flight)': reference.toFixed(1),
          'nodemailer pool with TCP_NODELAY msg/s (not compared)': noDelay.toFixed(1),
          'message size (bytes, as received)': raw.length,
          peakRssMb: memory ? Math.round(memory.peak) : 'n/a',
          'RSS once ready (MB)': rssAtStart === undefined ? 'n/a' : Math.round(rssAtStart),
          'RSS after warm-up (MB)': rssAfterWarmup === undefined ? 'n/a' : Math.round(rssAfterWarmup),
          'max RSS during measured phase (MB)': maxRss ? Math.round(maxRss) : 'n/a',
          serviceCpuSeconds: serviceCpu === undefined ? 'n/a' : serviceCpu.toFixed(2),
          'service CPU ms per message':
            serviceCpu === undefined ? 'n/a' : ((serviceCpu * 1000) / COUNT).toFixed(2),
          // The SMTP server and the producer share the 2 cores with the service.
          'bench process CPU seconds (measured phase)': ((benchCpu.user + benchCpu.system) / 1e6).toFixed(2),
          'target ratio': '>= 0.4',
          'target peak RSS': '< 300 MB',
        },
      };
    } finally {
      transport.close();
      noDelayTransport.close();
      await Promise.allSettled([bus.close(), service.stop()]);
      await sink.close();
    }
  },
};
