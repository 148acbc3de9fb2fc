import { randomUUID } from 'node:crypto';
import { createCodec, userActionsTopic } from '@cmis/contracts';
import { testEnv, throwawayOrg, uniqueName, uniqueSchema, until } from '@cmis/testkit';
import { createKafkaBus, type Bus, type Subscription } from '../bus';
import { createDatabase, tenantTable, withOrg, withSystem, type Database } from '../db';
import { createEventStore, createRecentAppends } from '../eventstore';
import { startInbox } from '../inbox';
import { platformMigrations } from '../runtime';
import { createOutboxRelay } from './relay';
import { RELAY_SHARDS, relayLockClass } from './shards';

const topic = userActionsTopic.name;
const codec = createCodec({ registryUrl: testEnv().schemaRegistryUrl });

const projectionMigration = {
  name: 'test_0001_applied',
  async up(knex: Database['owner']) {
    await tenantTable(knex, 'applied', (t) => {
      t.bigIncrements('applied_order');
      t.text('contact').notNullable();
      t.integer('seq').notNullable();
      t.uuid('event_id').notNullable();
    });
  },
};

function tracked(contact: string, seq: number) {
  return {
    id: randomUUID(),
    type: 'cmis.triggers.action-tracked',
    data: {
      userId: contact,
      context: {},
      messageId: `m-${contact}-${seq}`,
      timestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, seq % 60)).toISOString(),
      sourceId: 'src-1',
      event: 'Step Done',
      properties: { seq },
    },
    metadata: {},
    topic,
    occurredAt: new Date(),
  };
}

describe('outbox relay → Kafka → inbox (real Postgres and Kafka)', () => {
  let bus: Bus;
  let db: Database;
  const subs: Subscription[] = [];

  beforeAll(async () => {
    bus = createKafkaBus({ brokers: testEnv().kafkaBrokers!, clientId: uniqueName('outbox') });
    await bus.ensureTopics([
      { topic, numPartitions: userActionsTopic.partitions },
      { topic: userActionsTopic.deadLetterTopic, numPartitions: userActionsTopic.partitions },
    ]);
    db = createDatabase({ url: testEnv().databaseUrl, schema: uniqueSchema('outbox') });
    await db.migrate([...platformMigrations, projectionMigration]);
  });
  afterAll(async () => {
    await Promise.allSettled(subs.map((s) => s.stop()));
    await bus.close();
    await db.destroy();
  });

  const store = () => createEventStore(db);

  async function appendStreams(orgId: string, contacts: string[], perContact: number) {
    // Interleave appends across streams, several events per append, as services do.
    for (let seq = 0; seq < perContact; seq += 10) {
      await withOrg(db.app, orgId, async (trx) => {
        for (const contact of contacts) {
          const events = Array.from({ length: Math.min(10, perContact - seq) }, (_, i) =>
            tracked(contact, seq + i),
          );
          await store().append(trx, {
            orgId,
            streamType: 'contact',
            streamId: contact,
            expectedVersion: seq,
            events,
          });
        }
      });
    }
  }

  function startProjection(orgId: string, groupId: string) {
    return startInbox({
      bus,
      db,
      codec,
      groupId,
      topics: [topic],
      apply: async (events, { trx, orgId: eventOrg }) => {
        // Other tests' orgs share the topic; this projection keeps only its own org.
        if (eventOrg !== orgId) return;
        await trx('applied').insert(
          events.map(({ envelope }) => ({
            org_id: eventOrg,
            contact: envelope.subject,
            seq: (envelope.data as { properties: { seq: number } }).properties.seq,
            event_id: envelope.id,
          })),
        );
      },
    });
  }

  async function appliedRows(orgId: string) {
    return withOrg(db.app, orgId, (trx) =>
      trx('applied').orderBy('applied_order').select('contact', 'seq', 'event_id'),
    );
  }

  const waitForApplied = (orgId: string, count: number) =>
    until(
      () => appliedRows(orgId),
      (rows) => rows.length >= count,
      { timeoutMs: 60_000 },
    );

  it("queues exactly the events of one append that have a topic, in one statement, out of the app role's reach", async () => {
    const { orgId } = throwawayOrg();
    const privateEvent = { ...tracked('queue-1', 1), type: 'ContactNoted', topic: undefined };
    const positions = await withOrg(db.app, orgId, (trx) =>
      store().append(trx, {
        orgId,
        streamType: 'contact',
        streamId: 'queue-1',
        expectedVersion: 'any',
        events: [tracked('queue-1', 0), privateEvent, tracked('queue-1', 2)],
      }),
    ).then((r) => r.positions.map(String));
    const queued = await withSystem(db.owner, (trx) =>
      trx('outbox_pending').whereIn('position', positions).orderBy('position').pluck('position'),
    );
    expect(queued.map(String)).toEqual([positions[0], positions[2]]);
    await expect(withOrg(db.app, orgId, (trx) => trx('outbox_pending').count())).rejects.toThrow(
      /permission denied/,
    );
  });

  it('delivers 10,000 events in order per key, none lost, none applied twice, with two relay replicas', async () => {
    const { orgId } = throwawayOrg();
    const contacts = Array.from({ length: 50 }, (_, i) => `contact-${i}`);
    await appendStreams(orgId, contacts, 200);

    subs.push(await startProjection(orgId, uniqueName('projection')));
    // The second replica is as if in another process: it holds none of the appends in memory and
    // reads every event it takes from the table; the first publishes from the appending store's.
    // Four shards a round each, so that both take shards at the same time.
    const replicas = [undefined, createRecentAppends()].map((recent) =>
      createOutboxRelay({ db, bus, codec, source: '/cmis/test', batchSize: 300, shardsPerRound: 4, recent }),
    );
    await Promise.all(replicas.map((r) => r.flush()));

    const rows = await waitForApplied(orgId, 10_000);
    expect(rows).toHaveLength(10_000);
    expect(new Set(rows.map((r) => r.event_id)).size).toBe(10_000);
    for (const contact of contacts) {
      const seqs = rows.filter((r) => r.contact === contact).map((r) => r.seq);
      expect(seqs).toEqual(Array.from({ length: 200 }, (_, i) => i));
    }
    expect(await replicas[0]!.depth()).toBe(0);
  });

  it("does not wait on another service's relay: shard locks are keyed on schema and shard", async () => {
    const other = createDatabase({ url: testEnv().databaseUrl, schema: uniqueSchema('outbox_other') });
    await other.migrate([...platformMigrations]);
    const { orgId } = throwawayOrg();
    const event = () => ({ ...tracked('contact-x', 0), id: randomUUID() });
    for (const target of [db, other]) {
      await withOrg(target.app, orgId, (trx) =>
        createEventStore(target).append(trx, {
          orgId,
          streamType: 'contact',
          streamId: randomUUID(),
          expectedVersion: 0,
          events: [event()],
        }),
      );
    }
    // Every shard of this schema held, as a replica of its relay in the middle of a round holds them.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const allLocked = new Promise<void>((resolve) => (locked = resolve));
    const holding = db.owner.transaction(async (trx) => {
      await trx.raw('select pg_advisory_xact_lock(?, s) from generate_series(0, ?) s', [
        relayLockClass(db.schema),
        RELAY_SHARDS - 1,
      ]);
      locked();
      await released;
    });
    try {
      await allLocked;
      const relay = (target: Database) =>
        createOutboxRelay({ db: target, bus, codec, source: '/cmis/test', recent: createRecentAppends() });
      expect(await relay(db).runOnce()).toBe(0); // its own schema's shards stay exclusive
      expect(await relay(other).runOnce()).toBe(1); // another schema's do not wait
      expect(await relay(other).depth()).toBe(0);
    } finally {
      release();
      await holding;
      await other.destroy();
    }
    // Its own event goes out once the shards are free again (and leaves nothing to later tests).
    expect(
      await createOutboxRelay({
        db,
        bus,
        codec,
        source: '/cmis/test',
        recent: createRecentAppends(),
      }).flush(),
    ).toBe(1);
  });

  it('sends a round bigger than the broker takes in one request over several, in order', async () => {
    const { orgId } = throwawayOrg();
    // One key, so one shard and one partition: 150 events of ~12 KB are ~1.8 MB in one round,
    // over the broker's 1 MiB for a partition's batch in one request.
    await withOrg(db.app, orgId, (trx) =>
      store().append(trx, {
        orgId,
        streamType: 'contact',
        streamId: 'big-1',
        expectedVersion: 0,
        events: Array.from({ length: 150 }, (_, seq) => {
          const event = tracked('big-1', seq);
          return { ...event, data: { ...event.data, properties: { seq, padding: 'x'.repeat(12_000) } } };
        }),
      }),
    );
    subs.push(await startProjection(orgId, uniqueName('projection')));
    const relay = createOutboxRelay({ db, bus, codec, source: '/cmis/test' });
    expect(await relay.runOnce()).toBe(150);
    const rows = await waitForApplied(orgId, 150);
    expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: 150 }, (_, i) => i));
  });

  it('publishes the same envelope whether the event is held in memory or read back from the table', async () => {
    const { orgId } = throwawayOrg();
    const metadata = {
      correlationId: 'corr-1',
      causationId: 'cause-1',
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    };
    const append = (streamId: string, key?: string) =>
      withOrg(db.app, orgId, (trx) =>
        store().append(trx, {
          orgId,
          streamType: 'contact',
          streamId,
          expectedVersion: 'any',
          events: [{ ...tracked('same', 1), metadata, ...(key ? { key } : {}) }],
        }),
      );
    const publishedBy = async (recent?: ReturnType<typeof createRecentAppends>) => {
      const sent: Array<{ key: string; value: Buffer; headers: Record<string, unknown> }> = [];
      const capturing: Bus = {
        ...bus,
        publishBatch: async (batches) => {
          for (const b of batches) for (const m of b.messages) sent.push(m as (typeof sent)[number]);
        },
      };
      await createOutboxRelay({ db, bus: capturing, codec, source: '/cmis/test', recent }).flush();
      const mine = sent.filter((m) => m.key.startsWith(`${orgId}:`));
      return Promise.all(
        mine.map((m) => codec.decode(topic, { value: m.value, headers: m.headers as never })),
      );
    };

    await append('from-table', `${orgId}:subject-1`);
    const [fromTable] = await publishedBy(createRecentAppends());
    await append('from-memory', `${orgId}:subject-1`);
    const [fromMemory] = await publishedBy();

    expect(fromTable).toMatchObject({
      subject: 'subject-1',
      correlationId: 'corr-1',
      causationId: 'cause-1',
    });
    const { id: tableId, ...table } = fromTable!;
    const { id: memoryId, ...memory } = fromMemory!;
    expect(tableId).not.toBe(memoryId);
    expect({ ...memory, time: table.time }).toEqual(table);
  });

  it('republishes after a crash between publish and mark, and the inbox applies the event once', async () => {
    const { orgId } = throwawayOrg();
    await appendStreams(orgId, ['crash-contact'], 3);

    // The broker acks, then the relay dies before it can mark the rows published.
    const crashingBus: Bus = {
      ...bus,
      publishBatch: async (batches) => {
        await bus.publishBatch(batches);
        throw new Error('relay killed after the broker acked');
      },
    };
    const doomed = createOutboxRelay({ db, bus: crashingBus, codec, source: '/cmis/test' });
    await expect(doomed.runOnce()).rejects.toThrow('relay killed');
    expect(await doomed.depth()).toBeGreaterThanOrEqual(3);

    const survivor = createOutboxRelay({ db, bus, codec, source: '/cmis/test' });
    await survivor.flush();
    const unpublished = await withSystem(db.owner, (trx) =>
      trx('outbox_pending')
        .join('events', 'events.position', 'outbox_pending.position')
        .where('events.org_id', orgId)
        .count<{ count: string }[]>('* as count'),
    );
    expect(Number(unpublished[0]!.count)).toBe(0);

    const groupId = uniqueName('projection');
    subs.push(await startProjection(orgId, groupId));
    const rows = await waitForApplied(orgId, 3);
    // Both copies of each event are on the topic, and the projection's group has committed past them.
    expect(await countOnTopic(bus, orgId, 6)).toBe(6);
    const lags = await until(
      () => bus.lag(groupId, topic),
      (parts) => parts.every((p) => p.lag === 0),
    );
    expect(lags.every((p) => p.lag === 0)).toBe(true);
    const again = await appliedRows(orgId);
    expect(rows.map((r) => r.seq)).toEqual([0, 1, 2]);
    expect(again).toHaveLength(3);
  });
});

/** Reads the topic until `expected` messages of the org were seen (both copies of each event). */
async function countOnTopic(bus: Bus, orgId: string, expected: number): Promise<number> {
  let seen = 0;
  let done: () => void = () => undefined;
  const finished = new Promise<void>((r) => (done = r));
  const sub = await bus.subscribe({
    groupId: uniqueName('count'),
    topics: [topic],
    handleBatch: async (batch) => {
      for (const m of batch.messages) if (m.key?.startsWith(`${orgId}:`)) seen += 1;
      if (seen >= expected) done();
    },
  });
  await Promise.race([finished, new Promise((r) => setTimeout(r, 30_000))]);
  await sub.stop();
  return seen;
}
