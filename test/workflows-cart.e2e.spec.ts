// The abandoned cart journey, end to end, each service in its own runtime on Kafka, the registry,
// Postgres and Redis: identify and track calls through triggers ingest → the workflows service
// enrolls on cart_abandoned and waits (a short timeout standing for the hour) for order_completed →
// with none, its send_email step becomes an email request → the email service renders the template
// and sends it to a real SMTP server. A contact who orders within the wait gets nothing and ends
// converted (the goal); the same contact abandoning again within the re-entry period is not entered.
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { createEmailService } from '@cmis/email';
import { startServiceProcess, type RunningServiceProcess } from '@cmis/platform';
import { testEnv, uniqueName, until } from '@cmis/testkit';
import { createService as createTriggers } from '@cmis/triggers';
import { createService as createWorkflows } from '@cmis/workflows';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';

const ADMIN_TOKEN = 'workflows-e2e-admin-token-0123456789';
// B's order is ingested right after its abandon: same contact, same partition, so workflows reads
// it second. Its wait's timeout holds until workflows has read B's partition through the deadline
// (services/workflows/src/instances/timeouts.ts), so however far behind the consumer is on a loaded
// machine, an order sent in time wins over the reminder (a full CI run once saw the reminder win
// before that hold existed).
const TIMEOUT_MS = 8_000;

describe('abandoned cart workflow, end to end', () => {
  const env = testEnv();
  const serviceEnv = {
    KAFKA_BROKERS: env.kafkaBrokers!.join(','),
    SCHEMA_REGISTRY_URL: env.schemaRegistryUrl,
    DATABASE_URL: env.databaseUrl,
    REDIS_URL: env.redisUrl,
    CMIS_ADMIN_TOKEN: ADMIN_TOKEN,
    LOG_LEVEL: 'silent',
  };
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
  let workflows: RunningServiceProcess;
  let email: RunningServiceProcess;

  beforeAll(async () => {
    await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', r));
    const smtpPort = (smtp.server.address() as AddressInfo).port;
    let emailUrl = '';
    [triggers, workflows, email] = await Promise.all([
      startServiceProcess({ service: uniqueName('trg'), httpPort: 0, create: createTriggers }, serviceEnv),
      startServiceProcess({ service: uniqueName('wf'), httpPort: 0, create: createWorkflows }, serviceEnv),
      startServiceProcess(
        {
          service: uniqueName('email'),
          httpPort: 0,
          create: createEmailService({
            config: {
              publicUrl: () => emailUrl,
              defaultProvider: { name: 'e2e-smtp', host: '127.0.0.1', port: smtpPort, secure: false },
              secrets: ['workflows-e2e-tracking-secret-0123456789'],
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
    await Promise.all([triggers?.shutdown(), workflows?.shutdown(), email?.shutdown()]);
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

  it('reminds a contact who does not order, not one who does, and enters a contact once per period', async () => {
    const bearer = `Bearer ${ADMIN_TOKEN}`;
    const orgId = (await call(triggers.url, 'POST', '/admin/orgs', bearer, { name: uniqueName('cart') })).body
      .orgId as string;
    const key = (
      await call(triggers.url, 'POST', `/admin/orgs/${orgId}/keys`, bearer, {
        scopes: [
          'workflows:read',
          'workflows:write',
          'triggers:manage',
          'triggers:read',
          'email:manage',
          'email:read',
        ],
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
    const template = await call(email.url, 'PUT', '/v1/templates/cart-reminder', auth, {
      name: 'Cart reminder',
      kind: 'template',
      content: {
        subject: '{{ contact.name }}, you left something in your cart',
        text: 'Your {{ event.properties.item }} is still waiting for you.',
      },
    });
    expect(template.status).toBe(201);

    const created = await until(
      () =>
        call(workflows.url, 'POST', '/v1/workflows', auth, {
          name: 'Abandoned cart',
          entry: { event: 'cart_abandoned' },
          start: 'wait-order',
          steps: [
            {
              id: 'wait-order',
              kind: 'wait_event',
              event: 'order_completed',
              timeout: `${TIMEOUT_MS / 1000}s`,
              received: 'ordered',
              timedOut: 'remind',
            },
            { id: 'remind', kind: 'send_email', templateId: 'cart-reminder' },
            { id: 'ordered', kind: 'exit', reason: 'ordered' },
          ],
          goals: [{ event: 'order_completed' }],
          reentry: { policy: 'once_per_period', periodDays: 1 },
        }),
      (r) => r.status !== 401,
    );
    expect(created.status).toBe(201);
    const workflowId = created.body.workflowId as string;
    const published = await call(workflows.url, 'POST', `/v1/workflows/${workflowId}/publish`, auth);
    expect(published).toMatchObject({ status: 201, body: { workflowId, version: 1 } });

    const instances = async () =>
      (await call(workflows.url, 'GET', `/v1/workflows/${workflowId}/instances`, auth)).body
        .instances as Array<{
        instanceId: string;
        contactId: string;
        status: string;
      }>;
    const instancesOf = async (contactId: string) =>
      (await instances()).filter((i) => i.contactId === contactId);
    const knownToEmail = (contactId: string) =>
      until(
        () => call(email.url, 'GET', `/v1/contacts/${contactId}`, auth),
        (r) => r.status === 200 && r.body.address !== undefined,
        { timeoutMs: 30_000 },
      );

    const a = uniqueName('ada');
    const b = uniqueName('bob');
    const addressA = `${a}@example.com`;
    const addressB = `${b}@example.com`;
    await ingest('/v1/identify', { userId: a, traits: { email: addressA, name: 'Ada' } });
    await ingest('/v1/identify', { userId: b, traits: { email: addressB, name: 'Bob' } });
    await Promise.all([knownToEmail(a), knownToEmail(b)]);

    // A abandons and does not order: after the wait, one reminder from the template.
    await ingest('/v1/track', { userId: a, event: 'cart_abandoned', properties: { item: 'teapot' } });
    // B abandons and orders within the wait: converted, never reminded.
    await ingest('/v1/track', { userId: b, event: 'cart_abandoned', properties: { item: 'kettle' } });
    const bOrderedAt = Date.now();
    await ingest('/v1/track', { userId: b, event: 'order_completed', properties: { revenue: 30 } });

    const mails = await until(
      () => Promise.resolve(received.filter((m) => m.to.includes(addressA))),
      (m) => m.length >= 1,
      { timeoutMs: 60_000 },
    );
    expect(mails[0]!.parsed.subject).toBe('Ada, you left something in your cart');
    expect(mails[0]!.parsed.text).toContain('Your teapot is still waiting for you.');
    const aDone = await until(
      () => instancesOf(a),
      (l) => l.length === 1 && l[0]!.status === 'completed',
      { timeoutMs: 30_000 },
    );
    expect(aDone).toEqual([expect.objectContaining({ contactId: a, status: 'completed' })]);

    const bConverted = await until(
      () => instancesOf(b),
      (l) => l.length === 1 && l[0]!.status === 'converted',
      { timeoutMs: 30_000 },
    );
    // Past B's timeout with slack: still nothing for B, and exactly one email for A.
    await sleep(Math.max(0, bOrderedAt + TIMEOUT_MS + 3_000 - Date.now()));
    expect(received.filter((m) => m.to.includes(addressB))).toHaveLength(0);
    expect(received.filter((m) => m.to.includes(addressA))).toHaveLength(1);
    expect(await instancesOf(b)).toEqual([
      expect.objectContaining({ instanceId: bConverted[0]!.instanceId, status: 'converted' }),
    ]);

    // B abandons again within the day: not entered, because of the re-entry policy.
    await ingest('/v1/track', { userId: b, event: 'cart_abandoned', properties: { item: 'kettle' } });
    const history = await until(
      () =>
        call(workflows.url, 'GET', `/v1/contacts/${b}/history?workflowId=${workflowId}`, auth).then(
          (r) =>
            (r.body.decisions ?? []) as Array<{
              kind: string;
              outcome: string;
              inputs: Record<string, unknown>;
            }>,
        ),
      (d) => d.some((x) => x.kind === 'entry' && x.outcome === 'not_entered'),
      { timeoutMs: 30_000 },
    );
    const refused = history.filter((x) => x.kind === 'entry' && x.outcome === 'not_entered');
    expect(refused).toHaveLength(1);
    expect(refused[0]!.inputs.reason).toEqual(expect.stringContaining('re-entry policy once per 1 days'));
    expect(await instancesOf(b)).toEqual([expect.objectContaining({ status: 'converted' })]);
    expect(received.filter((m) => m.to.includes(addressB))).toHaveLength(0);
    expect(received.filter((m) => m.to.includes(addressA))).toHaveLength(1);
  });
});
