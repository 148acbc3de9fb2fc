// Bandit allocation on Kafka, the registry, Postgres and Redis: a workflow split whose passes
// carry bandit options gets allocation-updated events on the decisions topic (through the outbox,
// throttled), favouring the variant that converts better and keeping the other at its exploration
// share, with growing revisions; a fixed split's passes publish none.
import { randomUUID } from 'node:crypto';
import {
  AllocationUpdated,
  analyticsDecisionsTopic,
  createTopicEnvelope,
  workflowInstancesTopic,
  type EventEnvelope,
} from '@cmis/contracts';
import { startServiceProcess, type RunningServiceProcess } from '@cmis/platform';
import { serviceProcessEnv, uniqueName, until, waitForMessages } from '@cmis/testkit';
import { createAnalyticsService } from '../service';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;
const ADMIN_TOKEN = 'analytics-bandit-spec-admin-token-012345';
const INTERVAL_MS = 1_500;
// Each wait below allows 60 s: a fresh analytics group first reads every result topic from the
// start, which under a full parallel run took past jest's default 60 s for the whole test.
const SPEC_TIMEOUT_MS = 180_000;

describe('analytics bandit allocation', () => {
  let proc: RunningServiceProcess;

  beforeAll(async () => {
    proc = await startServiceProcess(
      {
        service: uniqueName('analytics'),
        httpPort: 0,
        create: createAnalyticsService({ bandit: { intervalMs: INTERVAL_MS, minOutcomes: 20 } }),
      },
      serviceProcessEnv(ADMIN_TOKEN),
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
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as Json };
  };

  async function newOrg() {
    const org = (await call('POST', '/admin/orgs', ADMIN_TOKEN, { name: uniqueName('org') })).body as {
      orgId: string;
    };
    const { key } = (
      await call('POST', `/admin/orgs/${org.orgId}/keys`, ADMIN_TOKEN, { scopes: ['analytics:read'] })
    ).body as { key: string };
    await until(
      () => call('GET', '/v1/experiments', key),
      (r) => r.status !== 401,
    );
    return { orgId: org.orgId, key };
  }

  type Fact = { subject: string; type: string; data: unknown };
  async function publish(orgId: string, facts: Fact[]) {
    const topic = workflowInstancesTopic.name;
    const messages = await Promise.all(
      facts.map(async (f) => {
        const envelope = createTopicEnvelope(topic, {
          id: randomUUID(),
          time: new Date().toISOString(),
          source: '/cmis/analytics-bandit-spec',
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

  /** Passes of `n` contacts through the split into `branch`, the first `converts` converting. */
  function split(workflowId: string, branch: string, n: number, converts: number, detail?: Json) {
    const passes: Fact[] = [];
    const ends: Fact[] = [];
    for (let i = 0; i < n; i++) {
      const contactId = `${branch}-${i}`;
      const ref = { instanceId: `i-${contactId}`, workflowId, workflowVersion: 1, contactId };
      passes.push({
        subject: contactId,
        type: 'cmis.workflows.step-completed',
        data: {
          ...ref,
          stepId: 'ab',
          stepKind: 'random_split',
          outcome: branch,
          detail: { branch, ...detail },
        },
      });
      if (i < converts)
        ends.push({
          subject: contactId,
          type: 'cmis.workflows.instance-ended',
          data: { ...ref, status: 'converted' },
        });
    }
    return { passes, ends };
  }

  const envelopeOf = (value: Buffer) =>
    JSON.parse(value.subarray(value[0] === 0 ? 5 : 0).toString('utf8')) as EventEnvelope;
  /** The experiment's allocation-updated events (those `also` matches), in published order. */
  const allocationsOf = async (
    orgId: string,
    experimentId: string,
    count: number,
    options: { timeoutMs?: number; also?: (a: AllocationUpdated) => boolean } = {},
  ) =>
    (
      await waitForMessages({
        topic: analyticsDecisionsTopic.name,
        count,
        timeoutMs: options.timeoutMs ?? 60_000,
        predicate: (m) => {
          const e = envelopeOf(m.value!);
          const data = e.data as AllocationUpdated;
          return (
            e.orgId === orgId &&
            e.type === 'cmis.analytics.allocation-updated' &&
            data.experimentId === experimentId &&
            (options.also?.(data) ?? true)
          );
        },
      })
    ).map((m) => envelopeOf(m.value!).data as AllocationUpdated);
  const conversionsOf = (a: AllocationUpdated) => a.variants.reduce((s, v) => s + v.conversions, 0);

  it(
    'publishes allocations favouring the better converting variant, each keeping its exploration share',
    async () => {
      const { orgId, key } = await newOrg();
      const workflowId = `wf-${randomUUID()}`;
      const experimentId = `${workflowId}:ab`;
      const bandit = {
        allocation: 'bandit',
        metric: 'conversion',
        explorationShare: 0.05,
        variants: ['a', 'b'],
        weights: { a: 0.5, b: 0.5 },
      };
      // a: 3 of 60 convert (5%); b: 30 of 60 (50%).
      const a = split(workflowId, 'a', 60, 3, bandit);
      const b = split(workflowId, 'b', 60, 30, bandit);
      await publish(orgId, [...a.passes, ...b.passes]);
      await until(
        () => call('GET', `/v1/experiments/${encodeURIComponent(experimentId)}`, key),
        (r) => r.status === 200 && r.body.variants.reduce((n: number, v: Json) => n + v.exposed, 0) === 120,
        { timeoutMs: 60_000 },
      );
      await publish(orgId, [...a.ends, ...b.ends]);

      // The exposures alone made one (or more) allocations; the conversions make a later one.
      const [final] = await allocationsOf(orgId, experimentId, 1, { also: (x) => conversionsOf(x) === 33 });
      const all = await allocationsOf(orgId, experimentId, final!.revision);
      for (const x of all) expect(AllocationUpdated.parse(x)).toEqual(x);
      expect(all[0]).toMatchObject({
        kind: 'workflow_split',
        workflowId,
        stepId: 'ab',
        metric: 'conversion',
        explorationShare: 0.05,
        revision: 1,
      });
      expect(final!.variants.map((v) => [v.variantId, v.exposed, v.conversions])).toEqual([
        ['a', 60, 3],
        ['b', 60, 30],
      ]);
      const weight = (id: string) => final!.variants.find((v) => v.variantId === id)!.weight;
      expect(weight('b')).toBeGreaterThan(0.9);
      expect(weight('a')).toBeGreaterThanOrEqual(0.05);
      expect(weight('a') + weight('b')).toBeCloseTo(1, 9);
      // Revisions grow one by one; allocations of one experiment are at least the interval apart.
      expect(all.map((x) => x.revision)).toEqual(all.map((_, i) => i + 1));
      for (let i = 1; i < all.length; i++)
        expect(Date.parse(all[i]!.asOf) - Date.parse(all[i - 1]!.asOf)).toBeGreaterThanOrEqual(INTERVAL_MS);

      const state = await call('GET', `/v1/experiments/${encodeURIComponent(experimentId)}`, key);
      expect(state.body.bandit).toMatchObject({
        metric: 'conversion',
        explorationShare: 0.05,
        variants: ['a', 'b'],
        revision: final!.revision,
      });
    },
    SPEC_TIMEOUT_MS,
  );

  it(
    'publishes nothing for a fixed split',
    async () => {
      const { orgId, key } = await newOrg();
      const workflowId = `wf-${randomUUID()}`;
      const experimentId = `${workflowId}:ab`;
      const a = split(workflowId, 'a', 30, 3);
      const b = split(workflowId, 'b', 30, 20);
      await publish(orgId, [...a.passes, ...b.passes]);
      await until(
        () => call('GET', `/v1/experiments/${encodeURIComponent(experimentId)}`, key),
        (r) => r.status === 200 && r.body.variants.reduce((n: number, v: Json) => n + v.exposed, 0) === 60,
        { timeoutMs: 60_000 },
      );
      await publish(orgId, [...a.ends, ...b.ends]);
      const counted = await until(
        () => call('GET', `/v1/experiments/${encodeURIComponent(experimentId)}`, key),
        (r) => r.body.variants.reduce((n: number, v: Json) => n + v.conversions, 0) === 23,
        { timeoutMs: 60_000 },
      );
      expect(counted.body.bandit).toBeUndefined();
      // Twice the interval after 83 outcomes: a bandit would have published by now.
      await new Promise((r) => setTimeout(r, 2 * INTERVAL_MS));
      await expect(allocationsOf(orgId, experimentId, 1, { timeoutMs: 3_000 })).rejects.toThrow(
        /0\/1 matched/,
      );
    },
    SPEC_TIMEOUT_MS,
  );
});
