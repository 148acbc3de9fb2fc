// The projections slice in the analytics service as its own runtime on Kafka, the registry,
// Postgres and Redis: real encoded events of every projected topic, the measures read back
// through the API, a bad event dead-lettered while the next one is applied, settings refused
// naming the field, and a rebuild that replays the org's rows from the topics.
import { randomUUID } from 'node:crypto';
import {
  createTopicEnvelope,
  dripSubscriptionsTopic,
  emailMessagesTopic,
  entityMetricsTopic,
  ruleActionsTopic,
  ruleEventsTopic,
  userActionsTopic,
  workflowInstancesTopic,
  type EventEnvelope,
} from '@cmis/contracts';
import {
  DEAD_LETTER_HEADERS,
  startServiceProcess,
  timerMigrations,
  type CreateService,
  type RunningServiceProcess,
} from '@cmis/platform';
import { testEnv, uniqueName, until, waitForMessages } from '@cmis/testkit';
import type { SliceContext } from '../slice';
import { projectionsSlice } from './index';

// The analytics service with this slice alone (service.ts runs every slice the same way), so
// the spec holds the slice to its own tables, groups and routes.
const projectionsOnly: CreateService = (rt) => {
  const ctx: SliceContext = { rt, now: () => new Date() };
  return {
    // The timers table the measures' periods run on (the segments slice owns it in the service).
    migrations: [...timerMigrations, ...projectionsSlice.migrations],
    routes: (router) => projectionsSlice.routes!(router, ctx),
    start: () => projectionsSlice.start!(ctx),
    stop: () => projectionsSlice.stop!(),
  };
};

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;
const ADMIN_TOKEN = 'analytics-projections-spec-admin-0123456789';
const H = 3_600_000;

describe('analytics projections and measures', () => {
  let proc: RunningServiceProcess;
  const T = Math.floor((Date.now() - 6 * H) / H) * H; // an hour boundary, 6 hours ago
  const at = (offsetMs: number) => new Date(T + offsetMs).toISOString();
  const range = `from=${at(-3 * 24 * H)}&to=${at(5 * H)}`;

  beforeAll(async () => {
    const env = testEnv();
    proc = await startServiceProcess(
      { service: uniqueName('analytics'), httpPort: 0, create: projectionsOnly },
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
        scopes: ['analytics:read', 'analytics:write'],
      })
    ).body as { key: string };
    await until(
      () => call('GET', '/v1/settings', key),
      (r) => r.status !== 401,
    );
    return { orgId: org.orgId, key };
  }

  async function publish(
    topic: string,
    orgId: string,
    subject: string,
    type: string,
    time: string,
    data: unknown,
  ) {
    const envelope = createTopicEnvelope(topic as never, {
      id: randomUUID(),
      time,
      source: '/cmis/analytics-spec',
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

  const message = (messageId: string, contactId: string, origin: Json) => ({
    messageId,
    idempotencyKey: `k-${messageId}`,
    origin,
    contactId,
  });
  const email = (orgId: string, type: string, offset: number, data: Json) =>
    publish(
      emailMessagesTopic.name,
      orgId,
      data.contactId as string,
      `cmis.email.message-${type}`,
      at(offset),
      data,
    );

  async function publishEverything(orgId: string) {
    const wf = { kind: 'workflow', id: 'wf-1', stepId: 'send-welcome' };
    const m1 = message('msg-1', 'c1', wf);
    await email(orgId, 'requested', -3 * H, {
      ...m1,
      to: { kind: 'contact', contactId: 'c1' },
      content: { kind: 'template', templateId: 't1' },
      transactional: false,
    });
    await email(orgId, 'sent', -3 * H, {
      ...m1,
      smtpMessageId: 's1',
      provider: 'smtp',
      attempt: 1,
      response: '250',
    });
    await email(orgId, 'delivered', -3 * H, { ...m1, provider: 'ses' });
    await email(orgId, 'opened', -3 * H, { ...m1, machine: true, machineReason: 'apple-mpp' });
    await email(orgId, 'opened', -2 * H, { ...m1, machine: false });
    await email(orgId, 'opened', -2 * H + 60_000, { ...m1, machine: false }); // a second human open: still one unique
    await email(orgId, 'clicked', -2 * H, {
      ...m1,
      machine: false,
      linkIndex: 0,
      url: 'https://shop.example/x',
    });
    const m2 = message('msg-2', 'c2', { kind: 'broadcast', id: 'bc-1' });
    await email(orgId, 'sent', -3 * H, {
      ...m2,
      smtpMessageId: 's2',
      provider: 'smtp',
      attempt: 1,
      response: '250',
    });
    await email(orgId, 'bounced', -3 * H, {
      ...m2,
      bounceType: 'hard',
      reason: 'no such user',
      source: 'dsn',
    });

    const seg = (contactId: string, offset: number) => ({
      userId: contactId,
      context: {},
      messageId: randomUUID(),
      timestamp: at(offset),
      sourceId: 'spec',
    });
    await publish(userActionsTopic.name, orgId, 'c1', 'cmis.triggers.action-tracked', at(0), {
      ...seg('c1', 0),
      event: 'Order Completed',
      properties: { revenue: 120, currency: 'EUR' },
    });
    await publish(userActionsTopic.name, orgId, 'c1', 'cmis.triggers.action-tracked', at(0), {
      ...seg('c1', 0),
      event: 'Viewed Product',
      properties: { sku: 'a' },
    });

    const rule = { ruleId: 'r-1', ruleVersion: 1 };
    await publish(ruleEventsTopic.name, orgId, 'campaign:cmp-1', 'cmis.rules.rule-fired', at(0), {
      ...rule,
      subject: 'campaign:cmp-1',
      dryRun: false,
      matchedConditions: ['c1'],
    });
    await publish(ruleEventsTopic.name, orgId, 'campaign:cmp-1', 'cmis.rules.rule-fired', at(0), {
      ...rule,
      subject: 'campaign:cmp-1',
      dryRun: true,
      matchedConditions: ['c1'],
    });
    await publish(ruleActionsTopic.name, orgId, 'campaign:cmp-1', 'cmis.rules.action-requested', at(0), {
      ...rule,
      actionId: 'a-1',
      action: { kind: 'pause_campaign', campaignId: 'cmp-1' },
    });
    await publish(ruleEventsTopic.name, orgId, 'campaign:cmp-1', 'cmis.rules.action-succeeded', at(0), {
      ...rule,
      actionId: 'a-1',
      kind: 'pause_campaign',
      attempts: 1,
      detail: {},
    });
    const metrics = (entityType: string, entityId: string, offset: number, values: Json) =>
      publish(
        entityMetricsTopic.name,
        orgId,
        `${entityType}:${entityId}`,
        'cmis.triggers.entity-metrics-observed',
        at(offset),
        {
          entityType,
          entityId,
          metrics: values,
          observedAt: at(offset),
        },
      );
    await metrics('google_ads.campaign', 'cmp-1', -2 * H, { spend: 100, conversions: 2 });
    await metrics('google_ads.campaign', 'cmp-1', 2 * H, { spend: 30, conversions: 1 });
    await metrics('meta_ads.campaign', 'cmp-2', -2 * H, { spend: 40, conversions: 4 });

    const instance = { instanceId: 'i-1', workflowId: 'wf-1', workflowVersion: 1, contactId: 'c1' };
    const wfEvent = (type: string, offset: number, data: Json) =>
      publish(workflowInstancesTopic.name, orgId, 'c1', `cmis.workflows.${type}`, at(offset), {
        ...instance,
        ...data,
      });
    await wfEvent('instance-started', -4 * H, { entry: 'event', causeId: 'e-1' });
    await wfEvent('step-completed', -3 * H, { stepId: 'send-welcome', stepKind: 'email', outcome: 'sent' });
    await wfEvent('instance-ended', 0, { status: 'converted', causeId: 'o-1' });

    const sub = { subscriptionId: 'sub-1', dripId: 'drip-1', contactId: 'c2' };
    const dripEvent = (type: string, data: Json) =>
      publish(dripSubscriptionsTopic.name, orgId, 'c2', `cmis.drip.${type}`, at(-H), { ...sub, ...data });
    await dripEvent('subscriber-enrolled', { dripVersion: 1, entry: 'api', causeId: 'x', enrollment: 1 });
    await dripEvent('step-requested', {
      stepId: 'd0',
      dripVersion: 1,
      templateId: 't',
      idempotencyKey: 'drip:sub-1:d0',
    });
    await dripEvent('subscriber-exited', { reason: 'unsubscribed' });
  }

  it('projects every result topic and serves the measures: email, rules with before/after, funnels, ROI, trends', async () => {
    const { orgId, key } = await newOrg();
    expect((await call('PUT', '/v1/settings', key, { messageCost: 0.5 })).status).toBe(200);
    await publishEverything(orgId);

    const wfEmail = await until(
      () => call('GET', `/v1/measures/email?${range}&origin=workflow:wf-1`, key),
      (r) => r.body?.uniqueClicks === 1 && r.body?.uniqueOpens === 1,
    );
    expect(wfEmail.body).toMatchObject({
      sent: 1,
      delivered: 1,
      uniqueOpens: 1,
      machineOpens: 1,
      uniqueClicks: 1,
      bounces: 0,
    });
    expect(wfEmail.body.rates).toMatchObject({ base: 'delivered', open: 1, click: 1 });
    const all = await call('GET', `/v1/measures/email?${range}`, key);
    expect(all.body).toMatchObject({ sent: 2, bounces: 1, hardBounces: 1 });
    expect(all.body.rates.bounce).toBe(0.5);

    const ruleOne = await until(
      () => call('GET', `/v1/measures/rules/r-1?${range}&windowHours=3`, key),
      (r) => r.body?.actionsSucceeded === 1 && r.body?.campaignActions?.[0]?.after?.snapshots === 1,
    );
    expect(ruleOne.body).toMatchObject({
      firings: 2,
      suppressedFirings: 1,
      actionsRequested: 1,
      actionsFailed: 0,
    });
    expect(ruleOne.body.campaignActions[0]).toMatchObject({
      campaignId: 'cmp-1',
      kind: 'pause_campaign',
      succeeded: true,
      before: { metrics: { spend: 100, conversions: 2, cpa: 50 }, platforms: ['google_ads'] },
      after: { metrics: { spend: 30, conversions: 1, cpa: 30 } },
      change: { cpa: -20 },
    });
    expect((await call('GET', `/v1/measures/rules?${range}`, key)).body.rules).toEqual([
      expect.objectContaining({ ruleId: 'r-1', firings: 2 }),
    ]);

    const wfFunnel = await until(
      () => call('GET', '/v1/measures/funnels/workflow/wf-1', key),
      (r) => r.body?.converted === 1,
    );
    expect(wfFunnel.body).toMatchObject({
      entered: 1,
      steps: [{ stepId: 'send-welcome', completed: 1, outcomes: { sent: 1 } }],
      messages: [expect.objectContaining({ stepId: 'send-welcome', sent: 1, opened: 1, clicked: 1 })],
      exited: 0,
    });
    const dripFunnel = await until(
      () => call('GET', '/v1/measures/funnels/drip/drip-1', key),
      (r) => r.body?.exited === 1,
    );
    expect(dripFunnel.body).toMatchObject({
      entered: 1,
      steps: [{ stepId: 'd0', requested: 1 }],
      converted: 0,
    });
    const bcFunnel = await call('GET', `/v1/measures/funnels/broadcast/bc-1?${range}`, key);
    expect(bcFunnel.body).toMatchObject({ sent: 1, opened: 0, converted: 0, exited: 1 });

    // The order 2 hours after the click is the workflow's (last touch, click within 5 days).
    const roiWf = await until(
      () => call('GET', `/v1/measures/roi?${range}&groupBy=workflow`, key),
      (r) => r.body?.rows?.[0]?.revenue === 120,
    );
    expect(roiWf.body.rows).toEqual([
      { workflowId: 'wf-1', messagesSent: 1, conversions: 1, revenue: 120, cost: 0.5, roi: 240 },
    ]);
    // First touch with a zero click window and open window: nothing is attributed.
    await call('PUT', '/v1/settings', key, { clickWindowDays: 0, openWindowDays: 0 });
    expect((await call('GET', `/v1/measures/roi?${range}&groupBy=workflow`, key)).body.rows[0].revenue).toBe(
      0,
    );
    const roiCampaign = await call('GET', `/v1/measures/roi?${range}&groupBy=campaign`, key);
    expect(roiCampaign.body.rows).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ campaignId: 'cmp-1', cost: 130, platforms: ['google_ads'] }),
      ]),
    );

    const trend = await call(
      'GET',
      `/v1/measures/trends?metric=spend&bucket=hour&groupBy=platform&${range}`,
      key,
    );
    expect(trend.status).toBe(200);
    const byPlatform = Object.fromEntries(
      (trend.body.series as Json[]).map((s) => [s.platform, s.points.map((p: Json) => [p.at, p.value])]),
    );
    expect(byPlatform).toEqual({
      google_ads: [
        [at(-2 * H), 100],
        [at(2 * H), 30],
      ],
      meta_ads: [[at(-2 * H), 40]],
    });
    const cpa = await call('GET', `/v1/measures/trends?metric=cpa&bucket=day&${range}`, key);
    expect(cpa.body.series).toHaveLength(1);
  });

  it('dead-letters an event that does not fit its contract and applies the next one', async () => {
    const { orgId, key } = await newOrg();
    const encoded = await proc.platform.codec.encode(
      emailMessagesTopic.name,
      createTopicEnvelope(emailMessagesTopic.name, {
        id: randomUUID(),
        time: at(0),
        source: '/cmis/analytics-spec',
        type: 'cmis.email.message-sent',
        subject: 'c9',
        orgId,
        data: {
          ...message('msg-9', 'c9', { kind: 'drip', id: 'd-9' }),
          smtpMessageId: 's',
          provider: 'p',
          attempt: 1,
          response: '250',
        } as never,
      }) as EventEnvelope,
    );
    // The same wire format, a payload that breaks the contract (attempt must be a positive integer).
    const body = JSON.parse(encoded.value.subarray(5).toString()) as Json;
    body.data.attempt = 'twice';
    const bad = Buffer.concat([encoded.value.subarray(0, 5), Buffer.from(JSON.stringify(body))]);
    await proc.platform.bus.publish(emailMessagesTopic.name, [
      { key: `${orgId}:c9`, value: bad, headers: encoded.headers },
    ]);
    await email(orgId, 'sent', 0, {
      ...message('msg-10', 'c9', { kind: 'drip', id: 'd-9' }),
      smtpMessageId: 's',
      provider: 'p',
      attempt: 1,
      response: '250',
    });

    const measured = await until(
      () => call('GET', `/v1/measures/email?${range}&origin=drip:d-9`, key),
      (r) => r.body?.sent === 1,
    );
    expect(measured.body.sent).toBe(1);
    const dead = await waitForMessages({
      topic: emailMessagesTopic.deadLetterTopic,
      count: 1,
      predicate: (m) => m.key === `${orgId}:c9`,
    });
    expect(dead[0]!.headers[DEAD_LETTER_HEADERS.reason]?.toString()).toMatch(/attempt/);
  });

  it('refuses bad settings and queries with 400s naming the field, and writes nothing', async () => {
    const { key } = await newOrg();
    const tooWide = await call('PUT', '/v1/settings', key, { clickWindowDays: 400 });
    expect(tooWide.status).toBe(400);
    expect(tooWide.type).toMatch(/application\/problem\+json/);
    expect(tooWide.body.errors.map((e: Json) => e.path)).toEqual(['body.clickWindowDays']);
    const badModel = await call('PUT', '/v1/settings', key, {
      attributionModel: 'u_shaped',
      openWindowDays: -1,
    });
    expect(badModel.body.errors.map((e: Json) => e.path).sort()).toEqual([
      'body.attributionModel',
      'body.openWindowDays',
    ]);
    expect((await call('PUT', '/v1/settings', key, { colour: 'red' })).status).toBe(400);
    expect((await call('GET', '/v1/settings', key)).body).toEqual({
      attributionModel: 'last_touch',
      clickWindowDays: 5,
      openWindowDays: 1,
      messageCost: 0,
    });

    const unknownMetric = await call('GET', '/v1/measures/trends?metric=happiness', key);
    expect(unknownMetric.status).toBe(400);
    expect(unknownMetric.body.errors[0]).toMatchObject({
      path: 'query.metric',
      message: expect.stringMatching(/unknown metric/),
    });
    const hourly = await call(
      'GET',
      `/v1/measures/trends?metric=spend&bucket=hour&from=2025-01-01T00:00:00Z&to=2025-06-01T00:00:00Z`,
      key,
    );
    expect(hourly.status).toBe(400);
    expect(hourly.body.errors[0].path).toBe('query.from');
    const noPlatform = await call('GET', '/v1/measures/trends?metric=email.sent&groupBy=platform', key);
    expect(noPlatform.body.errors[0].path).toBe('query.groupBy');
    expect((await call('GET', '/v1/measures/rules/r-1?windowHours=0', key)).body.errors[0].path).toBe(
      'query.windowHours',
    );
    expect((await call('GET', '/v1/measures/roi?groupBy=planet', key)).body.errors[0].path).toBe(
      'query.groupBy',
    );
    expect((await call('GET', '/v1/measures/email?origin=moon:1', key)).body.errors[0].path).toBe(
      'query.origin',
    );
  });

  it('rebuilds an org: its rows are deleted and replayed from the topics', async () => {
    const { orgId, key } = await newOrg();
    await publishEverything(orgId);
    const before = await until(
      () => call('GET', `/v1/measures/email?${range}`, key),
      (r) => r.body?.sent === 2 && r.body?.uniqueClicks === 1,
    );
    const started = await call('POST', '/v1/projections/rebuild', key);
    expect(started.status).toBe(202);
    const done = await until(
      () => call('GET', `/v1/projections/rebuild/${started.body.rebuildId}`, key),
      (r) => r.body?.status !== 'running',
      { timeoutMs: 120_000 },
    );
    expect(done.body.status).toBe('done');
    expect((await call('GET', `/v1/measures/email?${range}`, key)).body).toEqual(before.body);
    expect((await call('GET', '/v1/measures/funnels/workflow/wf-1', key)).body.converted).toBe(1);
  }, 180_000);
});
