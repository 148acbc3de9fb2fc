// Measures per period on cmis.analytics.measures.v1, the whole analytics service on a moved
// clock: email events and a rule firing in one period publish that period's counts and rates at
// its end (once, keyed by the org), and a quiet period publishes nothing.
import { randomUUID } from 'node:crypto';
import {
  analyticsMeasuresTopic,
  createTopicEnvelope,
  emailMessagesTopic,
  ruleEventsTopic,
  type EventEnvelope,
} from '@cmis/contracts';
import { startServiceProcess, type RunningServiceProcess } from '@cmis/platform';
import { testEnv, uniqueName, until, waitForMessages } from '@cmis/testkit';
import { createAnalyticsService } from '../service';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;
const ADMIN_TOKEN = 'analytics-measures-spec-admin-0123456789';
const PERIOD = 60_000;

describe('measures published per period', () => {
  let proc: RunningServiceProcess;
  // Inside a period, 10 s after its start.
  const clock = { t: Math.floor(Date.now() / PERIOD) * PERIOD + 10_000 };

  beforeAll(async () => {
    const env = testEnv();
    proc = await startServiceProcess(
      {
        service: uniqueName('analytics'),
        httpPort: 0,
        create: createAnalyticsService({ now: () => new Date(clock.t), measuresPeriodMs: PERIOD }),
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

  const call = async (method: string, path: string, token: string, body?: unknown) => {
    const res = await fetch(`${proc.url}${path}`, {
      method,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as Json };
  };
  const publish = async (topic: string, orgId: string, subject: string, type: string, data: Json) => {
    const envelope = createTopicEnvelope(topic as never, {
      id: randomUUID(),
      time: new Date(clock.t).toISOString(),
      source: '/cmis/measures-spec',
      type: type as never,
      subject,
      orgId,
      data: data as never,
    });
    const encoded = await proc.platform.codec.encode(topic, envelope as EventEnvelope);
    await proc.platform.bus.publish(topic, [
      { key: `${orgId}:${subject}`, value: encoded.value, headers: encoded.headers },
    ]);
  };

  it('publishes a period’s email counts, rates and rule effectiveness at its end', async () => {
    const org = (await call('POST', '/admin/orgs', ADMIN_TOKEN, { name: uniqueName('org') })).body as {
      orgId: string;
    };
    const { key } = (
      await call('POST', `/admin/orgs/${org.orgId}/keys`, ADMIN_TOKEN, { scopes: ['analytics:read'] })
    ).body as { key: string };
    const orgId = org.orgId;
    const origin = { kind: 'workflow', id: 'wf-1' };
    for (const [i, contactId] of ['c1', 'c2'].entries()) {
      const ref = { messageId: `m-${i}`, idempotencyKey: `k-${i}`, origin, contactId };
      await publish(emailMessagesTopic.name, orgId, contactId, 'cmis.email.message-sent', {
        ...ref,
        smtpMessageId: `s-${i}`,
        provider: 'p',
        attempt: 1,
        response: '250',
      });
    }
    await publish(emailMessagesTopic.name, orgId, 'c1', 'cmis.email.message-opened', {
      messageId: 'm-0',
      idempotencyKey: 'k-0',
      origin,
      contactId: 'c1',
      machine: false,
    });
    await publish(emailMessagesTopic.name, orgId, 'c2', 'cmis.email.message-opened', {
      messageId: 'm-1',
      idempotencyKey: 'k-1',
      origin,
      contactId: 'c2',
      machine: true,
      machineReason: 'apple_mpp',
    });
    await publish(ruleEventsTopic.name, orgId, 'cmp-1', 'cmis.rules.rule-fired', {
      ruleId: 'rule-1',
      ruleVersion: 1,
      subject: 'cmp-1',
      dryRun: false,
      matchedConditions: ['c'],
    });
    // Projected (the measures API sees them), then the period ends.
    await until(
      () =>
        call(
          'GET',
          `/v1/measures/email?from=${new Date(clock.t - PERIOD).toISOString()}&to=${new Date(clock.t + PERIOD).toISOString()}`,
          key,
        ),
      (r) => r.body?.sent === 2 && r.body?.machineOpens === 1,
      { timeoutMs: 20_000 },
    );
    const periodEnd = Math.floor(clock.t / PERIOD) * PERIOD + PERIOD;
    clock.t = periodEnd + 1_000;
    const [message] = await waitForMessages({
      topic: analyticsMeasuresTopic.name,
      count: 1,
      predicate: (m) => m.key === `${orgId}:${orgId}`,
      timeoutMs: 20_000,
    });
    const published = await proc.platform.codec.decode(analyticsMeasuresTopic.name, {
      value: message!.value,
      headers: message!.headers,
    });
    expect(published.type).toBe('cmis.analytics.measures-published');
    expect(published.data).toEqual({
      periodStart: new Date(periodEnd - PERIOD).toISOString(),
      periodEnd: new Date(periodEnd).toISOString(),
      email: expect.objectContaining({
        sent: 2,
        uniqueOpens: 1,
        machineOpens: 1,
        openRate: 0.5,
        bounceRate: 0,
      }),
      rules: [expect.objectContaining({ ruleId: 'rule-1', firings: 1 })],
    });
    // The next period has nothing in it: nothing more is published for the org.
    clock.t = periodEnd + PERIOD + 1_000;
    await new Promise((r) => setTimeout(r, 1_500));
    const all = await waitForMessages({
      topic: analyticsMeasuresTopic.name,
      count: 1,
      predicate: (m) => m.key === `${orgId}:${orgId}`,
      timeoutMs: 3_000,
    });
    expect(all).toHaveLength(1);
  });
});
