// The workflows service as its own runtime on Kafka, the registry, Postgres and Redis: publishing
// refuses faulty graphs naming the step; track calls enter, wait, time out into an email request,
// convert on goals; an event recorded before its wait began still counts; redelivery enrolls once;
// a failing webhook is retried then failed, listed and retried by an operator; simulation,
// backtest and migration between versions.
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import {
  createTopicEnvelope,
  emailMessagesTopic,
  emailRequestsTopic,
  userActionsTopic,
  workflowInstancesTopic,
  type EventEnvelope,
} from '@cmis/contracts';
import { startServiceProcess, type RunningServiceProcess } from '@cmis/platform';
import { testEnv, uniqueName, until, waitForMessages } from '@cmis/testkit';
import { createWorkflowsService } from './service';
import { cart, trackMessage } from './spec-support';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;
const ADMIN_TOKEN = 'workflows-spec-admin-token-0123456789';

describe('workflows service', () => {
  let proc: RunningServiceProcess;
  const hooks: Array<{ headers: IncomingMessage['headers']; body: string }> = [];
  let failHooks = 2;
  const receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      hooks.push({ headers: req.headers, body });
      if (failHooks > 0) {
        failHooks -= 1;
        res.writeHead(503).end('busy');
      } else res.writeHead(200).end('ok');
    });
  });
  let hookUrl = '';

  beforeAll(async () => {
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    const env = testEnv();
    proc = await startServiceProcess(
      {
        service: uniqueName('workflows'),
        httpPort: 0,
        create: createWorkflowsService({ webhookAllowlist: '127.0.0.1/32', timerIntervalMs: 100 }),
      },
      {
        KAFKA_BROKERS: env.kafkaBrokers!.join(','),
        SCHEMA_REGISTRY_URL: env.schemaRegistryUrl,
        DATABASE_URL: env.databaseUrl,
        REDIS_URL: env.redisUrl,
        CMIS_ADMIN_TOKEN: ADMIN_TOKEN,
        LOG_LEVEL: 'silent',
      },
    );
  });
  afterAll(async () => {
    await proc?.shutdown();
    await new Promise((r) => receiver.close(r));
  });

  const call = async (method: string, path: string, token?: string, body?: unknown) => {
    const res = await fetch(`${proc.url}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return {
      status: res.status,
      type: res.headers.get('content-type'),
      body: (text ? JSON.parse(text) : undefined) as Json,
    };
  };

  async function newOrg() {
    const org = (await call('POST', '/admin/orgs', ADMIN_TOKEN, { name: uniqueName('org') })).body as {
      orgId: string;
    };
    const { key } = (
      await call('POST', `/admin/orgs/${org.orgId}/keys`, ADMIN_TOKEN, {
        scopes: ['workflows:read', 'workflows:write'],
      })
    ).body as { key: string };
    await until(
      () => call('GET', '/v1/workflows', key),
      (r) => r.status !== 401,
    );
    return { orgId: org.orgId, key };
  }

  async function published(key: string, draft: unknown) {
    const created = await call('POST', '/v1/workflows', key, draft);
    expect(created.status).toBe(201);
    const pub = await call('POST', `/v1/workflows/${created.body.workflowId}/publish`, key);
    expect(pub.status).toBe(201);
    return {
      workflowId: created.body.workflowId as string,
      version: pub.body.version as number,
      secret: pub.body.webhookSecret as string | undefined,
    };
  }

  async function track(
    orgId: string,
    contactId: string,
    event: string,
    properties: Json = {},
    options: { id?: string; at?: Date } = {},
  ) {
    const { id, message } = await trackMessage(proc.platform.codec, {
      orgId,
      contactId,
      event,
      properties,
      ...options,
    });
    await proc.platform.bus.publish(userActionsTopic.name, [message]);
    return id;
  }

  const instancesOf = async (key: string, workflowId: string) =>
    (await call('GET', `/v1/workflows/${workflowId}/instances`, key)).body.instances as Json[];
  const instanceFor = (key: string, workflowId: string, contactId: string, status: string | string[]) =>
    until(
      () => instancesOf(key, workflowId),
      (list) => list.some((i) => i.contactId === contactId && [status].flat().includes(i.status)),
      { timeoutMs: 20_000 },
    ).then((list) => list.find((i) => i.contactId === contactId)!);

  it('refuses to publish a faulty graph with a 400 naming the step (nothing is published)', async () => {
    const { key } = await newOrg();
    const faults: Array<[unknown, RegExp]> = [
      [
        { ...cart(), steps: [...cart().steps.slice(0, 2), { id: 'ordered', kind: 'exit', next: 'x' }] },
        /Unrecognized key/,
      ],
      [
        { ...cart(), steps: [{ ...cart().steps[0], timedOut: 'nowhere' }, ...cart().steps.slice(1)] },
        /wait-order: its timed_out edge leads to nowhere/,
      ],
      [
        { ...cart(), steps: [...cart().steps, { id: 'orphan', kind: 'exit' }] },
        /step orphan cannot be reached/,
      ],
      [
        {
          name: 'spin',
          start: 'a',
          steps: [
            {
              id: 'a',
              kind: 'condition',
              condition: { field: 'contact.x', operator: 'exists' },
              then: 'b',
              else: 'b',
            },
            {
              id: 'b',
              kind: 'condition',
              condition: { field: 'contact.y', operator: 'exists' },
              then: 'a',
              else: 'a',
            },
          ],
        },
        /the cycle a → b → a passes no delay or wait/,
      ],
      [
        { ...cart(), steps: [...cart().steps.slice(0, 2), { id: 'ordered', kind: 'teleport' }] },
        /unknown step kind .{0,4}teleport/,
      ],
      [
        { name: 'hook', start: 'h', steps: [{ id: 'h', kind: 'webhook', url: 'http://10.0.0.8/x' }] },
        /step h: .*private|step h: .*10\.0\.0\.8/,
      ],
      [
        {
          name: 'c',
          start: 'c',
          steps: [{ id: 'c', kind: 'condition', condition: { field: 'steps.nope.x', operator: 'exists' } }],
        },
        /there is no step nope/,
      ],
    ];
    for (const [draft, message] of faults) {
      const created = await call('POST', '/v1/workflows', key, draft);
      expect(created.status).toBe(201);
      const pub = await call('POST', `/v1/workflows/${created.body.workflowId}/publish`, key);
      expect(pub.status).toBe(400);
      expect(pub.type).toContain('application/problem+json');
      expect(JSON.stringify(pub.body.errors)).toMatch(message);
      expect((await call('GET', `/v1/workflows/${created.body.workflowId}`, key)).body).toMatchObject({
        status: 'draft',
        latestVersion: null,
      });
    }
    expect((await call('GET', '/v1/workflows/nope', key)).status).toBe(404);
  });

  it('keeps drafts and versions apart, with an audit trail of every change', async () => {
    const { key } = await newOrg();
    const { workflowId, version } = await published(key, cart());
    expect(version).toBe(1);
    const edited = await call('PUT', `/v1/workflows/${workflowId}/draft`, key, {
      ...cart('5m'),
      name: 'Cart v2',
    });
    expect(edited.body).toMatchObject({ revision: 2, latestVersion: 1 });
    expect(
      (await call('GET', `/v1/workflows/${workflowId}/versions/1`, key)).body.definition.steps[0].timeout,
    ).toBe('2s');
    const stale = await fetch(`${proc.url}/v1/workflows/${workflowId}/draft`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, 'if-match': '1' },
      body: JSON.stringify(cart()),
    });
    expect(stale.status).toBe(409);
    expect((await call('POST', `/v1/workflows/${workflowId}/publish`, key)).body.version).toBe(2);
    const changes = (await call('GET', `/v1/workflows/${workflowId}/changes`, key)).body.changes as Json[];
    expect(changes.map((c) => c.type)).toEqual([
      'workflows.workflow-created',
      'workflows.workflow-published',
      'workflows.draft-updated',
      'workflows.workflow-published',
    ]);
    expect(changes[2]).toMatchObject({
      actor: expect.stringMatching(/^key:/),
      data: { basedOnVersion: 1, revision: 2 },
    });
  });

  it('times out into one email request, converts on the goal, enters once per window, and ignores a redelivery', async () => {
    const { orgId, key } = await newOrg();
    const { workflowId } = await published(key, cart('2s'));
    const [ada, bob] = [uniqueName('ada'), uniqueName('bob')];
    const entry = await track(orgId, ada, 'cart_abandoned', { total: 80 });
    await track(orgId, ada, 'cart_abandoned', { total: 80 }, { id: entry }); // redelivered
    await track(orgId, bob, 'cart_abandoned', { total: 30 });
    await instanceFor(key, workflowId, bob, 'waiting');
    await track(orgId, bob, 'order_completed', { total: 30 });
    expect((await instanceFor(key, workflowId, bob, 'converted')).status).toBe('converted');
    expect((await instanceFor(key, workflowId, ada, 'completed')).status).toBe('completed');

    const requests = await waitForMessages({
      topic: emailRequestsTopic.name,
      count: 1,
      predicate: (m) => m.key === `${orgId}:${ada}`,
    });
    const request = await proc.platform.codec.decode(emailRequestsTopic.name, {
      value: requests[0]!.value,
      headers: requests[0]!.headers,
    });
    expect(request.data).toMatchObject({
      idempotencyKey: expect.stringMatching(/^workflow:.+:remind:1$/),
      to: { kind: 'contact', contactId: ada },
      content: { kind: 'template', templateId: 'cart-reminder' },
      origin: { kind: 'workflow', id: workflowId, version: 1, stepId: 'remind' },
    });
    // Abandoning again within the day: refused, with the reason in the contact's history.
    await track(orgId, ada, 'cart_abandoned', { total: 5 });
    const history = await until(
      () => call('GET', `/v1/contacts/${ada}/history?workflowId=${workflowId}`, key),
      (r) => (r.body.decisions as Json[]).some((d) => d.kind === 'entry' && d.outcome === 'not_entered'),
    );
    expect(JSON.stringify(history.body.decisions)).toMatch(/re-entry policy once per 1 days/);
    expect(history.body.decisions).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ stepId: 'wait-order', kind: 'wait_event', outcome: 'timed_out' }),
      ]),
    );
    expect((await instancesOf(key, workflowId)).filter((i) => i.contactId === ada)).toHaveLength(1);
    const bobRequests = await waitForMessages({
      topic: emailRequestsTopic.name,
      count: 0,
      predicate: (m) => m.key === `${orgId}:${bob}`,
      timeoutMs: 1_000,
    }).catch(() => []);
    expect(bobRequests).toHaveLength(0);
    const ended = await waitForMessages({
      topic: workflowInstancesTopic.name,
      count: 2,
      predicate: (m) =>
        m.key?.startsWith(`${orgId}:`) === true &&
        (m.value?.toString('latin1') ?? '').includes('instance-ended'),
    });
    expect(ended).toHaveLength(2);
  });

  it('counts an order recorded before the wait began (same instant), judged by event time', async () => {
    const { orgId, key } = await newOrg();
    const { workflowId } = await published(key, { ...cart('1h'), goals: [] });
    const cy = uniqueName('cy');
    const at = new Date();
    await track(orgId, cy, 'order_completed', { total: 12 }, { at });
    await track(orgId, cy, 'cart_abandoned', { total: 12 }, { at });
    const done = await instanceFor(key, workflowId, cy, 'exited');
    expect(done).toMatchObject({ status: 'exited', lastError: 'ordered' });
  });

  it('retries a failing webhook step under one webhook-id, fails it past the limit, and lets an operator retry it', async () => {
    const { orgId, key } = await newOrg();
    failHooks = 2;
    hooks.length = 0;
    const { workflowId, secret } = await published(key, {
      name: 'Hook',
      entry: { event: 'signed_up' },
      start: 'notify',
      steps: [
        { id: 'notify', kind: 'webhook', url: hookUrl, body: { hello: 'world' }, next: 'tag' },
        { id: 'tag', kind: 'update_contact', tags: ['notified'] },
      ],
      retry: { maxAttempts: 2, baseSeconds: 0.2 },
    });
    expect(secret).toMatch(/^whsec_/);
    const dee = uniqueName('dee');
    await track(orgId, dee, 'signed_up');
    const failed = await instanceFor(key, workflowId, dee, 'failed');
    expect(failed.lastError).toBe('step notify: receiver answered 503');
    expect(hooks).toHaveLength(2);
    expect(new Set(hooks.map((h) => h.headers['webhook-id'])).size).toBe(1);
    const listed = (await call('GET', `/v1/workflows/${workflowId}/instances?status=failed`, key)).body
      .instances as Json[];
    expect(listed.map((i) => i.instanceId)).toContain(failed.instanceId);

    const retried = await call('POST', `/v1/instances/${failed.instanceId}/retry`, key);
    expect(retried.status).toBe(200);
    expect((await instanceFor(key, workflowId, dee, 'completed')).status).toBe('completed');
    expect(hooks).toHaveLength(3);
    expect(JSON.parse(hooks[2]!.body)).toMatchObject({ hello: 'world', stepId: 'notify', contactId: dee });
    expect((await call('POST', `/v1/instances/${failed.instanceId}/cancel`, key)).status).toBe(400);
  });

  it('simulates a draft on a virtual clock and backtests recorded events without sending', async () => {
    const { orgId, key } = await newOrg();
    const created = await call('POST', '/v1/workflows', key, cart('1h'));
    const sim = await call('POST', `/v1/workflows/${created.body.workflowId}/simulate`, key, {
      events: [
        { name: 'cart_abandoned', at: '2026-12-06T10:00:00Z', properties: { total: 10 } },
        { name: 'order_completed', at: '2026-12-06T12:00:00Z', properties: { total: 10 } },
      ],
    });
    expect(sim.body).toMatchObject({
      entered: true,
      status: 'completed',
      path: [
        { stepId: 'wait-order', outcome: 'timed_out', at: '2026-12-06T11:00:00.000Z' },
        { stepId: 'remind', outcome: 'requested' },
      ],
      messages: [{ stepId: 'remind', templateId: 'cart-reminder' }],
    });
    const from = new Date(Date.now() - 60_000).toISOString();
    const [e1, e2] = [uniqueName('e1'), uniqueName('e2')];
    await track(orgId, e1, 'cart_abandoned', { total: 1 }, { at: new Date(Date.now() - 30_000) });
    await track(orgId, e2, 'cart_abandoned', { total: 1 }, { at: new Date(Date.now() - 30_000) });
    await track(orgId, e2, 'order_completed', { total: 1 }, { at: new Date(Date.now() - 20_000) });
    const backtest = await until(
      () =>
        call('POST', `/v1/workflows/${created.body.workflowId}/backtest`, key, {
          from,
          to: new Date(Date.now() + 7_200_000).toISOString(),
        }),
      (r) => r.body.events === 3,
    );
    expect(backtest.body).toMatchObject({
      contacts: 2,
      entered: 2,
      converted: 1,
      completed: 1,
      messages: { remind: 1 },
    });
    expect((await instancesOf(key, created.body.workflowId)).length).toBe(0);
    expect(
      (await call('POST', `/v1/workflows/${created.body.workflowId}/simulate`, key, { events: [] })).status,
    ).toBe(400);
  });

  it('leaves running instances on their version and migrates them with a mapping (dry run first)', async () => {
    const { orgId, key } = await newOrg();
    const { workflowId } = await published(key, cart('1h'));
    const fay = uniqueName('fay');
    await track(orgId, fay, 'cart_abandoned', { total: 3 });
    await instanceFor(key, workflowId, fay, 'waiting');
    const v2 = {
      ...cart('1h'),
      steps: [{ ...cart().steps[0], id: 'wait-2', timeout: '1s' }, ...cart().steps.slice(1)],
      start: 'wait-2',
    };
    await call('PUT', `/v1/workflows/${workflowId}/draft`, key, v2);
    expect((await call('POST', `/v1/workflows/${workflowId}/publish`, key)).body.version).toBe(2);
    expect((await instancesOf(key, workflowId)).find((i) => i.contactId === fay)).toMatchObject({
      version: 1,
      stepId: 'wait-order',
    });
    const dry = await call('POST', `/v1/workflows/${workflowId}/migrations`, key, {
      fromVersion: 1,
      toVersion: 2,
      mapping: { 'wait-order': 'wait-2' },
    });
    expect(dry.body).toMatchObject({
      dryRun: true,
      moves: [{ contactId: fay, fromStepId: 'wait-order', toStepId: 'wait-2' }],
    });
    expect((await instancesOf(key, workflowId)).find((i) => i.contactId === fay)).toMatchObject({
      version: 1,
    });
    expect(
      (
        await call('POST', `/v1/workflows/${workflowId}/migrations`, key, {
          fromVersion: 1,
          toVersion: 2,
          mapping: { 'wait-order': 'nope' },
        })
      ).status,
    ).toBe(400);
    await call('POST', `/v1/workflows/${workflowId}/migrations`, key, {
      fromVersion: 1,
      toVersion: 2,
      mapping: { 'wait-order': 'wait-2' },
      dryRun: false,
    });
    // On v2 its wait is 1 s: it times out into the reminder.
    expect(await instanceFor(key, workflowId, fay, 'completed')).toMatchObject({
      version: 2,
      status: 'completed',
    });
  });

  it("records what became of a workflow's email in the contact's history", async () => {
    const { orgId, key } = await newOrg();
    const hal = uniqueName('hal');
    const envelope = createTopicEnvelope(emailMessagesTopic.name, {
      id: randomUUID(),
      time: new Date().toISOString(),
      source: '/cmis/workflows-spec',
      type: 'cmis.email.message-suppressed',
      subject: hal,
      orgId,
      data: {
        messageId: 'm-1',
        idempotencyKey: 'workflow:i-1:remind:1',
        origin: { kind: 'workflow', id: 'wf-x', version: 1, stepId: 'remind', instanceId: 'i-1' },
        contactId: hal,
        reason: 'unsubscribed',
      },
    });
    const encoded = await proc.platform.codec.encode(emailMessagesTopic.name, envelope as EventEnvelope);
    await proc.platform.bus.publish(emailMessagesTopic.name, [
      { key: `${orgId}:${hal}`, value: encoded.value, headers: encoded.headers },
    ]);
    const history = await until(
      () => call('GET', `/v1/contacts/${hal}/history`, key),
      (r) => (r.body.decisions as Json[]).length > 0,
    );
    expect(history.body.decisions).toEqual([
      expect.objectContaining({
        workflowId: 'wf-x',
        instanceId: 'i-1',
        stepId: 'remind',
        kind: 'email',
        outcome: 'suppressed',
        inputs: expect.objectContaining({ reason: 'unsubscribed' }),
      }),
    ]);
  });

  it('enrolls through the API, refusing unknown workflows with the reason', async () => {
    const { key } = await newOrg();
    const { workflowId } = await published(key, {
      name: 'API',
      start: 'bye',
      steps: [{ id: 'bye', kind: 'exit', reason: 'done' }],
    });
    const ok = await call('POST', `/v1/workflows/${workflowId}/enrollments`, key, { contactId: 'gus' });
    expect(ok.status).toBe(201);
    expect(ok.body).toMatchObject({ entered: true, status: 'exited' });
    expect(
      (await call('POST', '/v1/workflows/nope/enrollments', key, { contactId: 'gus' })).body,
    ).toMatchObject({ entered: false, reason: 'no such workflow' });
    expect(
      (await call('POST', `/v1/workflows/${workflowId}/enrollments`, key, { contact: 'gus' })).status,
    ).toBe(400);
  });
});
