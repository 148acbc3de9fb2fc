// The analytics service as its own runtime on Kafka, the registry, Postgres and Redis: a
// two-variant email test from real encoded message events shows its statistics and a decision
// publishes experiment-decided with the winner; a one-variant test, an unknown metric and a
// confidence out of range are refused naming the fault; a rule's holdout is compared with the
// acted-on subjects; campaign metrics lead to a budget recommendation.
import { randomUUID } from 'node:crypto';
import {
  analyticsDecisionsTopic,
  createTopicEnvelope,
  emailMessagesTopic,
  entityMetricsTopic,
  ruleEventsTopic,
  userActionsTopic,
  workflowInstancesTopic,
  type EventEnvelope,
} from '@cmis/contracts';
import { startServiceProcess, type RunningServiceProcess } from '@cmis/platform';
import { testEnv, uniqueName, until, waitForMessages } from '@cmis/testkit';
import { createAnalyticsService } from '../service';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;
const ADMIN_TOKEN = 'analytics-experiments-spec-admin-token-0123';

describe('analytics experiments and recommendations', () => {
  let proc: RunningServiceProcess;

  beforeAll(async () => {
    const env = testEnv();
    proc = await startServiceProcess(
      { service: uniqueName('analytics'), httpPort: 0, create: createAnalyticsService() },
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
      () => call('GET', '/v1/experiments', key),
      (r) => r.status !== 401,
    );
    return { orgId: org.orgId, key };
  }

  type Fact = { subject: string; type: string; data: unknown; time?: string };
  async function publish(topic: string, orgId: string, facts: Fact[]) {
    const messages = await Promise.all(
      facts.map(async (f) => {
        const envelope = createTopicEnvelope(topic as never, {
          id: randomUUID(),
          time: f.time ?? new Date().toISOString(),
          source: '/cmis/analytics-spec',
          type: f.type as never,
          subject: f.subject,
          orgId,
          data: f.data as never,
        });
        const encoded = await proc.platform.codec.encode(topic, envelope as EventEnvelope);
        return { key: `${orgId}:${f.subject}`, value: encoded.value, headers: encoded.headers };
      }),
    );
    await proc.platform.bus.publish(topic, messages);
  }

  /** n messages of one variant, `clicks` of them clicked by a person (and one by a scanner). */
  function emailTest(testId: string, variantId: string, n: number, clicks: number): Fact[] {
    const rendered: Fact[] = [];
    const sent: Fact[] = [];
    const clicked: Fact[] = [];
    for (let i = 0; i < n; i++) {
      const contactId = `${variantId}-${i}`;
      const ref = {
        messageId: randomUUID(),
        idempotencyKey: `${testId}:${contactId}`,
        origin: { kind: 'broadcast', id: `bc-${testId}` },
        contactId,
        address: `${contactId}@example.com`,
      };
      rendered.push({
        subject: contactId,
        type: 'cmis.email.message-rendered',
        data: { ...ref, subject: `Hello ${variantId}`, abTestId: testId, variantId, links: 1 },
      });
      sent.push({
        subject: contactId,
        type: 'cmis.email.message-sent',
        data: {
          ...ref,
          smtpMessageId: `<${ref.messageId}@x>`,
          provider: 'smtp',
          attempt: 1,
          response: '250 ok',
        },
      });
      const click = { ...ref, linkIndex: 0, url: 'https://example.com/offer' };
      if (i < clicks)
        clicked.push({
          subject: contactId,
          type: 'cmis.email.message-clicked',
          data: { ...click, machine: false },
        });
      // A scanner's click is not a conversion.
      else if (i === clicks)
        clicked.push({
          subject: contactId,
          type: 'cmis.email.message-clicked',
          data: { ...click, machine: true },
        });
    }
    return [...rendered, ...sent, ...clicked];
  }

  async function decoded(topic: string, predicate: (e: EventEnvelope) => boolean, count = 1) {
    const found: EventEnvelope[] = [];
    await waitForMessages({
      topic,
      count,
      predicate: (m) => {
        // Decoding is async; match on the raw JSON body after the 5-byte wire prefix.
        const text = m.value!.subarray(m.value![0] === 0 ? 5 : 0).toString('utf8');
        const e = JSON.parse(text) as EventEnvelope;
        if (!predicate(e)) return false;
        found.push(e);
        return true;
      },
    });
    return found;
  }

  it('a two-variant email test shows its statistics, and a decision publishes the winner', async () => {
    const { orgId, key } = await newOrg();
    const testId = `test-${randomUUID()}`;
    // A: 5 of 100 clicked (5%); B: 40 of 100 (40%).
    await publish(emailMessagesTopic.name, orgId, [
      ...emailTest(testId, 'A', 100, 5),
      ...emailTest(testId, 'B', 100, 40),
    ]);

    const results = await until(
      () => call('GET', `/v1/experiments/${testId}`, key),
      (r) =>
        r.status === 200 &&
        r.body.variants.reduce((s: number, v: Json) => s + v.exposed, 0) === 200 &&
        r.body.variants.reduce((s: number, v: Json) => s + v.conversions, 0) === 45,
      { timeoutMs: 90_000 },
    );
    expect(results.status).toBe(200);
    const { body } = results;
    expect(body.kind).toBe('email');
    expect(body.variants.map((v: Json) => [v.variantId, v.exposed, v.conversions])).toEqual([
      ['A', 100, 5],
      ['B', 100, 40],
    ]);
    const [a, b] = body.variants as Json[];
    expect(a!.rate).toBeCloseTo(0.05, 9);
    expect(a!.low).toBeLessThan(0.05);
    expect(a!.high).toBeGreaterThan(0.05);
    expect(b!.low).toBeGreaterThan(a!.high);
    expect(body.tests.conversions).toMatchObject({ test: 'two-proportion z', leader: 'B', runnerUp: 'A' });
    expect(body.tests.conversions.statistic).toBeGreaterThan(4);
    expect(body.tests.conversions.pValue).toBeLessThan(0.0001);
    expect(body.tests.chiSquared.statistic).toBeCloseTo(body.tests.conversions.statistic ** 2, 6);
    expect(body.tests.sequential.pValue).toBeLessThan(0.05);
    expect(body.tests.sequential.pValue).toBeGreaterThan(body.tests.conversions.pValue);
    expect(body.tests.revenue).toMatchObject({ test: 'Welch t', pValue: 1 });
    expect(body.winners).toEqual({
      conversions: 'B',
      conversions_sequential: 'B',
      revenue_per_contact: null,
    });
    expect(body.banditAllocation.B).toBeCloseTo(0.95, 6);
    expect(body.banditAllocation.A).toBeCloseTo(0.05, 6);

    const list = await call('GET', '/v1/experiments', key);
    expect(list.body.experiments).toEqual([
      expect.objectContaining({
        experimentId: testId,
        kind: 'email',
        variants: 2,
        exposed: 200,
        conversions: 45,
      }),
    ]);

    const decided = await call('POST', `/v1/experiments/${testId}/decide`, key, {
      confidence: 0.99,
      metric: 'conversions',
      minSample: 100,
    });
    expect(decided.status).toBe(200);
    expect(decided.body).toMatchObject({
      experimentId: testId,
      winnerVariantId: 'B',
      test: 'two-proportion z',
      confidence: 0.99,
    });

    const [event] = await decoded(
      analyticsDecisionsTopic.name,
      (e) => e.orgId === orgId && e.type === 'cmis.analytics.experiment-decided',
    );
    expect(event!.data).toMatchObject({
      experimentId: testId,
      kind: 'email',
      winnerVariantId: 'B',
      metric: 'conversions',
      confidence: 0.99,
      variants: [
        expect.objectContaining({ variantId: 'A', exposed: 100, conversions: 5 }),
        expect.objectContaining({ variantId: 'B', exposed: 100, conversions: 40 }),
      ],
    });
    expect((event!.data as Json).pValue).toBeLessThan(0.0001);

    // Too few exposures for the asked minimum: decided, but without a winner.
    const early = await call('POST', `/v1/experiments/${testId}/decide`, key, {
      metric: 'conversions',
      minSample: 1000,
    });
    expect(early.status).toBe(200);
    expect(early.body.winnerVariantId).toBeUndefined();
    expect(early.body.enoughSample).toBe(false);
  });

  it('a workflow random split counts branch passes and goal conversions, with revenue per contact from orders', async () => {
    const { orgId, key } = await newOrg();
    const workflowId = `wf-${randomUUID()}`;
    const experimentId = `${workflowId}:split`;
    const passes: Fact[] = [];
    const ends: Fact[] = [];
    const orders: Fact[] = [];
    const ref = (contactId: string) => ({
      instanceId: `i-${contactId}`,
      workflowId,
      workflowVersion: 1,
      contactId,
    });
    const segment = (contactId: string) => ({
      userId: contactId,
      context: {},
      messageId: randomUUID(),
      timestamp: new Date().toISOString(),
      sourceId: 'spec',
    });
    for (let i = 0; i < 40; i++) {
      const branch = i % 2 === 0 ? 'offer' : 'holdout';
      const contactId = `${branch}-${i}`;
      passes.push({
        subject: contactId,
        type: 'cmis.workflows.step-completed',
        data: { ...ref(contactId), stepId: 'split', stepKind: 'random_split', outcome: branch },
      });
      // Offer: 15 of 20 convert and spend 40–54; holdout: 4 of 20 convert and spend 10.
      const converts = branch === 'offer' ? i < 30 : i < 8;
      if (converts) {
        ends.push({
          subject: contactId,
          type: 'cmis.workflows.instance-ended',
          data: { ...ref(contactId), status: 'converted' },
        });
        orders.push({
          subject: contactId,
          type: 'cmis.triggers.action-tracked',
          data: {
            ...segment(contactId),
            event: 'Order Completed',
            properties: { revenue: branch === 'offer' ? 40 + (i % 15) : 10 },
          },
        });
      }
    }
    // Passes first: revenue counts from the exposure on, so the orders are dated after it.
    await publish(workflowInstancesTopic.name, orgId, passes);
    await until(
      () => call('GET', `/v1/experiments/${encodeURIComponent(experimentId)}`, key),
      (r) => r.status === 200 && r.body.variants.reduce((n: number, v: Json) => n + v.exposed, 0) === 40,
    );
    await publish(workflowInstancesTopic.name, orgId, ends);
    await publish(
      userActionsTopic.name,
      orgId,
      orders.map((o) => ({
        ...o,
        data: { ...(o.data as Json), timestamp: new Date(Date.now() + 1_000).toISOString() },
      })),
    );
    const r = await until(
      () => call('GET', `/v1/experiments/${encodeURIComponent(experimentId)}?minSample=20`, key),
      (x) =>
        x.status === 200 &&
        x.body.variants.reduce((n: number, v: Json) => n + v.conversions, 0) === 19 &&
        x.body.variants.every((v: Json) => v.revenuePerContact > 0),
    );
    expect(r.body.kind).toBe('workflow_split');
    expect(r.body.variants.map((v: Json) => [v.variantId, v.exposed, v.conversions])).toEqual([
      ['holdout', 20, 4],
      ['offer', 20, 15],
    ]);
    expect(r.body.variants[0].revenuePerContact).toBeCloseTo((4 * 10) / 20, 9);
    expect(r.body.tests.revenue).toMatchObject({ test: 'Welch t', leader: 'offer', runnerUp: 'holdout' });
    expect(r.body.tests.revenue.pValue).toBeLessThan(0.001);
    expect(r.body.winners.revenue_per_contact).toBe('offer');
    const decided = await call('POST', `/v1/experiments/${encodeURIComponent(experimentId)}/decide`, key, {
      metric: 'revenue_per_contact',
      minSample: 20,
    });
    expect(decided.body).toMatchObject({ kind: 'workflow_split', winnerVariantId: 'offer', test: 'Welch t' });
  });

  it('refuses to decide a one-variant experiment, an unknown metric or a confidence out of range, naming the fault', async () => {
    const { orgId, key } = await newOrg();
    const testId = `solo-${randomUUID()}`;
    await publish(emailMessagesTopic.name, orgId, emailTest(testId, 'only', 5, 1));
    await until(
      () => call('GET', `/v1/experiments/${testId}`, key),
      (r) => r.status === 200 && r.body.variants[0]?.exposed === 5,
    );

    const solo = await call('POST', `/v1/experiments/${testId}/decide`, key, { metric: 'conversions' });
    expect(solo.status).toBe(400);
    expect(solo.type).toContain('application/problem+json');
    expect(solo.body.errors).toEqual([
      expect.objectContaining({
        path: 'params.experimentId',
        message: expect.stringContaining('one variant'),
      }),
    ]);

    const metric = await call('POST', `/v1/experiments/${testId}/decide`, key, { metric: 'likes' });
    expect(metric.status).toBe(400);
    expect(metric.body.errors).toEqual([
      expect.objectContaining({ path: 'body.metric', message: expect.stringContaining('conversions') }),
    ]);

    const confidence = await call('POST', `/v1/experiments/${testId}/decide`, key, {
      metric: 'conversions',
      confidence: 1.5,
    });
    expect(confidence.status).toBe(400);
    expect(confidence.body.errors).toEqual([expect.objectContaining({ path: 'body.confidence' })]);

    expect((await call('GET', `/v1/experiments/${testId}?confidence=0.2`, key)).status).toBe(400);
    expect(
      (await call('POST', `/v1/experiments/nope-${randomUUID()}/decide`, key, { metric: 'conversions' }))
        .status,
    ).toBe(404);

    // Nothing was decided: no decision event for this org.
    const list = await call('GET', '/v1/experiments', key);
    expect(list.body.experiments[0].decision).toBeNull();
  });

  it("compares a rule's held-out subjects with the acted-on ones after the firing", async () => {
    const { orgId, key } = await newOrg();
    const ruleId = `rule-${randomUUID()}`;
    const firedAt = new Date(Date.now() - 60_000);
    const before = new Date(firedAt.getTime() - 60_000).toISOString();
    const after = new Date(firedAt.getTime() + 30_000).toISOString();
    const campaigns = ['c1', 'c2', 'c3', 'c4'];
    const snapshot = (entityId: string, spend: number, at: string): Fact => ({
      subject: `campaign:${entityId}`,
      type: 'cmis.triggers.entity-metrics-observed',
      data: { entityType: 'campaign', entityId, metrics: { spend }, observedAt: at },
    });
    await publish(
      entityMetricsTopic.name,
      orgId,
      campaigns.map((c) => snapshot(c, 100, before)),
    );
    await publish(
      ruleEventsTopic.name,
      orgId,
      campaigns.map((c, i) => ({
        subject: c,
        type: 'cmis.rules.rule-fired',
        time: firedAt.toISOString(),
        data: { ruleId, ruleVersion: 1, subject: c, dryRun: false, matchedConditions: ['c'], heldOut: i < 2 },
      })),
    );
    // Acted on (paused, say): spend grew by 10 and 12; held out: by 50 and 54.
    await publish(entityMetricsTopic.name, orgId, [
      snapshot('c1', 150, after),
      snapshot('c2', 154, after),
      snapshot('c3', 110, after),
      snapshot('c4', 112, after),
    ]);

    const r = await until(
      () => call('GET', `/v1/experiments/rules/${ruleId}`, key),
      (x) =>
        x.status === 200 &&
        x.body.metrics?.spend?.actedOn.subjects === 2 &&
        x.body.metrics.spend.heldOut.subjects === 2,
    );
    expect(r.body.firings).toEqual({ heldOut: 2, actedOn: 2 });
    expect(r.body.metrics.spend).toMatchObject({
      basis: 'change',
      test: 'Welch t',
      heldOut: { mean: 52 },
      actedOn: { mean: 11 },
      difference: -41,
    });
    expect(r.body.metrics.spend.pValue).toBeLessThan(0.05);
    expect((await call('GET', `/v1/experiments/rules/none-${randomUUID()}`, key)).status).toBe(404);
  });

  it('campaign metrics lead to a budget recommendation from the high-CPA to the low-CPA campaign', async () => {
    const { orgId, key } = await newOrg();
    const at = new Date().toISOString();
    await publish(entityMetricsTopic.name, orgId, [
      {
        subject: 'campaign:cheap',
        type: 'cmis.triggers.entity-metrics-observed',
        data: {
          entityType: 'google_ads.campaign',
          entityId: 'cheap',
          metrics: { spend: 100, conversions: 10 },
          observedAt: at,
        },
      },
      {
        subject: 'campaign:dear',
        type: 'cmis.triggers.entity-metrics-observed',
        data: {
          entityType: 'google_ads.campaign',
          entityId: 'dear',
          metrics: { spend: 500, conversions: 5, budget: 1000 },
          observedAt: at,
        },
      },
      // Another platform's lone campaign is never compared with these.
      {
        subject: 'campaign:m1',
        type: 'cmis.triggers.entity-metrics-observed',
        data: {
          entityType: 'meta.campaign',
          entityId: 'm1',
          metrics: { spend: 900, conversions: 1 },
          observedAt: at,
        },
      },
    ]);
    const [event] = await decoded(
      analyticsDecisionsTopic.name,
      (e) => e.orgId === orgId && e.type === 'cmis.analytics.budget-recommended',
    );
    expect(event!.data).toMatchObject({
      platform: 'google_ads',
      fromCampaignId: 'dear',
      toCampaignId: 'cheap',
      amount: 200,
      metrics: { fromCpa: 100, toCpa: 10 },
    });
    const list = await call('GET', '/v1/recommendations', key);
    expect(list.status).toBe(200);
    expect(list.body.recommendations).toEqual([
      expect.objectContaining({ fromCampaignId: 'dear', toCampaignId: 'cheap', amount: 200 }),
    ]);
    expect((await call('GET', '/v1/recommendations?limit=0', key)).status).toBe(400);
  });
});
