// Proof under faults (issue "Backbone hardening"): triggers and rules each in its own process
// (node services/<svc>/dist/main.js) on a Kafka broker of this test's own, 20,000 events sent
// through ingest by a client that retries until a 2xx, while rules is killed with SIGKILL three
// times and restarted and the broker is stopped and started again once. Afterwards every event is
// on its topic under one event id (a copy only of a request answered other than 2xx and sent
// again), and every firing the rule set should produce happened exactly once, with exactly one
// action request per action.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createCodec,
  entityMetricsTopic,
  ruleActionsTopic,
  ruleEventsTopic,
  userActionsTopic,
} from '@cmis/contracts';
import { PAUSE_HIGH_CPA_RULE } from '@cmis/rules';
import {
  createScratchDatabase,
  freePort,
  ServiceProcess,
  startKafka,
  testEnv,
  uniqueName,
  type RunningKafka,
  type ScratchDatabase,
} from '@cmis/testkit';
import { Kafka, logLevel } from 'kafkajs';
import { call, pollUntil as until, retrying, sleep } from './support/retrying-client';
import { byId, eventIdsBy, field, tally, TopicRecorder, withTwoIds } from './support/topic-recorder';

const ADMIN_TOKEN = 'faults-e2e-admin-token-0123456789abcdef';
const TRACK_BATCHES = 180; // of 100 track calls: 18,000
const METRICS_BATCHES = 20; // of 100 snapshots: 2,000, ten for each of 200 campaigns
const BATCH = 100;
const CAMPAIGNS = 200;

describe('no event lost or doubled while rules crashes and the broker restarts', () => {
  const env = testEnv();
  const work = mkdtempSync(join(tmpdir(), 'cmis-faults-'));
  let kafka: RunningKafka;
  let database: ScratchDatabase;
  let triggers: ServiceProcess;
  let rules: ServiceProcess;
  let recorder: TopicRecorder;

  beforeAll(async () => {
    [kafka, database] = await Promise.all([
      startKafka(join(work, 'kafka')),
      // The processes keep their schemas under their fixed names: a database of their own.
      createScratchDatabase(env.databaseUrl, 'cmis_faults'),
    ]);
    const serviceEnv = {
      KAFKA_BROKERS: kafka.brokers.join(','),
      SCHEMA_REGISTRY_URL: env.schemaRegistryUrl!,
      DATABASE_URL: database.url,
      REDIS_URL: env.redisUrl,
      CMIS_ADMIN_TOKEN: ADMIN_TOKEN,
      LOG_LEVEL: 'warn',
      KAFKAJS_NO_PARTITIONER_WARNING: '1',
      TRIGGERS_ORG_EVENTS_PER_SECOND: '1000000',
      TRIGGERS_SOURCE_EVENTS_PER_SECOND: '1000000',
    };
    const [triggersPort, rulesPort] = [await freePort(), await freePort()];
    triggers = new ServiceProcess('triggers', triggersPort, serviceEnv, join(work, 'triggers.log'));
    rules = new ServiceProcess('rules', rulesPort, serviceEnv, join(work, 'rules.log'));
    await triggers.start();
    await rules.start();
    recorder = new TopicRecorder(
      new Kafka({ brokers: kafka.brokers, clientId: uniqueName('faults'), logLevel: logLevel.NOTHING }),
      createCodec({ registryUrl: env.schemaRegistryUrl }),
      [userActionsTopic.name, entityMetricsTopic.name, ruleActionsTopic.name, ruleEventsTopic.name],
    );
  }, 240_000);

  afterAll(async () => {
    await recorder?.stop().catch(() => undefined);
    await rules?.kill('SIGTERM');
    await triggers?.kill('SIGTERM');
    await kafka?.stop();
    await database?.drop();
  }, 60_000);

  it('20,000 events: each stored once, each firing once, each action requested once', async () => {
    const bearer = (k: string) => `Bearer ${k}`;
    const org = await call(triggers.url, 'POST', '/admin/orgs', bearer(ADMIN_TOKEN), {
      name: uniqueName('f'),
    });
    const orgId = org.body.orgId as string;
    const key = (
      await retrying('api key', () =>
        call(rules.url, 'POST', `/admin/orgs/${orgId}/keys`, bearer(ADMIN_TOKEN), {
          scopes: ['rules:write', 'rules:read', 'triggers:manage'],
        }),
      )
    ).body.key as string;
    const source = await retrying('source', () =>
      call(triggers.url, 'POST', '/v1/sources', bearer(key), { name: 'faults' }),
    );
    const writeKey = `Basic ${Buffer.from(`${source.body.writeKey as string}:`).toString('base64')}`;
    const bigOrders = await retrying('event rule', () =>
      call(rules.url, 'POST', '/v1/rules', bearer(key), {
        name: 'Tag big orders',
        entityType: 'contact',
        trigger: {
          kind: 'event',
          eventType: 'cmis.triggers.action-tracked',
          filter: { field: 'event.event', operator: 'equals', value: 'Order Completed' },
        },
        conditions: { all: [{ field: 'event.properties.total', operator: '>=', value: 100 }] },
        actions: [{ kind: 'tag_contact', tags: ['big-order'] }],
      }),
    );
    const cpa = await retrying('metrics rule', () =>
      call(rules.url, 'POST', '/v1/rules', bearer(key), PAUSE_HIGH_CPA_RULE),
    );
    const bigOrdersRule = bigOrders.body.ruleId as string;
    const cpaRule = cpa.body.ruleId as string;
    await recorder.start();

    // The batches: every tenth is metrics. An order's total is (i % 10) * 25: 60 % are >= 100.
    // Campaign c's fifth snapshot has cpa 60 when c is even; every other cpa is at most 50.
    const batches: Array<{ path: string; body: unknown }> = [];
    for (let b = 0, t = 0, m = 0; t < TRACK_BATCHES || m < METRICS_BATCHES; b += 1) {
      if (b % 10 === 9 && m < METRICS_BATCHES) {
        const snapshots = Array.from({ length: BATCH }, (_, j) => {
          const n = m * BATCH + j;
          const [campaign, round] = [n % CAMPAIGNS, Math.floor(n / CAMPAIGNS)];
          const value = campaign % 2 === 0 && round === 5 ? 60 : 20 + ((campaign + round) % 31);
          return {
            entityType: 'campaign',
            entityId: `cmp-${campaign}`,
            metrics: { cpa: value, spend: value * 10 },
            messageId: `m-${n}`,
          };
        });
        batches.push({ path: '/v1/metrics', body: { batch: snapshots } });
        m += 1;
      } else if (t < TRACK_BATCHES) {
        const calls = Array.from({ length: BATCH }, (_, j) => {
          const i = t * BATCH + j;
          return {
            type: 'track',
            userId: `u-${i % 3000}`,
            event: 'Order Completed',
            properties: { total: (i % 10) * 25 },
            messageId: `t-${i}`,
          };
        });
        batches.push({ path: '/v1/batch', body: { batch: calls } });
        t += 1;
      } else continue;
    }

    // Faults at points of the send, one after another, each while batches are being sent: the
    // send goes on for 30 batches past a fault's start, then waits for the fault to be over (a
    // restarted rules is ready once its consumer groups rebalanced past the killed member).
    let sent = 0;
    const faults: string[] = [];
    const timed = async (what: string, fault: () => Promise<void>) => {
      const started = Date.now();
      const at = sent;
      await fault();
      faults.push(`${what} at batch ${at}, over in ${Date.now() - started} ms`);
    };
    const killRules = () =>
      timed('rules SIGKILL', async () => {
        await rules.kill('SIGKILL');
        await rules.start();
      });
    const stopBroker = () =>
      // Longer than a client's patience (its requests time out after 30 s, with the wait for
      // metadata): retries meet their own pending claims.
      timed('broker stopped for 20 s', async () => {
        await kafka.stop();
        await sleep(20_000);
        await kafka.restart();
      });
    const plan: Array<{ at: number; fault: () => Promise<void>; over?: Promise<void> }> = [
      { at: 20, fault: killRules },
      { at: 60, fault: killRules },
      { at: 100, fault: stopBroker },
      { at: 140, fault: killRules },
    ];
    const chaos = (async () => {
      for (const step of plan) {
        await until(() => Promise.resolve(sent >= step.at), 300_000, `batch ${step.at}`);
        step.over = step.fault();
        await step.over;
      }
    })();
    const statuses = new Map<number | 'no answer', number>();
    let next = 0;
    const sender = async () => {
      for (;;) {
        const index = next++;
        if (index >= batches.length) return;
        for (const step of plan) {
          if (index < step.at + 30) continue;
          await until(() => Promise.resolve(step.over !== undefined), 300_000, `fault at ${step.at}`);
          await step.over;
        }
        const { path, body } = batches[index]!;
        await retrying(`batch ${index}`, async () => {
          const outcome = await call(triggers.url, 'POST', path, writeKey, body).catch((error: unknown) => {
            statuses.set('no answer', (statuses.get('no answer') ?? 0) + 1);
            throw error;
          });
          statuses.set(outcome.status, (statuses.get(outcome.status) ?? 0) + 1);
          return outcome;
        });
        sent += 1;
        await sleep(100);
      }
    };
    await Promise.all([sender(), sender(), chaos]);

    // What the rule set must produce: a firing and a tag request for each order of 100 or more,
    // and one firing (two actions) per campaign whose cpa went above 50 within the cooldown.
    const expectedOrders = (TRACK_BATCHES * BATCH * 6) / 10;
    const expectedCampaigns = CAMPAIGNS / 2;
    const expectedActions = expectedOrders + expectedCampaigns * 2;
    const actions = () => recorder.envelopes(ruleActionsTopic.name);
    const distinctActions = () =>
      new Set(actions().map((e) => (e.data as { actionId: string }).actionId)).size;
    await until(
      () => Promise.resolve(distinctActions() >= expectedActions),
      300_000,
      'the action requests',
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}; ${distinctActions()} of ${expectedActions}\n${rules.logTail()}`);
    });
    await sleep(5_000); // anything doubled would arrive by now

    const tracked = recorder.envelopes(userActionsTopic.name);
    const snapshots = recorder.envelopes(entityMetricsTopic.name);
    // The relay is at least once toward Kafka: a kill between the broker's ack and the outbox
    // mark resends a copy with the same event id, which every consumer's inbox drops. Copies are
    // counted; a double is a second firing or action with an id of its own.
    const firingCopies = recorder
      .envelopes(ruleEventsTopic.name)
      .filter((e) => e.type === 'cmis.rules.rule-fired');
    const actionCopies = recorder.envelopes(ruleActionsTopic.name);
    const fired = byId(firingCopies);
    const requested = byId(actionCopies);
    const firingsPerCause = tally(fired.map((e) => `${field(e, 'ruleId')}:${e.causationId}`));
    const actionsPerId = tally(requested.map((e) => field(e, 'actionId')));
    const bigOrderCauses = byId(tracked)
      .filter((e) => (e.data as { properties: { total: number } }).properties.total >= 100)
      .map((e) => `${bigOrdersRule}:${e.id}`);
    const trackedIds = eventIdsBy(tracked, (e) => field(e, 'messageId'));
    const counts = {
      faults,
      statuses: Object.fromEntries(statuses),
      unexpectedExits: { triggers: triggers.unexpectedExits, rules: rules.unexpectedExits },
      tracked: {
        messageIds: trackedIds.size,
        messageIdsWithTwoEventIds: withTwoIds(trackedIds),
        resentCopies: tracked.length - trackedIds.size,
      },
      snapshots: {
        // Their event ids derive from org and messageId (the data carries no messageId).
        messageIds: byId(snapshots).length,
        resentCopies: snapshots.length - byId(snapshots).length,
      },
      firings: {
        bigOrders: fired.filter((e) => field(e, 'ruleId') === bigOrdersRule).length,
        cpa: fired.filter((e) => field(e, 'ruleId') === cpaRule).length,
        resentCopies: firingCopies.length - fired.length,
      },
      actions: {
        requests: requested.length,
        actionIds: actionsPerId.size,
        resentCopies: actionCopies.length - requested.length,
      },
    };
    console.log(`fault test counts: ${JSON.stringify(counts, null, 2)}`);

    expect(faults).toHaveLength(4);
    expect(counts.unexpectedExits).toEqual({ triggers: 0, rules: 0 });
    // Every accepted event on its topic under one event id, whose copies every consumer's inbox
    // drops. Ingest publishes straight to Kafka: a send the broker wrote but whose answer was lost
    // (the broker stopping under it) fails for ingest, which answers 503, and the client's retry is
    // a new send (other requests' events coalesced with it), so the broker's idempotence does not
    // see it as the same batch. A copy is only ever of a request that was not answered 2xx.
    expect(counts.tracked).toMatchObject({
      messageIds: TRACK_BATCHES * BATCH,
      messageIdsWithTwoEventIds: 0,
    });
    expect(counts.snapshots.messageIds).toBe(METRICS_BATCHES * BATCH);
    const retriedRequests = [...statuses]
      .filter(([status]) => status === 'no answer' || status >= 300)
      .reduce((n, [, k]) => n + k, 0);
    expect(counts.tracked.resentCopies + counts.snapshots.resentCopies).toBeLessThanOrEqual(
      BATCH * retriedRequests,
    );
    // Every firing once: one per big order (by its event), one per campaign that went above 50.
    expect([...firingsPerCause.entries()].filter(([, n]) => n !== 1)).toEqual([]);
    expect([...firingsPerCause.keys()].filter((k) => k.startsWith(`${bigOrdersRule}:`)).sort()).toEqual(
      bigOrderCauses.sort(),
    );
    expect(bigOrderCauses).toHaveLength(expectedOrders);
    const cpaSubjects = fired.filter((e) => field(e, 'ruleId') === cpaRule).map((e) => field(e, 'subject'));
    expect(cpaSubjects.sort()).toEqual(
      Array.from({ length: expectedCampaigns }, (_, c) => `cmp-${c * 2}`).sort(),
    );
    // Every action requested once: a tag per big order, a pause and a notification per campaign.
    expect([...actionsPerId.entries()].filter(([, n]) => n !== 1)).toEqual([]);
    const kinds = tally(
      requested.map((e) => `${field(e, 'ruleId')}:${(e.data as { action: { kind: string } }).action.kind}`),
    );
    expect(Object.fromEntries(kinds)).toEqual({
      [`${bigOrdersRule}:tag_contact`]: expectedOrders,
      [`${cpaRule}:pause_campaign`]: expectedCampaigns,
      [`${cpaRule}:send_notification`]: expectedCampaigns,
    });
  }, 1_200_000);
});
