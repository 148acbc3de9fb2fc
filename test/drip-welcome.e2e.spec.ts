// The welcome drip, end to end, each service in its own runtime on Kafka, the registry, Postgres
// and Redis: contacts identified through triggers ingest → the drip service enrolls them in a
// welcome series of three emails (day 0, day 2, day 5) inside a 09:00–17:00 Europe/Berlin send
// window → each step becomes an email request → the email service renders its template and sends
// it to a real SMTP server. The drip service runs on a test-controlled clock (its durable timers
// and send windows follow it): a contact identified at 22:00 Berlin time gets the first email at
// 09:00 the next morning; a contact who orders after the first email exits and gets no more;
// pausing the campaign holds the second email until it is resumed.
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { createDripService } from '@cmis/drip';
import { createEmailService } from '@cmis/email';
import { startServiceProcess, type RunningServiceProcess } from '@cmis/platform';
import { testEnv, uniqueName, until } from '@cmis/testkit';
import { createService as createTriggers } from '@cmis/triggers';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';

const ADMIN_TOKEN = 'drip-e2e-admin-token-0123456789';
// 22:00 in Berlin (CET, +01:00) on Monday 7 December 2026.
const IDENTIFIED_AT = '2026-12-07T21:00:00.000Z';
const DAY_0_SEND = '2026-12-08T08:00:00.000Z'; // 09:00 Berlin, the next morning
const DAY_2_SEND = '2026-12-10T08:00:00.000Z'; // two days after the first email
const RESUMED_AT = '2026-12-10T10:00:00.000Z'; // 11:00 Berlin, inside the window
const DAY_5_SEND = '2026-12-13T10:00:00.000Z'; // three days after the (resumed) second email
const SUBJECTS = {
  'welcome-1': (name: string) => `Welcome, ${name}`,
  'welcome-2': (name: string) => `${name}, getting started`,
  'welcome-3': (name: string) => `${name}, one more tip`,
};

describe('welcome drip, end to end', () => {
  const env = testEnv();
  const serviceEnv = {
    KAFKA_BROKERS: env.kafkaBrokers!.join(','),
    SCHEMA_REGISTRY_URL: env.schemaRegistryUrl,
    DATABASE_URL: env.databaseUrl,
    REDIS_URL: env.redisUrl,
    CMIS_ADMIN_TOKEN: ADMIN_TOKEN,
    LOG_LEVEL: 'silent',
  };
  // The drip service's clock (only its): the test moves it.
  const clock = { t: Date.parse(IDENTIFIED_AT) };
  const received: Array<{ to: string[]; parsed: ParsedMail }> = [];
  const smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, callback) {
      simpleParser(stream).then((parsed) => {
        received.push({ to: session.envelope.rcptTo.map((r) => r.address), parsed });
        callback();
      }, callback);
    },
  });
  let triggers: RunningServiceProcess;
  let drip: RunningServiceProcess;
  let email: RunningServiceProcess;

  beforeAll(async () => {
    await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', r));
    const smtpPort = (smtp.server.address() as AddressInfo).port;
    let emailUrl = '';
    [triggers, drip, email] = await Promise.all([
      startServiceProcess({ service: uniqueName('trg'), httpPort: 0, create: createTriggers }, serviceEnv),
      startServiceProcess(
        {
          service: uniqueName('drip'),
          httpPort: 0,
          create: createDripService({ now: () => new Date(clock.t), timerIntervalMs: 100 }),
        },
        serviceEnv,
      ),
      startServiceProcess(
        {
          service: uniqueName('email'),
          httpPort: 0,
          create: createEmailService({
            config: {
              publicUrl: () => emailUrl,
              defaultProvider: { name: 'e2e-smtp', host: '127.0.0.1', port: smtpPort, secure: false },
              secrets: ['drip-e2e-tracking-secret-0123456789'],
            },
            worker: { intervalMs: 100 },
          }),
        },
        serviceEnv,
      ),
    ]);
    emailUrl = email.url;
  });
  afterAll(async () => {
    await Promise.all([triggers?.shutdown(), drip?.shutdown(), email?.shutdown()]);
    await new Promise<void>((r) => smtp.close(() => r()));
  });

  const call = async (base: string, method: string, path: string, auth?: string, body?: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(auth ? { authorization: auth } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    const json = (text.startsWith('{') ? JSON.parse(text) : {}) as Record<string, unknown>;
    return { status: res.status, body: json };
  };
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('sends the series in the window, stops for a contact who orders, and holds a step while paused', async () => {
    const bearer = `Bearer ${ADMIN_TOKEN}`;
    const orgId = (await call(triggers.url, 'POST', '/admin/orgs', bearer, { name: uniqueName('welcome') }))
      .body.orgId as string;
    const key = (
      await call(triggers.url, 'POST', `/admin/orgs/${orgId}/keys`, bearer, {
        scopes: ['drip:read', 'drip:write', 'triggers:manage', 'triggers:read', 'email:manage', 'email:read'],
      })
    ).body.key as string;
    expect(key).toEqual(expect.any(String));
    const auth = `Bearer ${key}`;
    const source = await until(
      () => call(triggers.url, 'POST', '/v1/sources', auth, { name: 'web shop' }),
      (r) => r.status !== 401,
    );
    expect(source.status).toBe(201);
    const writeKey = `Basic ${Buffer.from(`${source.body.writeKey as string}:`).toString('base64')}`;
    const ingest = async (path: string, body: Record<string, unknown>) => {
      const r = await call(triggers.url, 'POST', path, writeKey, { ...body, messageId: randomUUID() });
      expect([path, r.status]).toEqual([path, 200]);
    };

    const settings = await until(
      () => call(email.url, 'PUT', '/v1/settings', auth, { from: { address: 'shop@mail.example.com' } }),
      (r) => r.status !== 401,
    );
    expect(settings.status).toBe(200);
    for (const [templateId, n] of [
      ['welcome-1', 1],
      ['welcome-2', 2],
      ['welcome-3', 3],
    ] as const) {
      const subject = SUBJECTS[templateId]('{{ contact.name }}');
      const template = await call(email.url, 'PUT', `/v1/templates/${templateId}`, auth, {
        name: `Welcome ${n}`,
        kind: 'template',
        content: { subject, text: `Welcome email ${n} of 3.` },
      });
      expect([templateId, template.status]).toEqual([templateId, 201]);
    }

    const created = await until(
      () =>
        call(drip.url, 'POST', '/v1/drips', auth, {
          name: 'Welcome',
          entry: { identified: true },
          steps: [
            { id: 'day-0', templateId: 'welcome-1', delay: '0s' },
            { id: 'day-2', templateId: 'welcome-2', delay: '2d' },
            { id: 'day-5', templateId: 'welcome-3', delay: '3d' },
          ],
          exits: [{ event: 'order_completed' }],
          timeZone: 'Europe/Berlin',
          window: { start: '09:00', end: '17:00' },
        }),
      (r) => r.status !== 401,
    );
    expect(created.status).toBe(201);
    const dripId = created.body.dripId as string;
    const activated = await call(drip.url, 'POST', `/v1/drips/${dripId}/activate`, auth);
    expect(activated).toMatchObject({ status: 200, body: { dripId, status: 'active' } });

    type Sub = {
      contactId: string;
      status: string;
      nextStepId?: string;
      sendAt?: string;
      doneStepIds: string[];
    };
    const subscriptionOf = async (contactId: string) =>
      (
        (await call(drip.url, 'GET', `/v1/drips/${dripId}/subscriptions?contactId=${contactId}`, auth)).body
          .subscriptions as Sub[]
      )[0];
    const subscriptionUntil = (contactId: string, ok: (s: Sub) => boolean) =>
      until(
        () => subscriptionOf(contactId),
        (s) => s !== undefined && ok(s),
        { timeoutMs: 30_000 },
      );
    const knownToEmail = (contactId: string) =>
      until(
        () => call(email.url, 'GET', `/v1/contacts/${contactId}`, auth),
        (r) => r.status === 200 && r.body.address !== undefined,
        { timeoutMs: 30_000 },
      );
    const mailsTo = (address: string, subject?: string) =>
      received.filter(
        (m) => m.to.includes(address) && (subject === undefined || m.parsed.subject === subject),
      );
    const mailUntil = (address: string, subject: string) =>
      until(
        () => Promise.resolve(mailsTo(address, subject)),
        (m) => m.length >= 1,
        { timeoutMs: 30_000 },
      );

    const a = uniqueName('ada');
    const b = uniqueName('bob');
    const addressA = `${a}@example.com`;
    const addressB = `${b}@example.com`;
    // Identified at 22:00 Berlin time (the drip's clock): outside the window.
    const identifiedAt = new Date(clock.t).toISOString();
    expect(identifiedAt).toBe(IDENTIFIED_AT);
    await ingest('/v1/identify', {
      userId: a,
      timestamp: identifiedAt,
      traits: { email: addressA, name: 'Ada' },
    });
    await ingest('/v1/identify', {
      userId: b,
      timestamp: identifiedAt,
      traits: { email: addressB, name: 'Bob' },
    });
    await Promise.all([knownToEmail(a), knownToEmail(b)]);

    // (1) Enrolled at 22:00: the first email waits for 09:00 the next morning.
    for (const contactId of [a, b]) {
      const sub = await subscriptionUntil(contactId, (s) => s.sendAt !== undefined);
      expect(sub).toMatchObject({
        status: 'active',
        nextStepId: 'day-0',
        sendAt: DAY_0_SEND,
        doneStepIds: [],
      });
    }
    await sleep(2_000);
    // Other tests' email services share the broker: only this test's recipients count.
    expect(mailsTo(addressA)).toHaveLength(0);
    expect(mailsTo(addressB)).toHaveLength(0);

    clock.t = Date.parse(DAY_0_SEND);
    const [firstA] = await mailUntil(addressA, SUBJECTS['welcome-1']('Ada'));
    expect(firstA!.parsed.text).toContain('Welcome email 1 of 3.');
    // (2) B gets the first email at the same time.
    await mailUntil(addressB, SUBJECTS['welcome-1']('Bob'));
    for (const contactId of [a, b]) {
      const sub = await subscriptionUntil(contactId, (s) => s.nextStepId === 'day-2');
      expect(sub).toMatchObject({ status: 'active', sendAt: DAY_2_SEND, doneStepIds: ['day-0'] });
    }

    // B orders after the first email: exits. (The order's timestamp is left to ingest: the
    // virtual clock runs more than a day ahead of the real one by now.)
    await ingest('/v1/track', { userId: b, event: 'order_completed', properties: { revenue: 30 } });
    const bExited = await subscriptionUntil(b, (s) => s.status === 'exited');
    expect(bExited?.status).toBe('exited');

    // (3) The campaign is paused before day 2: A's second email is held at day 2, 09:00.
    const paused = await call(drip.url, 'POST', `/v1/drips/${dripId}/pause`, auth);
    expect(paused).toMatchObject({ status: 200, body: { status: 'paused' } });
    clock.t = Date.parse(DAY_2_SEND);
    const held = await subscriptionUntil(a, (s) => s.status === 'held');
    expect(held).toMatchObject({ status: 'held', nextStepId: 'day-2', doneStepIds: ['day-0'] });
    await sleep(2_500);
    expect(mailsTo(addressA, SUBJECTS['welcome-2']('Ada'))).toHaveLength(0);
    expect(mailsTo(addressB)).toHaveLength(1);

    // Resumed at 11:00 Berlin time, inside the window (next_window): the held email goes at once.
    clock.t = Date.parse(RESUMED_AT);
    const resumed = await call(drip.url, 'POST', `/v1/drips/${dripId}/resume`, auth);
    expect(resumed).toMatchObject({ status: 200, body: { status: 'active', resumed: 1 } });
    const [secondA] = await mailUntil(addressA, SUBJECTS['welcome-2']('Ada'));
    expect(secondA!.parsed.text).toContain('Welcome email 2 of 3.');
    const afterSecond = await subscriptionUntil(a, (s) => s.nextStepId === 'day-5');
    expect(afterSecond).toMatchObject({
      status: 'active',
      sendAt: DAY_5_SEND,
      doneStepIds: ['day-0', 'day-2'],
    });

    // Day 5: three days after the second email, which the pause delayed.
    clock.t = Date.parse(DAY_5_SEND);
    const [thirdA] = await mailUntil(addressA, SUBJECTS['welcome-3']('Ada'));
    expect(thirdA!.parsed.text).toContain('Welcome email 3 of 3.');
    const done = await subscriptionUntil(a, (s) => s.status === 'completed');
    expect(done?.doneStepIds).toEqual(['day-0', 'day-2', 'day-5']);

    // Each email exactly once; B, who ordered, got only the first.
    await sleep(2_000);
    const count = (address: string) =>
      mailsTo(address)
        .map((m) => m.parsed.subject)
        .sort();
    expect(count(addressA)).toEqual(
      [SUBJECTS['welcome-1']('Ada'), SUBJECTS['welcome-2']('Ada'), SUBJECTS['welcome-3']('Ada')].sort(),
    );
    expect(count(addressB)).toEqual([SUBJECTS['welcome-1']('Bob')]);
    expect((await subscriptionOf(b))!.status).toBe('exited');
  }, 180_000);
});
