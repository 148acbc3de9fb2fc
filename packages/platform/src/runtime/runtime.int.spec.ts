import { randomUUID } from 'node:crypto';
import { contactsTopic } from '@cmis/contracts';
import { testEnv, uniqueName, until } from '@cmis/testkit';
import { z } from 'zod';
import { PoisonMessageError } from '../bus';
import { withOrg, tenantTable } from '../db';
import { asyncHandler, NotFoundError, validate } from '../http';
import { startServiceProcess, type RunningServiceProcess } from './main';
import type { CreateService } from './service';

const ADMIN_TOKEN = 'runtime-spec-admin-token-0123456789';

/** What the toy's "vip" consumer was handed, by org: only messages its `concerns` test passed. */
const vipHanded = new Map<string, Array<Record<string, unknown>>>();

/**
 * Orgs of this run whose "probe" contacts the toy's strict consumer refuses: `poison` is
 * dead-lettered, `flaky` fails once (then the batch is retried). The topic keeps older runs' probes.
 */
const probingOrgs = new Set<string>();
const flakyFailed = new Set<string>();
const flakyHandled = new Set<string>();
/** What the inbox reported to the strict consumer's own handlers, which the runtime counts first. */
const strictReported = { retries: 0, deadLetters: 0 };

/** A toy service: identify a contact over HTTP (event-sourced), read it back from a projection. */
const createContactsService: CreateService = (rt) => ({
  migrations: [
    {
      name: 'toy_0001_contacts',
      up: (knex) =>
        tenantTable(knex, 'contacts', (t) => {
          t.text('contact_id').notNullable();
          t.jsonb('traits').notNullable();
          t.primary(['org_id', 'contact_id']);
        }),
    },
  ],
  routes(router) {
    router.post(
      '/contacts/:contactId',
      rt.auth.require('contacts:write'),
      validate({ body: z.object({ traits: z.record(z.unknown()) }).strict() }),
      asyncHandler(async (req, res) => {
        const { orgId } = req.principal!;
        const contactId = req.params.contactId!;
        await withOrg(rt.db.app, orgId, (trx) =>
          rt.eventStore.append(trx, {
            orgId,
            streamType: 'contact',
            streamId: contactId,
            expectedVersion: 'any',
            events: [
              {
                id: randomUUID(),
                type: 'cmis.triggers.contact-identified',
                data: {
                  userId: contactId,
                  traits: req.body.traits,
                  context: {},
                  messageId: randomUUID(),
                  timestamp: new Date().toISOString(),
                  sourceId: 'toy',
                },
                metadata: rt.eventMetadata(),
                topic: contactsTopic.name,
                occurredAt: new Date(),
              },
            ],
          }),
        );
        rt.relay.wake();
        res.status(202).json({ accepted: true });
      }),
    );
    router.get(
      '/contacts/:contactId',
      rt.auth.require(),
      asyncHandler(async (req, res) => {
        const row = await withOrg(rt.db.app, req.principal!.orgId, (trx) =>
          trx('contacts').where({ contact_id: req.params.contactId }).first(),
        );
        if (!row) throw new NotFoundError(`No contact ${req.params.contactId}`);
        res.json({ contactId: row.contact_id, traits: row.traits });
      }),
    );
  },
  async start() {
    await rt.consume({
      groupId: `${rt.name}.contacts`,
      topics: [contactsTopic.name],
      handle: async ({ envelope }, { trx, orgId }) => {
        // The topic also carries group and alias events (from other tests' orgs too).
        if (envelope.type !== 'cmis.triggers.contact-identified') return;
        const data = envelope.data as { userId: string; traits: Record<string, unknown> };
        await trx('contacts')
          .insert({ org_id: orgId, contact_id: data.userId, traits: data.traits })
          .onConflict(['org_id', 'contact_id'])
          .merge();
      },
    });
    await rt.consume({
      groupId: `${rt.name}.vip`,
      topics: [contactsTopic.name],
      concerns: (message) => message.value === null || message.value.includes('"vip"'),
      handle: async ({ envelope }, { orgId }) => {
        const traits = (envelope.data as { traits?: Record<string, unknown> }).traits ?? {};
        vipHanded.set(orgId, [...(vipHanded.get(orgId) ?? []), traits]);
      },
    });
    await rt.consume({
      groupId: `${rt.name}.strict`,
      topics: [contactsTopic.name],
      concerns: (message) => message.value === null || message.value.includes('"probe"'),
      onRetry: () => void strictReported.retries++,
      onDeadLetter: () => void strictReported.deadLetters++,
      handle: async ({ envelope }, { orgId }) => {
        if (!probingOrgs.has(orgId)) return;
        const probe = (envelope.data as { traits?: { probe?: string } }).traits?.probe;
        if (probe === 'poison') throw new PoisonMessageError('the toy refuses poison probes');
        if (probe === 'flaky' && !flakyFailed.has(orgId)) {
          flakyFailed.add(orgId);
          throw new Error('a transient failure, once');
        }
        if (probe === 'flaky') flakyHandled.add(orgId);
      },
    });
  },
});

describe('service runtime: a service process on Kafka, Postgres and Redis', () => {
  let proc: RunningServiceProcess;
  const name = uniqueName('toy');

  beforeAll(async () => {
    const env = testEnv();
    proc = await startServiceProcess(
      { service: name, httpPort: 0, create: createContactsService, gaugeIntervalMs: 200 },
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
  afterAll(() => proc?.shutdown());

  const call = (method: string, path: string, token?: string, body?: unknown) =>
    fetch(`${proc.url}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  it('is ready, authenticates with its own tenancy projection, and writes through the outbox to its projection', async () => {
    expect((await call('GET', '/readyz')).status).toBe(200);
    const org = (await (await call('POST', '/admin/orgs', ADMIN_TOKEN, { name: 'Toy Org' })).json()) as {
      orgId: string;
    };
    const issued = (await (
      await call('POST', `/admin/orgs/${org.orgId}/keys`, ADMIN_TOKEN, { scopes: ['contacts:write'] })
    ).json()) as { key: string };

    const accepted = await until(
      () => call('POST', '/contacts/c-1', issued.key, { traits: { plan: 'pro' } }),
      (r) => r.status === 202,
    );
    expect(accepted.status).toBe(202);
    const read = await until(
      () => call('GET', '/contacts/c-1', issued.key),
      (r) => r.status === 200,
    );
    expect(await read.json()).toEqual({ contactId: 'c-1', traits: { plan: 'pro' } });

    // /metrics: request counts by route pattern, outbox depth and the consumers' lag.
    const metrics = await until(
      async () => (await call('GET', '/metrics')).text(),
      // Refreshed in the background: wait for a refresh after the relay published the event.
      (text) => text.includes(`group="${name}.contacts"`) && /outbox_depth\{[^}]*\} 0/.test(text),
    );
    expect(metrics).toMatch(/outbox_depth\{[^}]*\} 0/);
    expect(metrics).toContain(`consumer_lag{topic="cmis.triggers.contacts.v1"`);
    expect(metrics).toContain('route="/contacts/:contactId"');
  });

  it('hands a consumer only the messages its concerns test lets through', async () => {
    const org = (await (await call('POST', '/admin/orgs', ADMIN_TOKEN, { name: 'Vip' })).json()) as {
      orgId: string;
    };
    const issued = (await (
      await call('POST', `/admin/orgs/${org.orgId}/keys`, ADMIN_TOKEN, { scopes: ['contacts:write'] })
    ).json()) as { key: string };
    // One contact, so one key and one partition: the vip consumer meets the two events in order.
    const basic = await until(
      () => call('POST', '/contacts/c-3', issued.key, { traits: { tier: 'basic' } }),
      (r) => r.status === 202,
    );
    expect(basic.status).toBe(202);
    expect((await call('POST', '/contacts/c-3', issued.key, { traits: { tier: 'vip' } })).status).toBe(202);

    const handed = await until(
      async () => vipHanded.get(org.orgId) ?? [],
      (list) => list.length > 0,
    );
    expect(handed).toEqual([{ tier: 'vip' }]);
    // The other consumer of the topic, without a test, got both (the projection holds the last).
    const read = await until(
      async () => (await call('GET', '/contacts/c-3', issued.key)).json() as Promise<{ traits?: unknown }>,
      (body) => JSON.stringify(body.traits) === JSON.stringify({ tier: 'vip' }),
    );
    expect(read.traits).toEqual({ tier: 'vip' });
  });

  it('counts a dead-lettered record and a retried batch on /metrics, by group and topic', async () => {
    const org = (await (await call('POST', '/admin/orgs', ADMIN_TOKEN, { name: 'Probes' })).json()) as {
      orgId: string;
    };
    probingOrgs.add(org.orgId);
    const issued = (await (
      await call('POST', `/admin/orgs/${org.orgId}/keys`, ADMIN_TOKEN, { scopes: ['contacts:write'] })
    ).json()) as { key: string };
    /** The value of the strict consumer's series of `metric` on the contacts topic, if any. */
    const counter = (text: string, metric: string) =>
      text
        .split('\n')
        .find(
          (line) =>
            line.startsWith(`${metric}{`) &&
            line.includes(`group="${name}.strict"`) &&
            line.includes(`topic="${contactsTopic.name}"`),
        )
        ?.split(' ')
        .pop();
    const scrape = async () => (await call('GET', '/metrics')).text();

    // Present at 0 from the start, so that Prometheus' increase() sees the first one.
    const before = await scrape();
    expect(counter(before, 'dead_letters_total')).toBe('0');
    expect(counter(before, 'inbox_retries_total')).toBe(String(strictReported.retries));

    // One after the other: a retry of a batch holding the poison probe would dead-letter it again.
    const poison = await until(
      () => call('POST', '/contacts/p-1', issued.key, { traits: { probe: 'poison' } }),
      (r) => r.status === 202,
    );
    expect(poison.status).toBe(202);
    const afterPoison = await until(scrape, (text) => counter(text, 'dead_letters_total') !== '0');
    // One dead letter is ours; a transient failure (shared Postgres, broker) of its batch after the
    // publish would dead-letter it again on the retry, and that publish is counted too.
    expect(strictReported.deadLetters).toBeGreaterThanOrEqual(1);
    expect(counter(afterPoison, 'dead_letters_total')).toBe(String(strictReported.deadLetters));

    const flaky = await call('POST', '/contacts/p-2', issued.key, { traits: { probe: 'flaky' } });
    expect(flaky.status).toBe(202);
    expect(await until(async () => flakyHandled.has(org.orgId), Boolean)).toBe(true);
    expect(strictReported.retries).toBeGreaterThanOrEqual(1);
    const metrics = await until(
      scrape,
      (text) => counter(text, 'inbox_retries_total') === String(strictReported.retries),
      { timeoutMs: 5_000 },
    );
    expect(counter(metrics, 'inbox_retries_total')).toBe(String(strictReported.retries));
    expect(counter(metrics, 'dead_letters_total')).toBe(String(strictReported.deadLetters));
    expect(metrics).toContain('# TYPE dead_letters_total counter');
  });

  it('answers problem+json for a missing key, a missing scope and a bad body', async () => {
    const missing = await call('POST', '/contacts/c-2', undefined, { traits: {} });
    expect(missing.status).toBe(401);
    expect(missing.headers.get('content-type')).toContain('application/problem+json');

    const org = (await (await call('POST', '/admin/orgs', ADMIN_TOKEN, { name: 'Scoped' })).json()) as {
      orgId: string;
    };
    const readOnly = (await (
      await call('POST', `/admin/orgs/${org.orgId}/keys`, ADMIN_TOKEN, { scopes: ['contacts:read'] })
    ).json()) as { key: string };
    const forbidden = await until(
      () => call('POST', '/contacts/c-2', readOnly.key, { traits: {} }),
      (r) => r.status !== 401,
    );
    expect(forbidden.status).toBe(403);

    const writer = (await (
      await call('POST', `/admin/orgs/${org.orgId}/keys`, ADMIN_TOKEN, { scopes: ['contacts:write'] })
    ).json()) as { key: string };
    const bad = await until(
      () => call('POST', '/contacts/c-2', writer.key, { traits: 'not an object' }),
      (r) => r.status !== 401,
    );
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { errors: Array<{ path: string }> }).errors[0]!.path).toBe('body.traits');
  });
});
