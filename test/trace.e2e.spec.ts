// One trace per user action (issue 18): every CMIS service in its own process (`node
// services/<svc>/dist/main.js`) exporting spans over OTLP/HTTP to a receiver on loopback. One
// track call through triggers' Segment-compatible /v1/track fires a rule whose action enrolls the
// contact in a workflow; the workflow waits a second (a durable timer) and sends an email, which
// the email service hands to a real SMTP server. Every span the action caused, in every service,
// must carry the trace id of the track request, and every parent link must resolve to a span of
// that trace: each Kafka hop's consumer span is a child of the producer span of its message,
// batch consumers included.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createScratchDatabase,
  startServiceStack,
  testEnv,
  uniqueName,
  until,
  type ScratchDatabase,
  type ServiceStack,
} from '@cmis/testkit';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { startTraceCollector, type CollectedSpan, type TraceCollector } from './trace-collector';

const ADMIN_TOKEN = 'trace-e2e-admin-token-0123456789';
const SERVER = 2;
const PRODUCER = 4;
const CONSUMER = 5;

jest.setTimeout(240_000);

describe('one trace per user action (every service in its own process, OTLP on loopback)', () => {
  const env = testEnv();
  const workDir = mkdtempSync(join(tmpdir(), 'cmis-trace-'));
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
  let collector: TraceCollector;
  let database: ScratchDatabase;
  let stack: ServiceStack | undefined;

  beforeAll(async () => {
    await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', r));
    const smtpPort = (smtp.server.address() as AddressInfo).port;
    collector = await startTraceCollector();
    database = await createScratchDatabase(env.databaseUrl, 'cmis_trace');
    stack = await startServiceStack({
      workDir,
      kafkaBrokers: env.kafkaBrokers!,
      schemaRegistryUrl: env.schemaRegistryUrl,
      databaseUrl: database.url,
      redisUrl: env.redisUrl,
      adminToken: ADMIN_TOKEN,
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
        // Spans leave each process within 200 ms instead of the default 5 s.
        OTEL_BSP_SCHEDULE_DELAY: '200',
        OTEL_METRICS_EXPORTER: 'none',
        OTEL_LOGS_EXPORTER: 'none',
      },
      serviceEnv: { email: { EMAIL_SMTP_URL: `smtp://127.0.0.1:${smtpPort}` } },
    });
  });
  afterAll(async () => {
    // Every span collected, for reading a failure: `<workDir>/spans.json`.
    writeFileSync(join(workDir, 'spans.json'), JSON.stringify(collector?.spans ?? [], null, 1));
    await stack?.stop();
    await collector?.close();
    await new Promise<void>((r) => smtp.close(() => r()));
    await database?.drop();
  });

  const call = async (base: string, method: string, path: string, auth: string, body?: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: auth,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    return {
      status: res.status,
      body: (text.startsWith('{') ? JSON.parse(text) : {}) as Record<string, unknown>,
    };
  };
  /** Keys reach the other services through the tenancy topic: a 401 passes within moments. */
  const authorized = (send: () => ReturnType<typeof call>) => until(send, (r) => r.status !== 401);

  it('a track call that fires a rule, enrolls a workflow and sends an email is one unbroken trace', async () => {
    const s = stack!;
    const [triggers, rules, workflows, email] = (['triggers', 'rules', 'workflows', 'email'] as const).map(
      (name) => s.service(name).url,
    );
    const org = await s.createOrg(uniqueName('trace'));
    const auth = `Bearer ${org.apiKey}`;

    const source = await authorized(() => call(triggers!, 'POST', '/v1/sources', auth, { name: 'web' }));
    expect(source.status).toBe(201);
    const writeKey = `Basic ${Buffer.from(`${source.body.writeKey as string}:`).toString('base64')}`;
    const settings = await authorized(() =>
      call(email!, 'PUT', '/v1/settings', auth, { from: { address: 'hello@mail.example.com' } }),
    );
    expect(settings.status).toBe(200);
    const template = await call(email!, 'PUT', '/v1/templates/trial-welcome', auth, {
      name: 'Trial welcome',
      kind: 'template',
      content: { subject: 'Welcome to your trial, {{ contact.name }}', text: 'Your trial has started.' },
    });
    expect(template.status).toBe(201);

    const created = await authorized(() =>
      call(workflows!, 'POST', '/v1/workflows', auth, {
        name: 'Trial onboarding',
        // No entry event of its own: only the rule's enroll action starts it.
        start: 'settle',
        steps: [
          { id: 'settle', kind: 'delay', duration: '1s', next: 'welcome' },
          { id: 'welcome', kind: 'send_email', templateId: 'trial-welcome' },
        ],
        reentry: { policy: 'always' },
      }),
    );
    expect(created.status).toBe(201);
    const workflowId = created.body.workflowId as string;
    const published = await call(workflows!, 'POST', `/v1/workflows/${workflowId}/publish`, auth);
    expect(published.status).toBe(201);

    const rule = await authorized(() =>
      call(rules!, 'POST', '/v1/rules', auth, {
        name: 'Onboard trials',
        entityType: 'contact',
        trigger: {
          kind: 'event',
          eventType: 'cmis.triggers.action-tracked',
          filter: { field: 'event.event', operator: 'equals', value: 'Trial Started' },
        },
        conditions: { all: [{ field: 'event.properties.plan', operator: 'equals', value: 'pro' }] },
        actions: [{ kind: 'enroll_workflow', workflowId }],
      }),
    );
    expect(rule.status).toBe(201);

    // The contact's address reaches email by its own (earlier) identify call: another trace.
    const userId = uniqueName('ada');
    const address = `${userId}@example.com`;
    const identify = await call(triggers!, 'POST', '/v1/identify', writeKey, {
      userId,
      traits: { email: address, name: 'Ada' },
      messageId: randomUUID(),
    });
    expect(identify.status).toBe(200);
    const known = await until(
      () => call(email!, 'GET', `/v1/contacts/${userId}`, auth),
      (r) => r.status === 200 && r.body.address !== undefined,
      { timeoutMs: 30_000 },
    );
    expect(known.body.address).toBe(address);

    // The user action.
    const track = await call(triggers!, 'POST', '/v1/track', writeKey, {
      userId,
      event: 'Trial Started',
      properties: { plan: 'pro' },
      messageId: randomUUID(),
    });
    expect(track.status).toBe(200);
    const mails = await until(
      () => Promise.resolve(received.filter((m) => m.to.includes(address))),
      (m) => m.length >= 1,
      { timeoutMs: 60_000 },
    );
    expect(mails).toHaveLength(1);
    expect(mails[0]!.parsed.subject).toBe('Welcome to your trial, Ada');

    // The trace: the one the track request started in triggers.
    const roots = () =>
      collector.spans.filter(
        (sp) =>
          sp.service === 'triggers' &&
          sp.kind === SERVER &&
          sp.parentSpanId === undefined &&
          String(sp.attributes['url.path'] ?? sp.attributes['http.target'] ?? '').startsWith('/v1/track'),
      );
    const [root] = await until(
      () => Promise.resolve(roots()),
      (r) => r.length > 0,
      { timeoutMs: 15_000 },
    );
    expect(roots()).toHaveLength(1);
    const traceId = root!.traceId;
    const inTrace = () => collector.spans.filter((sp) => sp.traceId === traceId);
    const has = (service: string, name: string | RegExp, kind?: number) => (spans: CollectedSpan[]) =>
      spans.some(
        (sp) =>
          sp.service === service &&
          (kind === undefined || sp.kind === kind) &&
          (typeof name === 'string' ? sp.name === name : name.test(sp.name)),
      );
    // What the action must have caused in this trace, by service (names of the platform's spans).
    const expected = [
      has('triggers', /^POST/, SERVER),
      has('rules', 'process cmis.triggers.user-actions.v1', CONSUMER),
      has('rules', 'publish cmis.rules.actions.v1', PRODUCER),
      has('workflows', 'process cmis.rules.actions.v1', CONSUMER),
      has('workflows', /^fire timer/),
      has('workflows', 'publish cmis.email.requests.v1', PRODUCER),
      has('email', 'process cmis.email.requests.v1', CONSUMER),
      has('email', 'send email'),
      // The outcome the worker recorded after the SMTP hand-off, published and read back by workflows.
      (spans: CollectedSpan[]) => {
        const send = spans.find((sp) => sp.name === 'send email');
        const outcome = spans.find((sp) => sp.kind === PRODUCER && sp.parentSpanId === send?.spanId);
        return spans.some(
          (sp) =>
            sp.service === 'workflows' &&
            sp.attributes['cmis.event_type'] === 'cmis.email.message-sent' &&
            sp.parentSpanId === outcome?.spanId,
        );
      },
    ];
    const missingParents = (spans: CollectedSpan[]) => {
      const ids = new Set(spans.map((sp) => sp.spanId));
      return spans.filter((sp) => sp.parentSpanId !== undefined && !ids.has(sp.parentSpanId));
    };
    // Parents end after their children, so they may arrive in a later export: wait for both.
    const settled = await until(
      () => Promise.resolve(inTrace()),
      (spans) => expected.every((e) => e(spans)) && missingParents(spans).length === 0,
      { timeoutMs: 20_000, intervalMs: 250 },
    );
    const perService = (spans: CollectedSpan[]) =>
      spans.reduce<Record<string, number>>(
        (acc, sp) => ({ ...acc, [sp.service]: (acc[sp.service] ?? 0) + 1 }),
        {},
      );
    console.log(
      `trace ${traceId}: ${settled.length} spans ${JSON.stringify(perService(settled))}; ` +
        `all collected: ${collector.spans.length} ${JSON.stringify(perService(collector.spans))}; spans in ${workDir}/spans.json`,
    );

    expect(collector.refused).toEqual([]);
    expect(expected.map((e) => e(settled))).toEqual(expected.map(() => true));
    expect(missingParents(settled).map((sp) => `${sp.service}: ${sp.name}`)).toEqual([]);
    expect(settled.filter((sp) => sp.parentSpanId === undefined)).toEqual([root]);
    for (const service of ['triggers', 'rules', 'workflows', 'email'])
      expect([service, settled.some((sp) => sp.service === service)]).toEqual([service, true]);

    // Each consumer span's parent is the producer span of the message it processed.
    const byId = new Map(settled.map((sp) => [sp.spanId, sp]));
    const consumers = settled.filter((sp) => sp.kind === CONSUMER);
    expect(consumers.length).toBeGreaterThanOrEqual(3);
    for (const consumer of consumers) {
      const parent = byId.get(consumer.parentSpanId!);
      expect([
        consumer.service,
        consumer.name,
        parent?.kind,
        parent?.attributes['messaging.destination.name'],
      ]).toEqual([
        consumer.service,
        consumer.name,
        PRODUCER,
        consumer.attributes['messaging.destination.name'],
      ]);
    }

    // Nothing the action caused started a trace of its own: every trace with a span of this org
    // (the platform's spans name it) begins at one of this test's HTTP requests, none at a relay
    // round, a timer firing or the send worker. And no message of the action was consumed
    // outside its trace.
    const orgTraces = new Set(
      collector.spans.filter((sp) => sp.attributes['cmis.org_id'] === org.orgId).map((sp) => sp.traceId),
    );
    expect(orgTraces.has(traceId)).toBe(true);
    const rootsOf = (id: string) => {
      const spans = collector.spans.filter((sp) => sp.traceId === id);
      const ids = new Set(spans.map((sp) => sp.spanId));
      return spans.filter((sp) => sp.parentSpanId === undefined || !ids.has(sp.parentSpanId));
    };
    const strayRoots = [...orgTraces]
      .flatMap(rootsOf)
      .filter((sp) => !(sp.kind === SERVER && sp.parentSpanId === undefined))
      .map((sp) => `${sp.service}: ${sp.name}${sp.parentSpanId ? ' (parent not exported)' : ''}`);
    expect(strayRoots).toEqual([]);
    const actionMessages = new Set(
      settled.filter((sp) => sp.kind === PRODUCER).map((sp) => sp.attributes['messaging.message.id']),
    );
    expect(
      collector.spans
        .filter((sp) => sp.traceId !== traceId && actionMessages.has(sp.attributes['messaging.message.id']))
        .map((sp) => `${sp.service}: ${sp.name}`),
    ).toEqual([]);
  });
});
