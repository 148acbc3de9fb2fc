import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import {
  createTopicEnvelope,
  entityMetricsTopic,
  ruleActionsTopic,
  ruleEventsTopic,
  scheduleFiredTopic,
  userActionsTopic,
  type ActionRequested,
  type EventEnvelope,
} from '@cmis/contracts';
import {
  servedRoutes,
  signWebhook,
  startServiceProcess,
  systemResolver,
  undocumentedRoutes,
  withSystem,
  type RunningServiceProcess,
} from '@cmis/platform';
import { testEnv, uniqueName, until, waitForMessages, type ReceivedMessage } from '@cmis/testkit';
import { PAUSE_HIGH_CPA_RULE, rulesDemo } from './demo';
import { isHeldOut } from './evaluation/holdout';
import { createRulesService } from './service';
import { createWebhookWorker } from './webhook/worker';

// Response bodies are read loosely; each test asserts the shape it relies on.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

const ADMIN_TOKEN = 'rules-spec-admin-token-0123456789';

describe('rules service on Kafka, Postgres and Redis', () => {
  let proc: RunningServiceProcess;
  const received: Array<{ headers: IncomingMessage['headers']; body: string; url?: string; at: number }> = [];
  // Answers at once, or after SLOW_MS on /hook/slow.
  const SLOW_MS = 3_000;
  const answered: Array<{ body: string; at: number }> = [];
  const receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push({ headers: req.headers, body, url: req.url, at: Date.now() });
      setTimeout(
        () => {
          res.writeHead(200).end('ok');
          answered.push({ body, at: Date.now() });
        },
        req.url?.endsWith('/slow') ? SLOW_MS : 0,
      );
    });
  });
  let receiverUrl = '';

  beforeAll(async () => {
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    const env = testEnv();
    proc = await startServiceProcess(
      {
        service: uniqueName('rules'),
        httpPort: 0,
        create: createRulesService({
          webhookAllowlist: '127.0.0.1/32',
          webhook: { backoffMs: 20 },
          // internal.cmis.test stands for a name the deployment's DNS points inside the network.
          resolve: async (host) =>
            host === 'internal.cmis.test' ? [{ address: '10.20.30.40', family: 4 }] : systemResolver(host),
        }),
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
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as Json };
  };

  /** A throwaway org with a key the service has already projected. */
  async function newOrg(scopes = ['rules:write', 'rules:read']) {
    const org = (await call('POST', '/admin/orgs', ADMIN_TOKEN, { name: uniqueName('org') })).body as {
      orgId: string;
    };
    const { key } = (await call('POST', `/admin/orgs/${org.orgId}/keys`, ADMIN_TOKEN, { scopes })).body as {
      key: string;
    };
    await until(
      () => call('GET', '/v1/rules', key),
      (r) => r.status !== 401,
    );
    return { orgId: org.orgId, key };
  }

  async function publish(topic: string, orgId: string, subject: string, type: string, data: unknown) {
    const id = randomUUID();
    const envelope = createTopicEnvelope(topic as never, {
      id,
      time: new Date().toISOString(),
      source: '/cmis/rules-spec',
      type: type as never,
      subject,
      orgId,
      data: data as never,
    });
    const encoded = await proc.platform.codec.encode(topic, envelope as EventEnvelope);
    await proc.platform.bus.publish(topic, [
      { key: `${orgId}:${subject}`, value: encoded.value, headers: encoded.headers },
    ]);
    return id;
  }
  const metrics = (orgId: string, campaignId: string, values: Record<string, number>) =>
    publish(entityMetricsTopic.name, orgId, campaignId, 'cmis.triggers.entity-metrics-observed', {
      entityType: 'campaign',
      entityId: campaignId,
      metrics: values,
      observedAt: new Date().toISOString(),
    });

  const ofOrg = (orgId: string) => (m: ReceivedMessage) => m.key?.startsWith(`${orgId}:`) ?? false;
  const decode = (topic: string, messages: ReceivedMessage[]) =>
    Promise.all(
      messages.map((m) => proc.platform.codec.decode(topic, { value: m.value, headers: m.headers })),
    );
  const evaluations = async (key: string, ruleId: string) =>
    (await call('GET', `/v1/rules/${ruleId}/evaluations`, key)).body.evaluations as Json[];

  it('creates, reads, updates, disables and deletes rules, with an audit trail', async () => {
    const { key } = await newOrg();
    const created = await call('POST', '/v1/rules', key, PAUSE_HIGH_CPA_RULE);
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      version: 1,
      name: 'Pause high CPA campaigns',
      cooldownSeconds: 3600,
      enabled: true,
    });
    const ruleId = created.body.ruleId as string;

    const updated = await call('PUT', `/v1/rules/${ruleId}`, key, {
      ...PAUSE_HIGH_CPA_RULE,
      cooldownSeconds: 600,
      expectedVersion: 1,
    });
    expect(updated.body).toMatchObject({ version: 2, cooldownSeconds: 600 });
    expect(
      (await call('PUT', `/v1/rules/${ruleId}`, key, { ...PAUSE_HIGH_CPA_RULE, expectedVersion: 1 })).status,
    ).toBe(409);
    expect(
      (await call('POST', `/v1/rules/${ruleId}/disable`, key, { reason: 'holiday' })).body,
    ).toMatchObject({ version: 3, enabled: false });
    expect((await call('GET', '/v1/rules', key)).body.rules).toHaveLength(1);

    const history = (await call('GET', `/v1/rules/${ruleId}/history`, key)).body.changes as Array<
      Record<string, unknown>
    >;
    expect(history.map((h) => [h.version, h.change, h.previousVersion])).toEqual([
      [1, 'created', 0],
      [2, 'updated', 1],
      [3, 'disabled', 2],
    ]);
    expect(history[1]).toMatchObject({
      changedFields: ['cooldownSeconds'],
      actor: expect.stringMatching(/^key:/),
    });
    expect(history[2]).toMatchObject({ reason: 'holiday' });

    expect((await call('DELETE', `/v1/rules/${ruleId}`, key)).status).toBe(204);
    expect((await call('GET', `/v1/rules/${ruleId}`, key)).status).toBe(404);
    expect((await call('GET', `/v1/rules/${ruleId}/history`, key)).body.changes).toHaveLength(4);
  });

  it('answers 400 naming the path for bad rules, 403 without the scope', async () => {
    const { key } = await newOrg();
    const bad = await call('POST', '/v1/rules', key, {
      ...PAUSE_HIGH_CPA_RULE,
      conditions: { all: [{ field: 'metrics.cpa', operator: 'greater', value: 50 }] },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.errors).toEqual([
      { path: 'body.conditions.all.0.operator', message: expect.stringContaining('unknown operator') },
    ]);
    const inside = await call('POST', '/v1/rules', key, {
      ...PAUSE_HIGH_CPA_RULE,
      actions: [{ kind: 'webhook', url: 'http://169.254.169.254/latest/meta-data/' }],
    });
    expect(inside.status).toBe(400);
    expect(inside.body.errors[0].path).toBe('body.actions.0.url');
    const viaDns = await call('POST', '/v1/rules', key, {
      ...PAUSE_HIGH_CPA_RULE,
      actions: [{ kind: 'webhook', url: 'https://internal.cmis.test/hook' }],
    });
    expect(viaDns.status).toBe(400);
    expect(viaDns.body.errors).toEqual([
      {
        path: 'body.actions.0.url',
        message: 'url internal.cmis.test resolves to 10.20.30.40 is a private address',
      },
    ]);

    const reader = await newOrg(['rules:read']);
    expect((await call('POST', '/v1/rules', reader.key, PAUSE_HIGH_CPA_RULE)).status).toBe(403);
    expect((await call('POST', '/v1/rules', undefined, PAUSE_HIGH_CPA_RULE)).status).toBe(401);
  });

  it('the demo loads the CPA rule through the API', async () => {
    const { key, orgId } = await newOrg();
    const lines = await rulesDemo({ baseUrl: proc.url, apiKey: key, orgId });
    expect(lines[0]).toContain('Pause high CPA campaigns');
    expect((await call('GET', '/v1/rules', key)).body.rules).toEqual([
      expect.objectContaining({ name: 'Pause high CPA campaigns', priority: 'high' }),
    ]);
  });

  it('fires on campaign metrics: one pause and one notification per cooldown, and records the suppression', async () => {
    const { key, orgId } = await newOrg();
    const ruleId = (await call('POST', '/v1/rules', key, PAUSE_HIGH_CPA_RULE)).body.ruleId as string;
    await metrics(orgId, 'cmp-1', { cpa: 40 });
    await metrics(orgId, 'cmp-1', { cpa: 55 });
    await metrics(orgId, 'cmp-1', { cpa: 60 });
    const actions = await decode(
      ruleActionsTopic.name,
      await waitForMessages({ topic: ruleActionsTopic.name, count: 2, predicate: ofOrg(orgId) }),
    );
    expect(actions.map((a) => (a.data as ActionRequested).action)).toEqual([
      { kind: 'pause_campaign', campaignId: 'cmp-1' },
      expect.objectContaining({
        kind: 'send_notification',
        recipients: ['manager@example.com'],
        title: 'Campaign cmp-1 paused: CPA exceeded threshold',
      }),
    ]);
    expect(actions[0]!.subject).toBe('cmp-1');
    const fired = await decode(
      ruleEventsTopic.name,
      await waitForMessages({ topic: ruleEventsTopic.name, count: 1, predicate: ofOrg(orgId) }),
    );
    expect(fired[0]).toMatchObject({
      type: 'cmis.rules.rule-fired',
      data: { ruleId, ruleVersion: 1, dryRun: false, matchedConditions: ['cpa-above-50'] },
    });
    const seen = await until(
      () => evaluations(key, ruleId),
      (e) => e.length >= 2,
    );
    expect(seen.map((e) => e.outcome)).toEqual(['suppressed', 'fired']);
    expect(seen[0]!.reason).toContain('cooldown');
    // Read again later: still exactly two actions for this org.
    await until(
      () => evaluations(key, ruleId),
      () => false,
      { timeoutMs: 1_000 },
    );
    expect(
      await waitForMessages({ topic: ruleActionsTopic.name, count: 2, predicate: ofOrg(orgId) }),
    ).toHaveLength(2);
  });

  it('fires once when the transaction fails after the cooldown claim and is retried: the retry finds its own claim', async () => {
    const { key, orgId } = await newOrg();
    const ruleId = (
      await call('POST', '/v1/rules', key, {
        ...PAUSE_HIGH_CPA_RULE,
        actions: [PAUSE_HIGH_CPA_RULE.actions[0]],
        maxExecutionsPerHour: 10,
      })
    ).body.ruleId as string;
    // A real fault in the firing's transaction, after Redis was asked: the first insert of this
    // org's evaluations fails once (a sequence counts outside the transaction that rolls back).
    const { owner } = proc.service.runtime.db;
    const tag = randomUUID().replace(/-/g, '').slice(0, 12);
    await withSystem(owner, async (trx) => {
      await trx.raw(`create sequence fail_once_${tag}`);
      await trx.raw(`create function fail_once_${tag}() returns trigger language plpgsql security definer as $$
        begin
          if new.org_id = '${orgId}' and nextval('fail_once_${tag}') = 1 then
            raise exception 'injected: the firing transaction fails after the cooldown claim';
          end if;
          return new;
        end $$`);
      await trx.raw(`create trigger fail_once_${tag} before insert on rule_evaluations
        for each row execute function fail_once_${tag}()`);
    });
    try {
      await metrics(orgId, 'cmp-retry', { cpa: 70 });
      const fired = await waitForMessages({ topic: ruleEventsTopic.name, count: 1, predicate: ofOrg(orgId) });
      expect(fired).toHaveLength(1);
      const seen = await until(
        () => evaluations(key, ruleId),
        (e) => e.length >= 1,
      );
      expect(seen.map((e) => e.outcome)).toEqual(['fired']);
      // The cooldown the firing claimed still holds for a later event of the same campaign.
      await metrics(orgId, 'cmp-retry', { cpa: 80 });
      const after = await until(
        () => evaluations(key, ruleId),
        (e) => e.length >= 2,
      );
      expect(after.map((e) => e.outcome)).toEqual(['suppressed', 'fired']);
      expect(after[0]!.reason).toContain('cooldown');
      const actions = await waitForMessages({
        topic: ruleActionsTopic.name,
        count: 1,
        predicate: ofOrg(orgId),
      });
      expect(actions).toHaveLength(1);
      expect(
        await waitForMessages({ topic: ruleEventsTopic.name, count: 1, predicate: ofOrg(orgId) }),
      ).toHaveLength(1);
      const failures = await withSystem(owner, (trx) => trx.raw(`select last_value from fail_once_${tag}`));
      expect(Number(failures.rows[0].last_value)).toBeGreaterThanOrEqual(2); // it did fail, then pass
    } finally {
      await withSystem(owner, (trx) => trx.raw(`drop trigger fail_once_${tag} on rule_evaluations`));
    }
  });

  it('applies a batch of observations of one entity in order: previous values chain, one firing per cooldown', async () => {
    const { key, orgId } = await newOrg();
    const cpaRuleId = (await call('POST', '/v1/rules', key, PAUSE_HIGH_CPA_RULE)).body.ruleId as string;
    const jump = await call('POST', '/v1/rules', key, {
      name: 'Spend jumped',
      entityType: 'campaign',
      trigger: { kind: 'metrics' },
      conditions: { field: 'metrics.spend', operator: 'changed_by_more_than_percent', value: 50 },
      actions: [{ kind: 'pause_campaign' }],
    });
    expect(jump.status).toBe(201);
    const jumpRuleId = jump.body.ruleId as string;
    // One produce request: the consumer sees the four observations together (one inbox batch).
    const messages = await Promise.all(
      [100, 120, 300, 310].map(async (spend) => {
        const envelope = createTopicEnvelope(entityMetricsTopic.name as never, {
          id: randomUUID(),
          time: new Date().toISOString(),
          source: '/cmis/rules-spec',
          type: 'cmis.triggers.entity-metrics-observed' as never,
          subject: 'cmp-batch',
          orgId,
          data: {
            entityType: 'campaign',
            entityId: 'cmp-batch',
            metrics: { cpa: 60, spend },
            observedAt: new Date().toISOString(),
          } as never,
        });
        const encoded = await proc.platform.codec.encode(entityMetricsTopic.name, envelope as EventEnvelope);
        return { key: `${orgId}:cmp-batch`, value: encoded.value, headers: encoded.headers };
      }),
    );
    await proc.platform.bus.publish(entityMetricsTopic.name, messages);
    const cpa = await until(
      () => evaluations(key, cpaRuleId),
      (e) => e.length >= 4,
    );
    expect(cpa.map((e) => e.outcome)).toEqual(['suppressed', 'suppressed', 'suppressed', 'fired']);
    const jumped = await until(
      () => evaluations(key, jumpRuleId),
      (e) => e.length >= 1,
    );
    // 100 -> 120 is 20%, 120 -> 300 is 150%, 300 -> 310 is 3%: only the third observation fires.
    expect(jumped.map((e) => e.outcome)).toEqual(['fired']);
    const actions = await decode(
      ruleActionsTopic.name,
      await waitForMessages({ topic: ruleActionsTopic.name, count: 3, predicate: ofOrg(orgId) }),
    );
    expect(actions.filter((a) => (a.data as ActionRequested).ruleId === jumpRuleId)).toHaveLength(1);
    expect(actions.filter((a) => (a.data as ActionRequested).ruleId === cpaRuleId)).toHaveLength(2);
  });

  it('records a non-match with the reason when a rule reads a field the input lacks, and honours dry run and disabling', async () => {
    const { key, orgId } = await newOrg();
    const roas = await call('POST', '/v1/rules', key, {
      ...PAUSE_HIGH_CPA_RULE,
      name: 'Low ROAS',
      cooldownSeconds: 0,
      conditions: { field: 'metrics.roas', operator: '<', value: 1 },
    });
    const dry = await call('POST', '/v1/rules', key, {
      ...PAUSE_HIGH_CPA_RULE,
      name: 'Dry CPA',
      status: 'dry_run',
      cooldownSeconds: 0,
    });
    await metrics(orgId, 'cmp-2', { cpa: 80 });
    const missing = await until(
      () => evaluations(key, roas.body.ruleId),
      (e) => e.length > 0,
    );
    expect(missing[0]).toMatchObject({
      outcome: 'not_matched',
      reason: 'missing field(s): metrics.roas',
      subject: 'cmp-2',
    });
    const events = await decode(
      ruleEventsTopic.name,
      await waitForMessages({ topic: ruleEventsTopic.name, count: 1, predicate: ofOrg(orgId) }),
    );
    expect(events[0]).toMatchObject({ data: { ruleId: dry.body.ruleId, dryRun: true } });
    const dryRecord = await until(
      () => evaluations(key, dry.body.ruleId),
      (e) => e.length > 0,
    );
    expect(dryRecord[0]).toMatchObject({
      outcome: 'dry_run',
      detail: { actions: [{ kind: 'pause_campaign', campaignId: 'cmp-2' }, expect.anything()] },
    });

    // A live rule, then disabled: the change reaches evaluation, and the next metrics do not fire it.
    const live = await call('POST', '/v1/rules', key, {
      ...PAUSE_HIGH_CPA_RULE,
      name: 'Live CPA',
      cooldownSeconds: 0,
      actions: [{ kind: 'pause_campaign' }],
    });
    await metrics(orgId, 'cmp-3', { cpa: 90 });
    await waitForMessages({ topic: ruleActionsTopic.name, count: 1, predicate: ofOrg(orgId) });
    await call('POST', `/v1/rules/${live.body.ruleId}/disable`, key);
    await metrics(orgId, 'cmp-4', { cpa: 90 });
    await until(
      () => evaluations(key, dry.body.ruleId),
      (e) => e.some((x) => x.subject === 'cmp-4'),
    );
    const all = await decode(
      ruleActionsTopic.name,
      await waitForMessages({ topic: ruleActionsTopic.name, count: 1, predicate: ofOrg(orgId) }),
    );
    expect(all.map((a) => a.subject)).toEqual(['cmp-3']);
    expect((await evaluations(key, live.body.ruleId)).map((e) => e.subject)).toEqual(['cmp-3']);
  });

  it('holds out a sticky share of subjects: their firings are recorded with heldOut, no actions requested', async () => {
    const { key, orgId } = await newOrg();
    const rule = await call('POST', '/v1/rules', key, {
      ...PAUSE_HIGH_CPA_RULE,
      name: 'CPA with holdout',
      cooldownSeconds: 0,
      holdoutPercent: 50,
      actions: [{ kind: 'pause_campaign' }],
    });
    expect(rule.status).toBe(201);
    const ruleId = rule.body.ruleId as string;
    expect((await call('GET', `/v1/rules/${ruleId}`, key)).body).toMatchObject({ holdoutPercent: 50 });
    const campaigns = Array.from({ length: 20 }, (_, i) => `cmp-h${i}`);
    const expectedHeld = campaigns.filter((c) => isHeldOut(50, ruleId, c));
    expect(expectedHeld.length).toBeGreaterThan(0);
    expect(expectedHeld.length).toBeLessThan(campaigns.length);
    for (const c of campaigns) await metrics(orgId, c, { cpa: 70 });

    const fired = await decode(
      ruleEventsTopic.name,
      await waitForMessages({
        topic: ruleEventsTopic.name,
        count: campaigns.length,
        predicate: ofOrg(orgId),
      }),
    );
    const heldOut = fired
      .filter((e) => (e.data as { heldOut?: boolean }).heldOut === true)
      .map((e) => e.subject);
    expect(heldOut.sort()).toEqual([...expectedHeld].sort());
    const acted = campaigns.length - expectedHeld.length;
    const actions = await decode(
      ruleActionsTopic.name,
      await waitForMessages({ topic: ruleActionsTopic.name, count: acted, predicate: ofOrg(orgId) }),
    );
    expect(actions.map((a) => a.subject).sort()).toEqual(
      campaigns.filter((c) => !expectedHeld.includes(c)).sort(),
    );
    const seen = await until(
      () => evaluations(key, ruleId),
      (e) => e.length >= campaigns.length,
    );
    const heldRecords = seen.filter((e) => e.reason === 'held out');
    expect(heldRecords.map((e) => e.subject).sort()).toEqual([...expectedHeld].sort());
    expect(heldRecords[0]).toMatchObject({ outcome: 'fired', detail: { heldOut: true } });
    // A second firing of a held-out campaign is held out again (sticky): recorded, no action.
    const again = expectedHeld[0]!;
    await metrics(orgId, again, { cpa: 75 });
    const twice = await until(
      () => evaluations(key, ruleId),
      (e) => e.filter((x) => x.subject === again).length === 2,
    );
    expect(twice.filter((x) => x.subject === again).map((x) => x.reason)).toEqual(['held out', 'held out']);
    const refired = await decode(
      ruleEventsTopic.name,
      await waitForMessages({
        topic: ruleEventsTopic.name,
        count: 2,
        predicate: (m) => m.key === `${orgId}:${again}`,
      }),
    );
    expect(refired.map((e) => (e.data as { heldOut?: boolean }).heldOut)).toEqual([true, true]);

    const bad = await call('POST', '/v1/rules', key, { ...PAUSE_HIGH_CPA_RULE, holdoutPercent: 60 });
    expect(bad.status).toBe(400);
    expect(bad.body.errors).toEqual([
      { path: 'body.holdoutPercent', message: 'holdoutPercent must be between 0 and 50' },
    ]);
  });

  it('evaluates user actions with the contact, and schedule ticks over every entity', async () => {
    const { key, orgId } = await newOrg();
    await call('POST', '/v1/rules', key, {
      name: 'Tag big orders',
      entityType: 'contact',
      trigger: {
        kind: 'event',
        eventType: 'cmis.triggers.action-tracked',
        filter: { field: 'event.event', operator: 'equals', value: 'Order Completed' },
      },
      conditions: {
        all: [
          { field: 'event.properties.total', operator: '>=', value: 100 },
          { field: 'event.properties.sku', operator: 'matches', value: '^SKU-' },
        ],
      },
      actions: [{ kind: 'tag_contact', tags: ['big-spender'] }],
    });
    const segment = { context: {}, timestamp: new Date().toISOString(), sourceId: 'web' };
    await publish(userActionsTopic.name, orgId, 'u-1', 'cmis.triggers.action-tracked', {
      ...segment,
      userId: 'u-1',
      messageId: 'm1',
      event: 'Order Completed',
      properties: { total: 150, sku: 'SKU-1' },
    });
    await publish(userActionsTopic.name, orgId, 'u-2', 'cmis.triggers.action-tracked', {
      ...segment,
      userId: 'u-2',
      messageId: 'm2',
      event: 'Order Completed',
      properties: { total: 20, sku: 'SKU-1' },
    });
    await publish(userActionsTopic.name, orgId, 'u-3', 'cmis.triggers.action-tracked', {
      ...segment,
      userId: 'u-3',
      messageId: 'm3',
      event: 'Cart Viewed',
      properties: { total: 900, sku: 'SKU-1' },
    });
    const tagged = await decode(
      ruleActionsTopic.name,
      await waitForMessages({ topic: ruleActionsTopic.name, count: 1, predicate: ofOrg(orgId) }),
    );
    expect((tagged[0]!.data as ActionRequested).action).toEqual({
      kind: 'tag_contact',
      contactId: 'u-1',
      tags: ['big-spender'],
    });

    const other = await newOrg();
    await call('POST', '/v1/rules', other.key, {
      ...PAUSE_HIGH_CPA_RULE,
      name: 'Nightly spend check',
      cooldownSeconds: 0,
      trigger: { kind: 'schedule', scheduleName: 'nightly' },
      conditions: { field: 'metrics.spend', operator: 'between', value: [100, 1000] },
      actions: [{ kind: 'pause_campaign' }],
    });
    await metrics(other.orgId, 'cmp-a', { spend: 500 });
    await metrics(other.orgId, 'cmp-b', { spend: 5 });
    await metrics(other.orgId, 'cmp-c', { spend: 999 });
    await until(
      () => call('GET', '/v1/rules', other.key),
      () => false,
      { timeoutMs: 1_500 },
    ); // metrics projected first
    await publish(scheduleFiredTopic.name, other.orgId, 'sch-1', 'cmis.triggers.schedule-fired', {
      scheduleId: 'sch-1',
      name: 'nightly',
      scheduledFor: new Date().toISOString(),
      firedAt: new Date().toISOString(),
    });
    const paused = await decode(
      ruleActionsTopic.name,
      await waitForMessages({ topic: ruleActionsTopic.name, count: 2, predicate: ofOrg(other.orgId) }),
    );
    expect(
      paused
        .map((p) => (p.data as ActionRequested).action)
        .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    ).toEqual([
      { kind: 'pause_campaign', campaignId: 'cmp-a' },
      { kind: 'pause_campaign', campaignId: 'cmp-c' },
    ]);
  });

  it('delivers a webhook signed to the local receiver and records the outcome as an event', async () => {
    const { key, orgId } = await newOrg();
    const created = await call('POST', '/v1/rules', key, {
      ...PAUSE_HIGH_CPA_RULE,
      name: 'Hook on CPA',
      cooldownSeconds: 0,
      actions: [
        {
          kind: 'webhook',
          url: receiverUrl,
          body: { campaign: '{{entity.id}}', cpa: '{{metrics.cpa}}', org: orgId },
        },
      ],
    });
    expect(created.status).toBe(201);
    const secret = created.body.webhookSecret as string;
    expect(secret).toMatch(/^whsec_/);
    await metrics(orgId, 'cmp-w', { cpa: 77 });
    const outcome = await decode(
      ruleEventsTopic.name,
      await waitForMessages({ topic: ruleEventsTopic.name, count: 2, predicate: ofOrg(orgId) }),
    );
    expect(outcome.map((e) => e.type)).toEqual(['cmis.rules.rule-fired', 'cmis.rules.action-succeeded']);
    const hit = received.find((r) => r.body.includes(orgId))!;
    expect(JSON.parse(hit.body)).toEqual({ campaign: 'cmp-w', cpa: '77', org: orgId });
    expect(hit.headers['webhook-id']).toBe((outcome[1]!.data as { actionId: string }).actionId);
    expect(hit.headers['webhook-signature']).toBe(
      signWebhook(
        secret,
        hit.headers['webhook-id'] as string,
        Number(hit.headers['webhook-timestamp']),
        hit.body,
      ),
    );
  });

  it('delivers webhooks concurrently, outside any transaction: a slow receiver holds back no other', async () => {
    const { key, orgId } = await newOrg();
    for (const [name, url] of [
      ['Slow hook', `${receiverUrl}/slow`],
      ['Fast hook', receiverUrl],
    ] as const) {
      const created = await call('POST', '/v1/rules', key, {
        ...PAUSE_HIGH_CPA_RULE,
        name,
        cooldownSeconds: 0,
        actions: [{ kind: 'webhook', url, body: { hook: name, org: orgId } }],
      });
      expect(created.status).toBe(201);
    }
    await metrics(orgId, 'cmp-slow', { cpa: 90 });
    const hits = await until(
      async () => received.filter((r) => r.body.includes(orgId)),
      (r) => r.length === 2,
      { timeoutMs: 20_000 },
    );
    const fast = hits.find((h) => h.body.includes('Fast hook'))!;
    // The fast receiver got its call while the slow one had not answered yet.
    await until(
      async () => answered.filter((a) => a.body.includes(orgId)),
      (a) => a.length === 2,
      { timeoutMs: 20_000 },
    );
    const slowAnswer = answered.find((a) => a.body.includes(orgId) && a.body.includes('Slow hook'))!;
    expect(fast.at).toBeLessThan(slowAnswer.at);
    const outcomes = await decode(
      ruleEventsTopic.name,
      await waitForMessages({
        topic: ruleEventsTopic.name,
        count: 4,
        predicate: ofOrg(orgId),
      }),
    );
    expect(outcomes.filter((e) => e.type === 'cmis.rules.action-succeeded')).toHaveLength(2);
  });

  /**
   * An org with a webhook rule, and a way to queue deliveries of it straight into
   * webhook_deliveries as the owner (system access), leased until `leasedUntil` (SQL).
   */
  async function webhookQueue(name: string) {
    const { key, orgId } = await newOrg();
    const created = await call('POST', '/v1/rules', key, {
      ...PAUSE_HIGH_CPA_RULE,
      name,
      cooldownSeconds: 0,
      actions: [{ kind: 'webhook', url: receiverUrl }],
    });
    expect(created.status).toBe(201);
    const ruleId = created.body.ruleId as string;
    const { owner } = proc.service.runtime.db;
    const row = (actionId: string, leasedUntil: string, marker: string) => ({
      org_id: orgId,
      action_id: actionId,
      rule_id: ruleId,
      rule_version: 1,
      subject: 'cmp-lease',
      action: JSON.stringify({
        kind: 'webhook',
        url: receiverUrl,
        method: 'POST',
        headers: {},
        body: { marker },
      }),
      metadata: JSON.stringify({ correlationId: randomUUID() }),
      leased_until: owner.raw(leasedUntil),
    });
    const queue = (rows: Array<[actionId: string, leasedUntil: string, marker: string]>) =>
      withSystem(owner, (trx) => trx('webhook_deliveries').insert(rows.map((r) => row(...r))));
    const left = () =>
      withSystem(owner, (trx) => trx('webhook_deliveries').where({ org_id: orgId }).pluck('action_id'));
    return { orgId, ruleId, queue, left };
  }

  it('delivers a queued webhook whose lease ran out (its worker died) under the same webhook-id, and leaves a live lease alone', async () => {
    const { orgId, ruleId, queue, left } = await webhookQueue('Hook left behind');
    const [expired, live] = [randomUUID(), randomUUID()];
    // A delivery leased by a worker that died, and one leased now.
    await queue([
      [expired, "now() - interval '1 second'", `expired-${orgId}`],
      [live, "now() + interval '1 hour'", `live-${orgId}`],
    ]);
    const [hit] = await until(
      async () => received.filter((r) => r.body.includes(`expired-${orgId}`)),
      (r) => r.length === 1,
      { timeoutMs: 20_000 },
    );
    expect(hit!.headers['webhook-id']).toBe(expired);
    const [outcome] = await decode(
      ruleEventsTopic.name,
      await waitForMessages({ topic: ruleEventsTopic.name, count: 1, predicate: ofOrg(orgId) }),
    );
    expect(outcome!.type).toBe('cmis.rules.action-succeeded');
    expect(outcome!.data).toMatchObject({ actionId: expired, ruleId, attempts: 1 });
    expect(await left()).toEqual([live]);
    expect(received.some((r) => r.body.includes(`live-${orgId}`))).toBe(false);
  });

  it('shares queued webhooks among replicas: each is delivered by exactly one worker', async () => {
    const { orgId, queue, left } = await webhookQueue('Hook for many');
    // Two more workers beside the service's own, as other replicas would run, each recording
    // what it was handed (the service's own delivers to the local receiver).
    const handed: string[][] = [[], []];
    const replicas = handed.map((mine) =>
      createWebhookWorker({
        rt: proc.service.runtime,
        now: () => new Date(),
        concurrency: 4,
        sender: {
          deliver: async (req) => {
            mine.push(req.id);
            await new Promise((r) => setTimeout(r, 20));
            return { ok: true, status: 204, bytes: 0, truncated: false, attempts: 1 };
          },
        },
      }),
    );
    const ids = Array.from({ length: 60 }, () => randomUUID());
    await queue(ids.map((id) => [id, 'null', `many-${orgId}`]));
    replicas.forEach((w) => w.start());
    replicas.forEach((w) => w.wake());
    await until(left, (rows) => rows.length === 0, { timeoutMs: 20_000 });
    await Promise.all(replicas.map((w) => w.stop()));
    const byService = received
      .filter((r) => r.body.includes(`many-${orgId}`))
      .map((r) => r.headers['webhook-id']);
    const all = [...handed.flat(), ...byService];
    expect([...all].sort()).toEqual([...ids].sort());
    // Every worker that ran took some while the others held theirs (SKIP LOCKED, leases).
    expect(handed.every((mine) => mine.length > 0)).toBe(true);
  });

  it('serves /openapi.json describing every route it serves, with bodies from the zod schemas', async () => {
    const doc = (await (await fetch(`${proc.url}/openapi.json`)).json()) as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
      components: { schemas: { RuleInput: { properties: Record<string, unknown> } } };
    };
    expect(doc.openapi).toBe('3.1.0');
    expect(undocumentedRoutes(proc.service.router, doc)).toEqual([]);
    expect(servedRoutes(proc.service.router).length).toBeGreaterThanOrEqual(11);
    // Generated from RuleInput: its fields are there as the schema has them.
    expect(Object.keys(doc.components.schemas.RuleInput.properties)).toEqual(
      expect.arrayContaining(['name', 'conditions', 'actions', 'cooldownSeconds', 'maxExecutionsPerHour']),
    );
  });

  it('simulates a draft rule and explains each condition', async () => {
    const { key } = await newOrg(['rules:read']);
    const sim = await call('POST', '/v1/rules/simulate', key, {
      rule: {
        ...PAUSE_HIGH_CPA_RULE,
        conditions: {
          any: [
            { field: 'metrics.cpa', operator: '>', value: 50 },
            { field: 'metrics.ctr', operator: '<', value: 0.01 },
          ],
        },
      },
      sample: { entity: { type: 'campaign', id: 'cmp-s' }, metrics: { cpa: 42 } },
    });
    expect(sim.status).toBe(200);
    expect(sim.body).toMatchObject({
      matched: false,
      outcome: 'missing_fields',
      missingFields: ['metrics.ctr'],
      wouldRequest: [],
    });
    expect(sim.body.explanation).toEqual([
      expect.objectContaining({ path: 'conditions', outcome: 'missing' }),
      expect.objectContaining({ path: 'conditions.any.0', outcome: 'failed', actual: 42, expected: 50 }),
      expect.objectContaining({
        path: 'conditions.any.1',
        outcome: 'missing',
        reason: 'metrics.ctr is missing',
      }),
    ]);
    const hit = await call('POST', '/v1/rules/simulate', key, {
      rule: PAUSE_HIGH_CPA_RULE,
      sample: { entity: { type: 'campaign', id: 'cmp-s' }, metrics: { cpa: 51 } },
    });
    expect(hit.body).toMatchObject({
      matched: true,
      wouldRequest: [
        { kind: 'pause_campaign', campaignId: 'cmp-s' },
        expect.objectContaining({ kind: 'send_notification' }),
      ],
    });
    const bad = await call('POST', '/v1/rules/simulate', key, {
      rule: {
        ...PAUSE_HIGH_CPA_RULE,
        conditions: { field: 'metrics.cpa', operator: 'contains', value: 'x' },
      },
      sample: {},
    });
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0].path).toBe('body.rule.conditions.operator');
  });
});
