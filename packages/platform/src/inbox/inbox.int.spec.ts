import { randomUUID } from 'node:crypto';
import { createCodec, DecodeError, userActionsTopic } from '@cmis/contracts';
import { testEnv, throwawayOrg, uniqueName, uniqueSchema, until, waitForMessages } from '@cmis/testkit';
import {
  createKafkaBus,
  DEAD_LETTER_HEADERS,
  type Bus,
  type OutgoingMessage,
  type Subscription,
} from '../bus';
import type { Knex } from 'knex';
import { createDatabase, tenantTable, withOrg, withOrgs, type Database } from '../db';
import { platformMigrations } from '../runtime';
import { PoisonEventError, startInbox } from './inbox';

const topic = userActionsTopic.name;
const codec = createCodec({ registryUrl: testEnv().schemaRegistryUrl });

async function tracked(orgId: string, seq: number, id = randomUUID()): Promise<OutgoingMessage> {
  const encoded = await codec.encode(topic, {
    id,
    source: '/cmis/test',
    type: 'cmis.triggers.action-tracked',
    specversion: '1.0',
    time: new Date().toISOString(),
    subject: 'contact-1',
    orgId,
    schemaVersion: userActionsTopic.schemaVersion,
    correlationId: id,
    causationId: null,
    data: {
      userId: 'contact-1',
      context: {},
      messageId: `m-${seq}`,
      timestamp: new Date().toISOString(),
      sourceId: 'src',
      event: seq === 13 ? 'Unlucky' : 'Step',
      properties: { seq },
    },
  });
  return { key: `${orgId}:contact-1`, value: encoded.value, headers: encoded.headers };
}

describe('inbox consumer (real Kafka and Postgres)', () => {
  let bus: Bus;
  let db: Database;
  const subs: Subscription[] = [];

  beforeAll(async () => {
    bus = createKafkaBus({ brokers: testEnv().kafkaBrokers!, clientId: uniqueName('inbox') });
    await bus.ensureTopics([
      { topic, numPartitions: userActionsTopic.partitions },
      { topic: userActionsTopic.deadLetterTopic, numPartitions: userActionsTopic.partitions },
    ]);
    db = createDatabase({ url: testEnv().databaseUrl, schema: uniqueSchema('inbox') });
    await db.migrate([
      ...platformMigrations,
      {
        name: 'test_0001_steps',
        up: (knex) =>
          tenantTable(knex, 'steps', (t) => {
            t.bigIncrements('applied_order');
            t.integer('seq').notNullable();
          }),
      },
    ]);
  });
  afterAll(async () => {
    await Promise.allSettled(subs.map((s) => s.stop()));
    await bus.close();
    await db.destroy();
  });

  const seqs = (orgId: string) =>
    withOrg(db.app, orgId, (trx) => trx('steps').orderBy('applied_order').pluck('seq')) as Promise<number[]>;

  const eventually = (orgId: string, count: number) =>
    until(
      () => seqs(orgId),
      (rows) => rows.length >= count,
    );

  function start(orgId: string, groupId = uniqueName('steps')) {
    return startInbox({
      bus,
      db,
      codec,
      groupId,
      topics: [topic],
      handle: async ({ envelope }, { trx, orgId: eventOrg }) => {
        if (eventOrg !== orgId) return;
        const seq = (envelope.data as { properties: { seq: number } }).properties.seq;
        if (seq === 13) throw new PoisonEventError(envelope.id, 'step 13 breaks an invariant');
        await trx('steps').insert({ org_id: eventOrg, seq });
      },
    }).then((s) => (subs.push(s), s));
  }

  it('applies a redelivered event once, dead-letters a poison event and an undecodable message, and moves on', async () => {
    const { orgId } = throwawayOrg();
    const duplicateId = randomUUID();
    const messages = [
      await tracked(orgId, 1),
      await tracked(orgId, 2, duplicateId),
      await tracked(orgId, 2, duplicateId), // the same event delivered twice
      {
        key: `${orgId}:contact-1`,
        value: Buffer.from('{"not":"an envelope"}'),
        headers: { 'content-type': 'application/cloudevents+json' },
      },
      await tracked(orgId, 13),
      await tracked(orgId, 3),
    ];
    await bus.publish(topic, messages);
    await start(orgId);

    expect(await eventually(orgId, 3)).toEqual([1, 2, 3]);
    const dead = await waitForMessages({
      topic: userActionsTopic.deadLetterTopic,
      count: 2,
      predicate: (m) => m.key === `${orgId}:contact-1`,
    });
    const reasons = dead.map((m) => m.headers[DEAD_LETTER_HEADERS.reason]?.toString() ?? '');
    expect(reasons.some((r) => /wrong-magic-byte|schema-validation|not-json/.test(r))).toBe(true);
    expect(reasons).toContain('step 13 breaks an invariant');
    expect(await seqs(orgId)).toEqual([1, 2, 3]);
  });

  it('retries while the database refuses the write, then applies everything in order, nothing skipped', async () => {
    const { orgId } = throwawayOrg();
    // The projection table is gone for a while: every attempt fails like a database outage would.
    await db.owner.raw('alter table steps rename to steps_away');
    await bus.publish(topic, [await tracked(orgId, 1), await tracked(orgId, 2), await tracked(orgId, 3)]);
    const failures: unknown[] = [];
    const sub = await startInbox({
      bus,
      db,
      codec,
      groupId: uniqueName('outage'),
      topics: [topic],
      retry: { initialMs: 50, maxMs: 200 },
      onRetry: (error) => failures.push(error),
      handle: async ({ envelope }, { trx, orgId: eventOrg }) => {
        if (eventOrg !== orgId) return;
        await trx('steps').insert({
          org_id: eventOrg,
          seq: (envelope.data as { properties: { seq: number } }).properties.seq,
        });
      },
    });
    subs.push(sub);
    const deadline = Date.now() + 20_000;
    while (failures.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(failures.length).toBeGreaterThanOrEqual(3);
    expect(failures.some((e) => e instanceof DecodeError)).toBe(false);
    await db.owner.raw('alter table steps_away rename to steps');
    expect(await eventually(orgId, 3)).toEqual([1, 2, 3]);
  });

  it('claims an event id once when two transactions race for it: the later one waits and finds it seen', async () => {
    const { orgId } = throwawayOrg();
    const group = uniqueName('race');
    const claim = (trx: Knex.Transaction, ids: string[]) =>
      trx
        .raw<{ rows: Array<{ event_id: string }> }>(
          'select inbox_claim_seen as event_id from inbox_claim_seen(?, ?, ?::text[])',
          [orgId, group, ids],
        )
        .then((r) => r.rows.map((row) => row.event_id).sort());
    const [shared, own] = [randomUUID(), randomUUID()];
    let releaseFirst: () => void = () => undefined;
    const firstHolds = new Promise<void>((resolve) => (releaseFirst = resolve));
    let firstClaimed: () => void = () => undefined;
    const claimedByFirst = new Promise<void>((resolve) => (firstClaimed = resolve));

    const first = withOrgs(db.app, async (trx) => {
      const fresh = await claim(trx, [shared]);
      firstClaimed();
      await firstHolds;
      return fresh;
    });
    await Promise.race([claimedByFirst, first]);
    // The second waits on the first's uncommitted row, then finds the id seen.
    const second = withOrgs(db.app, (trx) => claim(trx, [own, shared]));
    await new Promise((resolve) => setTimeout(resolve, 200));
    releaseFirst();

    // What comes back is what was recorded before: nothing for the first, the shared id for the second.
    await expect(first).resolves.toEqual([]);
    await expect(second).resolves.toEqual([shared]);
    await expect(withOrgs(db.app, (trx) => claim(trx, [own, shared]))).resolves.toEqual([own, shared].sort());
    const recorded = await withOrg(db.app, orgId, (trx) =>
      trx('inbox_processed').where({ consumer_group: group }).orderBy('event_id').pluck('event_id'),
    );
    expect(recorded).toEqual([own, shared].sort());
  });
});
