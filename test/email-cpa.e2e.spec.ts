// The CPA rule's notification, end to end, each service in its own runtime on Kafka, the registry,
// Postgres and Redis: campaign metrics through triggers ingest → rules fires "Pause high CPA
// campaigns" → its send-notification action becomes an email request → the email service sends
// it to a real SMTP server with a tracked link → following the link (HTTP GET) records a human
// click on cmis.email.messages.v1 → an SES bounce notification, signed as SNS signs (a test key
// pair and certificate served on loopback, the host check pointed at it by config), suppresses
// the address → the next notification for it ends `suppressed` and nothing more is sent.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createCodec, emailMessagesTopic } from '@cmis/contracts';
import { createEmailService, emailTestFixtures } from '@cmis/email';
import { startServiceProcess, type RunningServiceProcess } from '@cmis/platform';
import { createService as createRules, PAUSE_HIGH_CPA_RULE } from '@cmis/rules';
import { testEnv, uniqueName, until } from '@cmis/testkit';
import { createService as createTriggers } from '@cmis/triggers';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';

const ADMIN_TOKEN = 'email-e2e-admin-token-0123456789';
const COOLDOWN_SECONDS = 4;
const TOPIC_ARN = 'arn:aws:sns:eu-west-1:123456789012:ses-bounces';
// Unique per run: rules-cpa's rule notifies manager@example.com, and email services of parallel
// tests share the broker, so this test's sink would receive those too.
const MANAGER = `manager-${Date.now().toString(36)}@example.com`;

describe('CPA notification email, end to end', () => {
  const env = testEnv();
  const serviceEnv = {
    KAFKA_BROKERS: env.kafkaBrokers!.join(','),
    SCHEMA_REGISTRY_URL: env.schemaRegistryUrl,
    DATABASE_URL: env.databaseUrl,
    REDIS_URL: env.redisUrl,
    CMIS_ADMIN_TOKEN: ADMIN_TOKEN,
    LOG_LEVEL: 'silent',
  };
  const received: Array<{ envelopeFrom: string; to: string[]; parsed: ParsedMail }> = [];
  const smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, callback) {
      simpleParser(stream).then((parsed) => {
        received.push({
          envelopeFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          parsed,
        });
        callback();
      }, callback);
    },
  });
  let certServer: Server;
  let certUrl = '';
  let certificate = { privateKey: '', certificate: '' };
  let triggers: RunningServiceProcess;
  let rules: RunningServiceProcess;
  let email: RunningServiceProcess;
  let consumer: Consumer;
  const clicks: Array<Record<string, unknown>> = [];

  beforeAll(async () => {
    await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', r));
    const smtpPort = (smtp.server.address() as AddressInfo).port;
    certificate = await emailTestFixtures.createSnsTestCertificate();
    certServer = createServer((req, res) =>
      req.url === '/SimpleNotificationService-test.pem'
        ? res.writeHead(200, { 'content-type': 'application/x-pem-file' }).end(certificate.certificate)
        : res.writeHead(404).end(),
    );
    await new Promise<void>((r) => certServer.listen(0, '127.0.0.1', r));
    const certHost = `127.0.0.1:${(certServer.address() as AddressInfo).port}`;
    certUrl = `http://${certHost}/SimpleNotificationService-test.pem`;
    let emailUrl = '';
    [triggers, rules, email] = await Promise.all([
      startServiceProcess({ service: uniqueName('trg'), httpPort: 0, create: createTriggers }, serviceEnv),
      startServiceProcess({ service: uniqueName('rules'), httpPort: 0, create: createRules }, serviceEnv),
      startServiceProcess(
        {
          service: uniqueName('email'),
          httpPort: 0,
          create: createEmailService({
            config: {
              publicUrl: () => emailUrl,
              defaultProvider: { name: 'e2e-smtp', host: '127.0.0.1', port: smtpPort, secure: false },
              snsCertHosts: [certHost],
              secrets: ['email-e2e-tracking-secret-0123456789'],
            },
            tracking: { minHumanClickDelayMs: 200 },
            worker: { intervalMs: 100 },
          }),
        },
        serviceEnv,
      ),
    ]);
    emailUrl = email.url;
  });
  afterAll(async () => {
    await consumer?.disconnect();
    await Promise.all([triggers?.shutdown(), rules?.shutdown(), email?.shutdown()]);
    await new Promise<void>((r) => smtp.close(() => r()));
    await new Promise((r) => certServer?.close(r));
  });

  const call = async (base: string, method: string, path: string, auth?: string, body?: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method,
      redirect: 'manual',
      headers: {
        ...(body !== undefined
          ? { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json' }
          : {}),
        ...(auth ? { authorization: auth } : {}),
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    const json = (text.startsWith('{') ? JSON.parse(text) : {}) as Record<string, unknown>;
    return { status: res.status, headers: res.headers, body: json };
  };

  it('notifies by email with a tracked link, records a human click, and suppresses the address after an SES bounce', async () => {
    const bearer = `Bearer ${ADMIN_TOKEN}`;
    const orgId = (await call(triggers.url, 'POST', '/admin/orgs', bearer, { name: uniqueName('cpa') })).body
      .orgId as string;
    const key = (await call(triggers.url, 'POST', `/admin/orgs/${orgId}/keys`, bearer, { scopes: ['*'] }))
      .body.key as string;
    const auth = `Bearer ${key}`;
    const source = await until(
      () => call(triggers.url, 'POST', '/v1/sources', auth, { name: 'ads connector' }),
      (r) => r.status !== 401,
    );
    const writeKey = `Basic ${Buffer.from(`${source.body.writeKey as string}:`).toString('base64')}`;
    const settings = await until(
      () => call(email.url, 'PUT', '/v1/settings', auth, { webhooks: { sesTopicArns: [TOPIC_ARN] } }),
      (r) => r.status !== 401,
    );
    expect(settings.status).toBe(200);
    const [pause, notify] = PAUSE_HIGH_CPA_RULE.actions;
    const rule = await until(
      () =>
        call(rules.url, 'POST', '/v1/rules', auth, {
          ...PAUSE_HIGH_CPA_RULE,
          cooldownSeconds: COOLDOWN_SECONDS,
          actions: [
            pause,
            {
              ...notify,
              recipients: [MANAGER],
              message: `${notify.message} Dashboard: https://ads.example.com/campaigns/{{entity.id}}`,
            },
          ],
        }),
      (r) => r.status !== 401,
    );
    expect(rule.status).toBe(201);

    const codec = createCodec({ registryUrl: env.schemaRegistryUrl });
    consumer = new Kafka({
      brokers: env.kafkaBrokers!,
      clientId: uniqueName('e2e'),
      logLevel: logLevel.NOTHING,
    }).consumer({
      groupId: uniqueName('e2e-messages'),
      maxWaitTimeInMs: 100,
    });
    await consumer.connect();
    await consumer.subscribe({ topic: emailMessagesTopic.name, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        if (!message.key?.toString().startsWith(`${orgId}:`)) return;
        const envelope = await codec.decode(emailMessagesTopic.name, {
          value: message.value,
          headers: message.headers,
        });
        if (envelope.type === 'cmis.email.message-clicked')
          clicks.push(envelope.data as Record<string, unknown>);
      },
    });

    const observe = (cpa: number) =>
      call(triggers.url, 'POST', '/v1/metrics', writeKey, {
        entityType: 'campaign',
        entityId: 'cmp-1',
        metrics: { cpa, spend: cpa * 10 },
      });
    expect((await observe(55)).status).toBe(200);
    const mail = (
      await until(
        () => Promise.resolve(received.filter((m) => m.to.includes(MANAGER))),
        (m) => m.length >= 1,
        {
          timeoutMs: 60_000,
        },
      )
    )[0]!;
    expect(mail.parsed.subject).toBe('Campaign cmp-1 paused: CPA exceeded threshold');
    expect(mail.parsed.text).not.toContain('https://ads.example.com/campaigns/cmp-1');
    const tracked = (mail.parsed.text as string).match(new RegExp(`${email.url}/t/c/[A-Za-z0-9_-]+`))?.[0];
    expect(tracked).toBeDefined();

    await new Promise((r) => setTimeout(r, 300));
    const click = await fetch(tracked!, {
      redirect: 'manual',
      headers: {
        'user-agent':
          'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36',
      },
    });
    expect(click.status).toBe(302);
    expect(click.headers.get('location')).toBe('https://ads.example.com/campaigns/cmp-1');
    await until(
      () => Promise.resolve(clicks.length),
      (n) => n >= 1,
      { timeoutMs: 30_000 },
    );
    expect(clicks[0]).toMatchObject({
      machine: false,
      url: 'https://ads.example.com/campaigns/cmp-1',
      address: MANAGER,
      origin: { kind: 'rule', id: rule.body.ruleId },
    });

    // SES tells of a permanent bounce through SNS, signed with the loopback certificate.
    const forged = emailTestFixtures.signSnsMessage(
      {
        Type: 'Notification',
        MessageId: 'sns-forged',
        TopicArn: TOPIC_ARN,
        Message: emailTestFixtures.sesBounceMessage({ recipients: [MANAGER], source: mail.envelopeFrom }),
        Timestamp: new Date().toISOString(),
      },
      { version: 2, certUrl, privateKey: certificate.privateKey },
    );
    const tampered = { ...forged, Message: forged.Message!.replace('Permanent', 'Transient') };
    expect(
      (await call(email.url, 'POST', `/webhooks/${orgId}/ses`, undefined, JSON.stringify(tampered))).status,
    ).toBe(401);
    expect((await call(email.url, 'GET', '/v1/suppressions', auth)).body.suppressions).toEqual([]);
    const bounce = emailTestFixtures.signSnsMessage(
      {
        Type: 'Notification',
        MessageId: 'sns-bounce-1',
        TopicArn: TOPIC_ARN,
        Message: emailTestFixtures.sesBounceMessage({
          recipients: [MANAGER],
          source: mail.envelopeFrom,
          messageIdHeader: mail.parsed.messageId!,
        }),
        Timestamp: new Date().toISOString(),
      },
      { version: 2, certUrl, privateKey: certificate.privateKey },
    );
    const applied = await call(
      email.url,
      'POST',
      `/webhooks/${orgId}/ses`,
      undefined,
      JSON.stringify(bounce),
    );
    expect(applied).toMatchObject({ status: 200, body: { received: 1, applied: 1 } });
    expect((await call(email.url, 'GET', '/v1/suppressions', auth)).body.suppressions).toEqual([
      expect.objectContaining({ address: MANAGER, reason: 'hard_bounce' }),
    ]);

    // After the cooldown the rule fires again; its notification to the bounced address is suppressed.
    await new Promise((r) => setTimeout(r, COOLDOWN_SECONDS * 1000 + 500));
    expect((await observe(70)).status).toBe(200);
    const suppressed = await until(
      () => call(email.url, 'GET', '/v1/messages?status=suppressed', auth),
      (r) => ((r.body.messages as unknown[]) ?? []).length >= 1,
      { timeoutMs: 60_000 },
    );
    expect(suppressed.body.messages).toEqual([
      expect.objectContaining({
        address: MANAGER,
        status: 'suppressed',
        origin: expect.objectContaining({ kind: 'rule' }),
      }),
    ]);
    expect(received.filter((m) => m.to.includes(MANAGER))).toHaveLength(1);
  });
});
