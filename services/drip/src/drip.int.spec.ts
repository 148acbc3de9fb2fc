// The drip service as its own runtime on Kafka, the registry, Postgres and Redis, on a clock the
// spec moves: bad campaigns and enrollments refused naming the fault; enrollment idempotent with
// the re-enrollment policy; steps requested once each in the send window; pause holds and resume
// catches up; unsubscribes, suppressions and exit events end subscriptions; rules' and workflows'
// enroll actions; an edit applies to steps not yet reached; segment-entered enrolls and
// segment-exited exits campaigns that name the segment.
import { randomUUID } from 'node:crypto';
import {
  contactsTopic,
  createTopicEnvelope,
  emailRequestsTopic,
  emailSubscriptionsTopic,
  ruleActionsTopic,
  segmentEventsTopic,
  userActionsTopic,
  workflowActionsTopic,
  type EventEnvelope,
} from '@cmis/contracts';
import { startServiceProcess, type RunningServiceProcess } from '@cmis/platform';
import { testEnv, uniqueName, until, waitForMessages } from '@cmis/testkit';
import { MAX_BULK } from './campaigns/api';
import { createDripService } from './service';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;
const ADMIN_TOKEN = 'drip-spec-admin-token-0123456789';
// Monday 2026-12-07 22:00 Berlin.
const START = Date.parse('2026-12-07T21:00:00Z');

const SERIES = {
  name: 'Welcome',
  entry: { identified: true },
  steps: [
    { id: 'day-0', templateId: 'welcome-1', delay: '0s' },
    { id: 'day-2', templateId: 'welcome-2', delay: '2d' },
  ],
  exits: [{ event: 'order_completed' }],
  timeZone: 'Europe/Berlin',
  window: { start: '09:00', end: '17:00' },
  reentry: { policy: 'never' },
};

describe('drip service', () => {
  let proc: RunningServiceProcess;
  const clock = { t: START };

  beforeAll(async () => {
    const env = testEnv();
    proc = await startServiceProcess(
      {
        service: uniqueName('drip'),
        httpPort: 0,
        create: createDripService({ now: () => new Date(clock.t), timerIntervalMs: 100 }),
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
        scopes: ['drip:read', 'drip:write'],
      })
    ).body as { key: string };
    await until(
      () => call('GET', '/v1/drips', key),
      (r) => r.status !== 401,
    );
    return { orgId: org.orgId, key };
  }

  async function publish(topic: string, orgId: string, subject: string, type: string, data: unknown) {
    const envelope = createTopicEnvelope(topic as never, {
      id: randomUUID(),
      time: new Date(clock.t).toISOString(),
      source: '/cmis/drip-spec',
      type: type as never,
      subject,
      orgId,
      data: data as never,
    });
    const encoded = await proc.platform.codec.encode(topic, envelope as EventEnvelope);
    await proc.platform.bus.publish(topic, [
      { key: `${orgId}:${subject}`, value: encoded.value, headers: encoded.headers },
    ]);
  }
  const segment = (contactId: string) => ({
    userId: contactId,
    context: {},
    messageId: randomUUID(),
    timestamp: new Date(clock.t).toISOString(),
    sourceId: 'spec',
  });
  const identify = (orgId: string, contactId: string, traits: Json = {}) =>
    publish(contactsTopic.name, orgId, contactId, 'cmis.triggers.contact-identified', {
      ...segment(contactId),
      traits: { email: `${contactId}@example.com`, ...traits },
    });
  const track = (orgId: string, contactId: string, event: string) =>
    publish(userActionsTopic.name, orgId, contactId, 'cmis.triggers.action-tracked', {
      ...segment(contactId),
      event,
      properties: {},
    });

  async function activeDrip(key: string, campaign: unknown = SERIES) {
    const created = await call('POST', '/v1/drips', key, campaign);
    expect(created.status).toBe(201);
    expect((await call('POST', `/v1/drips/${created.body.dripId}/activate`, key)).status).toBe(200);
    return created.body.dripId as string;
  }
  const subscriptionOf = (
    key: string,
    dripId: string,
    contactId: string,
    predicate: (s: Json) => boolean = () => true,
  ) =>
    until(
      () => call('GET', `/v1/drips/${dripId}/subscriptions?contactId=${contactId}`, key),
      (r) => (r.body.subscriptions as Json[]).some(predicate),
      { timeoutMs: 20_000 },
    ).then((r) => (r.body.subscriptions as Json[]).find(predicate)!);
  const requestsFor = async (orgId: string, contactId: string, count: number, timeoutMs = 15_000) => {
    const messages = await waitForMessages({
      topic: emailRequestsTopic.name,
      count,
      predicate: (m) => m.key === `${orgId}:${contactId}`,
      timeoutMs,
    });
    return Promise.all(
      messages.map((m) =>
        proc.platform.codec.decode(emailRequestsTopic.name, { value: m.value, headers: m.headers }),
      ),
    );
  };

  it('refuses bad campaigns and enrollments naming the fault, writing nothing', async () => {
    const { key } = await newOrg();
    const bad = await call('POST', '/v1/drips', key, { ...SERIES, steps: [] });
    expect(bad.status).toBe(400);
    expect(bad.type).toContain('application/problem+json');
    expect(bad.body.errors).toEqual([{ path: 'body.steps', message: 'a drip needs at least one step' }]);
    expect(
      (
        await call('POST', '/v1/drips', key, {
          ...SERIES,
          window: { days: [], start: '09:00', end: '17:00' },
        })
      ).body.errors[0].message,
    ).toBe('the window has no day');
    expect(
      (
        await call('POST', '/v1/drips', key, {
          ...SERIES,
          steps: [{ id: 'x', templateId: 't', delay: '400d' }],
        })
      ).body.errors[0],
    ).toEqual({ path: 'body.steps.0.delay', message: 'at most 365 days' });
    expect((await call('GET', '/v1/drips', key)).body.drips).toEqual([]);

    const dripId = await activeDrip(key);
    const unknown = await call('POST', `/v1/drips/${dripId}/enrollments`, key, { contactId: 'nobody' });
    expect(unknown.status).toBe(422);
    expect(unknown.body.detail).toMatch(/unknown contact/);
    const tooMany = await call('POST', `/v1/drips/${dripId}/enrollments/bulk`, key, {
      contactIds: Array.from({ length: MAX_BULK + 1 }, (_, i) => `c${i}`),
    });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.errors[0].message).toBe(`at most ${MAX_BULK} contacts a call (got ${MAX_BULK + 1})`);
    expect((await call('GET', `/v1/drips/${dripId}/subscriptions`, key)).body.subscriptions).toEqual([]);
    expect((await call('POST', '/v1/drips/nope/pause', key)).status).toBe(404);
  });

  it('enrolls on identify, sends each step once in the window, and never re-enrolls under policy never', async () => {
    clock.t = START;
    const { orgId, key } = await newOrg();
    const dripId = await activeDrip(key);
    const ann = uniqueName('ann');
    await identify(orgId, ann);
    const sub = await subscriptionOf(key, dripId, ann);
    expect(sub).toMatchObject({ status: 'active', nextStepId: 'day-0', sendAt: '2026-12-08T08:00:00.000Z' });
    await identify(orgId, ann, { plan: 'pro' }); // identified again: already subscribed
    clock.t = Date.parse('2026-12-08T08:00:00Z');
    const [first] = await requestsFor(orgId, ann, 1);
    expect(first!.data).toMatchObject({
      idempotencyKey: `drip:${sub.subscriptionId}:day-0`,
      content: { templateId: 'welcome-1' },
      origin: { kind: 'drip', id: dripId, stepId: 'day-0' },
    });
    expect(await subscriptionOf(key, dripId, ann, (s) => s.nextStepId === 'day-2')).toMatchObject({
      sendAt: '2026-12-10T08:00:00.000Z',
      doneStepIds: ['day-0'],
    });
    clock.t = Date.parse('2026-12-10T08:00:00Z');
    expect(await subscriptionOf(key, dripId, ann, (s) => s.status === 'completed')).toMatchObject({
      doneStepIds: ['day-0', 'day-2'],
    });
    const all = await requestsFor(orgId, ann, 2);
    expect(all.map((r) => (r.data as Json).idempotencyKey)).toEqual([
      `drip:${sub.subscriptionId}:day-0`,
      `drip:${sub.subscriptionId}:day-2`,
    ]);
    // Completed, and the policy is never: a bulk enrollment refuses it with the reason.
    const bulk = await call('POST', `/v1/drips/${dripId}/enrollments/bulk`, key, {
      contactIds: [ann, 'stranger'],
    });
    expect(bulk.body).toMatchObject({ enrolled: 0, results: 2 });
    expect(bulk.body.refused).toEqual([
      expect.objectContaining({ contactId: ann, reason: 're-enrollment policy never: enrolled before' }),
      expect.objectContaining({ contactId: 'stranger', reason: 'unknown contact (not identified yet)' }),
    ]);
    const history = (await call('GET', `/v1/contacts/${ann}/history`, key)).body.entries as Json[];
    expect(history).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          kind: 'enrollment',
          outcome: 'refused',
          detail: expect.objectContaining({ reason: 'already subscribed' }),
        }),
      ]),
    );
  });

  it('holds due steps while paused and spreads them after a resume; an edit applies to steps not reached', async () => {
    clock.t = Date.parse('2026-12-08T09:00:00Z'); // 10:00 Berlin, inside the window
    const { orgId, key } = await newOrg();
    const dripId = await activeDrip(key, {
      ...SERIES,
      entry: {},
      resume: { mode: 'spread', spreadMinutes: 30 },
    });
    const bo = uniqueName('bo');
    await identify(orgId, bo);
    await until(
      () => call('POST', `/v1/drips/${dripId}/enrollments`, key, { contactId: bo }),
      (r) => r.status === 201,
    );
    await requestsFor(orgId, bo, 1);
    expect((await call('POST', `/v1/drips/${dripId}/pause`, key)).body.status).toBe('paused');
    // Edited while paused: day-2 becomes day-1 (a day after the first).
    const edited = await call('PUT', `/v1/drips/${dripId}`, key, {
      ...SERIES,
      entry: {},
      resume: { mode: 'spread', spreadMinutes: 30 },
      steps: [SERIES.steps[0], { id: 'day-1', templateId: 'tip', delay: '1d' }],
    });
    expect(edited.body).toMatchObject({ version: 2, status: 'paused' });
    clock.t = Date.parse('2026-12-10T09:00:00Z');
    const held = await subscriptionOf(key, dripId, bo, (s) => s.status === 'held');
    expect(held.doneStepIds).toEqual(['day-0']);
    const resumed = await call('POST', `/v1/drips/${dripId}/resume`, key);
    expect(resumed.body).toMatchObject({ status: 'active', resumed: 1 });
    const sendAt = Date.parse((await subscriptionOf(key, dripId, bo, (s) => s.status === 'active')).sendAt);
    expect(sendAt).toBeGreaterThanOrEqual(clock.t);
    expect(sendAt).toBeLessThan(clock.t + 30 * 60_000);
    clock.t = sendAt;
    const requests = await requestsFor(orgId, bo, 2);
    expect(requests.map((r) => (r.data as Json).content.templateId)).toEqual(['welcome-1', 'tip']);
    const changes = (await call('GET', `/v1/drips/${dripId}/changes`, key)).body.changes as Json[];
    expect(changes.map((c) => c.type)).toEqual([
      'drip.campaign-created',
      'drip.campaign-activated',
      'drip.campaign-paused',
      'drip.campaign-updated',
      'drip.campaign-resumed',
    ]);
  });

  it('ends subscriptions on an exit event, an unsubscribe and a suppression; enrolls from rules and workflows', async () => {
    clock.t = Date.parse('2026-12-08T09:00:00Z');
    const { orgId, key } = await newOrg();
    const dripId = await activeDrip(key, {
      ...SERIES,
      entry: {},
      steps: [{ id: 'later', templateId: 'welcome-1', delay: '1d' }],
    });
    const [cy, di, ed] = [uniqueName('cy'), uniqueName('di'), uniqueName('ed')];
    for (const c of [cy, di, ed]) await identify(orgId, c);
    const base = { ruleId: 'r-1', ruleVersion: 1 };
    await publish(ruleActionsTopic.name, orgId, cy, 'cmis.rules.action-requested', {
      ...base,
      actionId: randomUUID(),
      action: { kind: 'enroll_drip', dripId, contactId: cy },
    });
    await publish(ruleActionsTopic.name, orgId, di, 'cmis.rules.action-requested', {
      ...base,
      actionId: randomUUID(),
      action: { kind: 'enroll_drip', dripId, contactId: di },
    });
    await publish(workflowActionsTopic.name, orgId, ed, 'cmis.workflows.action-requested', {
      instanceId: 'i-1',
      workflowId: 'wf-1',
      workflowVersion: 1,
      contactId: ed,
      stepId: 'enroll',
      actionId: randomUUID(),
      action: { kind: 'enroll_drip', dripId, contactId: ed },
    });
    for (const c of [cy, di, ed]) await subscriptionOf(key, dripId, c, (s) => s.status === 'active');
    await track(orgId, cy, 'order_completed');
    await publish(emailSubscriptionsTopic.name, orgId, di, 'cmis.email.contact-unsubscribed', {
      contactId: di,
      address: `${di}@example.com`,
      scope: 'all',
      method: 'one_click',
    });
    await publish(emailSubscriptionsTopic.name, orgId, ed, 'cmis.email.address-suppressed', {
      address: `${ed}@EXAMPLE.com`,
      reason: 'hard_bounce',
    });
    expect((await subscriptionOf(key, dripId, cy, (s) => s.status === 'exited')).status).toBe('exited');
    expect((await subscriptionOf(key, dripId, di, (s) => s.status === 'exited')).status).toBe('exited');
    expect((await subscriptionOf(key, dripId, ed, (s) => s.status === 'exited')).status).toBe('exited');
    const sub = (await call('GET', `/v1/drips/${dripId}/subscriptions?contactId=${ed}`, key)).body
      .subscriptions[0] as Json;
    const detail = (await call('GET', `/v1/subscriptions/${sub.subscriptionId}`, key)).body;
    expect(detail.events.map((e: Json) => e.type)).toEqual([
      'cmis.drip.subscriber-enrolled',
      'cmis.drip.step-due',
      'cmis.drip.subscriber-exited',
    ]);
    expect(detail.events[2].data.reason).toBe('suppressed: hard_bounce');
    // Their timers were cancelled: a day later nothing is requested for any of them.
    clock.t = Date.parse('2026-12-09T10:00:00Z');
    await new Promise((r) => setTimeout(r, 1_500));
    for (const c of [cy, di, ed])
      await expect(requestsFor(orgId, c, 1, 1_000)).rejects.toThrow(/0\/1 matched/);
  });

  it('enrolls on segment-entered and exits on segment-exited of a listed segment only', async () => {
    clock.t = Date.parse('2026-12-08T09:00:00Z');
    const { orgId, key } = await newOrg();
    const [vip, other] = [uniqueName('seg-vip'), uniqueName('seg-other')];
    const both = await call('POST', '/v1/drips', key, {
      ...SERIES,
      entry: { identified: true, segmentId: vip },
    });
    expect(both.status).toBe(400);
    expect(both.body.errors).toEqual([
      { path: 'body.entry', message: 'enter on one of an event, identify or a segment, not several' },
    ]);
    const dripId = await activeDrip(key, {
      ...SERIES,
      entry: { segmentId: vip },
      exitOnSegmentExit: [vip],
      steps: [{ id: 'later', templateId: 'welcome-1', delay: '1d' }],
    });
    const [al, bo] = [uniqueName('al'), uniqueName('bo')];
    for (const c of [al, bo]) await identify(orgId, c);
    const segmentEvent = (contactId: string, segmentId: string, type: 'entered' | 'exited') =>
      publish(segmentEventsTopic.name, orgId, contactId, `cmis.analytics.segment-${type}`, {
        segmentId,
        segmentVersion: 1,
        contactId,
        ...(type === 'exited' ? { reason: 'spec' } : {}),
      });
    await segmentEvent(al, vip, 'entered');
    await segmentEvent(bo, vip, 'entered');
    for (const c of [al, bo]) await subscriptionOf(key, dripId, c, (s) => s.status === 'active');
    // Bo leaves a segment the campaign does not list, then the listed one: only the second exits.
    await segmentEvent(bo, other, 'exited');
    await segmentEvent(bo, vip, 'exited');
    const exited = await subscriptionOf(key, dripId, bo, (s) => s.status === 'exited');
    const detail = (await call('GET', `/v1/subscriptions/${exited.subscriptionId}`, key)).body;
    expect(detail.events.map((e: Json) => e.type)).toEqual([
      'cmis.drip.subscriber-enrolled',
      'cmis.drip.step-due',
      'cmis.drip.subscriber-exited',
    ]);
    expect(detail.events[0].data.entry).toBe('segment');
    expect(detail.events[2].data.reason).toBe(`segment exited ${vip}`);
    const al1 = (await call('GET', `/v1/drips/${dripId}/subscriptions?contactId=${al}`, key)).body;
    expect((al1.subscriptions as Json[]).map((s) => s.status)).toEqual(['active']);
  });
});
