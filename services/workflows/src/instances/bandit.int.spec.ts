// Bandit random splits on Kafka, the registry, Postgres and Redis: before any allocation a bandit
// split uses its configured weights; an allocation-updated from analytics' decisions topic makes
// new instances split by its weights (recorded with its revision in the step); an older or
// redelivered allocation does not overwrite a newer one; one that breaks the contract goes to the
// dead-letter topic.
import { randomUUID } from 'node:crypto';
import {
  analyticsDecisionsTopic,
  createTopicEnvelope,
  type AllocationUpdated,
  type EventEnvelope,
} from '@cmis/contracts';
import { DEAD_LETTER_HEADERS, startServiceProcess, type RunningServiceProcess } from '@cmis/platform';
import { serviceProcessEnv, uniqueName, until, waitForMessages } from '@cmis/testkit';
import { createWorkflowsService } from '../service';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;
const ADMIN_TOKEN = 'workflows-bandit-spec-admin-token-01234';

const twoSplits = {
  name: 'Bandit offer',
  start: 'ab',
  steps: [
    {
      id: 'ab',
      kind: 'random_split',
      allocation: 'bandit',
      bandit: { metric: 'conversion', explorationShare: 0.05 },
      branches: [
        { name: 'a', weight: 1, next: 'xy' },
        { name: 'b', weight: 1, next: 'xy' },
      ],
    },
    {
      id: 'xy',
      kind: 'random_split',
      allocation: 'bandit',
      bandit: { explorationShare: 0 },
      branches: [
        { name: 'x', weight: 1 },
        { name: 'y', weight: 1 },
      ],
    },
  ],
  reentry: { policy: 'always' },
};

describe('workflows bandit random split', () => {
  let proc: RunningServiceProcess;

  beforeAll(async () => {
    proc = await startServiceProcess(
      { service: uniqueName('workflows'), httpPort: 0, create: createWorkflowsService() },
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

  /** Enrolls a new contact; what its instance recorded at each split. */
  async function pass(key: string, workflowId: string) {
    const enrolled = await call('POST', `/v1/workflows/${workflowId}/enrollments`, key, {
      contactId: `c-${randomUUID()}`,
    });
    expect(enrolled.status).toBe(201);
    const instance = await call('GET', `/v1/instances/${enrolled.body.instanceId}`, key);
    return instance.body.state.steps as Record<string, Json>;
  }

  const allocation = (
    workflowId: string,
    stepId: string,
    revision: number,
    weights: Record<string, number>,
    explorationShare = 0.05,
  ): AllocationUpdated => ({
    experimentId: `${workflowId}:${stepId}`,
    kind: 'workflow_split',
    workflowId,
    stepId,
    metric: 'conversion',
    explorationShare,
    revision,
    asOf: new Date().toISOString(),
    variants: Object.entries(weights).map(([variantId, weight]) => ({
      variantId,
      weight,
      exposed: 100,
      conversions: Math.round(weight * 50),
    })),
  });

  /** Encoded allocation-updated messages, all on one key (one partition: consumed in this order). */
  async function publish(
    orgId: string,
    key: string,
    items: Array<{ data: AllocationUpdated; id?: string; tamper?: (body: Json) => void }>,
  ) {
    const messages = await Promise.all(
      items.map(async ({ data, id, tamper }) => {
        const envelope = createTopicEnvelope(analyticsDecisionsTopic.name, {
          id: id ?? randomUUID(),
          time: new Date().toISOString(),
          source: '/cmis/workflows-bandit-spec',
          type: 'cmis.analytics.allocation-updated',
          subject: data.experimentId,
          orgId,
          data,
        });
        const encoded = await proc.platform.codec.encode(
          analyticsDecisionsTopic.name,
          envelope as EventEnvelope,
        );
        let value = encoded.value;
        if (tamper) {
          // The same wire format, a payload that breaks the contract (the codec refuses to encode it).
          const body = JSON.parse(value.subarray(5).toString()) as Json;
          tamper(body);
          value = Buffer.concat([value.subarray(0, 5), Buffer.from(JSON.stringify(body))]);
        }
        return { key, value, headers: encoded.headers };
      }),
    );
    await proc.platform.bus.publish(analyticsDecisionsTopic.name, messages);
  }

  it('splits by the newest allocation, keeps it against older and redelivered ones, dead-letters a bad one', async () => {
    const { orgId, key } = await newOrg();
    const created = await call('POST', '/v1/workflows', key, twoSplits);
    expect(created.status).toBe(201);
    const workflowId = created.body.workflowId as string;
    expect((await call('POST', `/v1/workflows/${workflowId}/publish`, key)).status).toBe(201);
    const partitionKey = `${orgId}:${workflowId}:ab`;

    // Before any allocation: the configured weights, and no revision recorded.
    const before = await pass(key, workflowId);
    expect(before.ab).toMatchObject({
      allocation: 'bandit',
      weights: { a: 1, b: 1 },
      explorationShare: 0.05,
    });
    expect(before.ab).not.toHaveProperty('allocationRevision');

    const newest = allocation(workflowId, 'ab', 2, { a: 0.95, b: 0.05 });
    const newestId = randomUUID();
    await publish(orgId, partitionKey, [{ data: newest, id: newestId }]);
    await until(
      () => pass(key, workflowId),
      (steps) => steps.ab?.allocationRevision === 2,
      { timeoutMs: 60_000, intervalMs: 250 },
    );

    const n = 200;
    let a = 0;
    for (let i = 0; i < n; i++) {
      const steps = await pass(key, workflowId);
      expect(steps.ab).toMatchObject({ weights: { a: 0.95, b: 0.05 }, allocationRevision: 2 });
      expect(steps.ab!.branch).toBe(steps.ab!.outcome);
      if (steps.ab!.branch === 'a') a += 1;
    }
    // Binomial(200, 0.95): mean 190, sd 3.1; configured 50/50 would give about 100.
    expect(a).toBeGreaterThan(175);

    // An older allocation, the newest one redelivered, one that breaks the contract, then a
    // first allocation of the other split: once that one shows, the ones before it were consumed.
    await publish(orgId, partitionKey, [
      { data: allocation(workflowId, 'ab', 1, { a: 0.05, b: 0.95 }) },
      { data: newest, id: newestId },
      {
        data: allocation(workflowId, 'ab', 3, { a: 0.5, b: 0.5 }),
        tamper: (body) => (body.data.variants[0].weight = 0.9),
      },
      { data: allocation(workflowId, 'xy', 1, { x: 1, y: 0 }, 0) },
    ]);
    const after = await until(
      () => pass(key, workflowId),
      (steps) => steps.xy?.allocationRevision === 1,
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    expect(after.ab).toMatchObject({ weights: { a: 0.95, b: 0.05 }, allocationRevision: 2 });
    expect(after.xy).toMatchObject({ branch: 'x', weights: { x: 1, y: 0 } });

    const dead = await waitForMessages({
      topic: analyticsDecisionsTopic.deadLetterTopic,
      count: 1,
      predicate: (m) => m.key?.toString() === partitionKey,
    });
    expect(dead[0]!.headers[DEAD_LETTER_HEADERS.reason]?.toString()).toMatch(/weights sum to 1\.4/);
  });
});
