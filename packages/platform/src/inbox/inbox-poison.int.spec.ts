import { randomBytes, randomUUID } from 'node:crypto';
import { createCodec, userActionsTopic } from '@cmis/contracts';
import { testEnv, throwawayOrg, uniqueName, uniqueSchema, until } from '@cmis/testkit';
import {
  createEmbeddedBus,
  createKafkaBus,
  DEAD_LETTER_HEADERS,
  type Bus,
  type BusMessage,
  type OutgoingMessage,
  type Subscription,
} from '../bus';
import { createDatabase, tenantTable, withOrg, type Database } from '../db';
import { platformMigrations } from '../runtime';
import { startInbox } from './inbox';

const topic = userActionsTopic.name;
const deadLetterTopic = userActionsTopic.deadLetterTopic;

/**
 * Postgres refuses some values for good (SQLSTATE class 22): the event that carries one is
 * dead-lettered with Postgres's reason and the partition moves on, on either transport. The
 * payload passes its contract (properties are free-form), so only the write can tell.
 */
describe.each(['kafka', 'embedded'] as const)('inbox on the %s bus: data errors are poison', (transport) => {
  // The embedded transport frames JSON without a registry; Kafka's uses the registry's wire format.
  const codec = createCodec(transport === 'kafka' ? { registryUrl: testEnv().schemaRegistryUrl } : {});
  let bus: Bus;
  let db: Database;
  const subs: Subscription[] = [];

  beforeAll(async () => {
    bus =
      transport === 'kafka'
        ? createKafkaBus({ brokers: testEnv().kafkaBrokers!, clientId: uniqueName('inbox-poison') })
        : createEmbeddedBus({
            databaseUrl: testEnv().databaseUrl,
            schema: `cmis_bus_poison_${randomBytes(4).toString('hex')}`,
            clientId: uniqueName('inbox-poison'),
          });
    await bus.ensureTopics([
      { topic, numPartitions: userActionsTopic.partitions },
      { topic: deadLetterTopic, numPartitions: userActionsTopic.partitions },
    ]);
    db = createDatabase({ url: testEnv().databaseUrl, schema: uniqueSchema('inbox_poison') });
    await db.migrate([
      ...platformMigrations,
      {
        name: 'test_0001_notes',
        up: (knex) =>
          tenantTable(knex, 'notes', (t) => {
            t.bigIncrements('applied_order');
            t.integer('seq').notNullable();
            t.text('note').notNullable();
            t.smallint('weight').notNullable();
          }),
      },
    ]);
  });
  afterAll(async () => {
    await Promise.allSettled(subs.map((s) => s.stop()));
    await bus.close();
    await db.destroy();
  });

  async function tracked(orgId: string, seq: number, properties: Record<string, unknown>) {
    const id = randomUUID();
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
        event: 'Noted',
        properties: { seq, ...properties },
      },
    });
    return { key: `${orgId}:contact-1`, value: encoded.value, headers: encoded.headers } as OutgoingMessage;
  }

  it('dead-letters the event Postgres refuses (NUL text, out-of-range number), applies the rest once, in order', async () => {
    const { orgId } = throwawayOrg();
    const other = throwawayOrg().orgId;
    await bus.publish(topic, [
      await tracked(orgId, 1, { note: 'fine', weight: 1 }),
      await tracked(orgId, 2, { note: 'nul \u0000 inside', weight: 1 }), // 22021 on a text column
      await tracked(other, 1, { note: 'other org', weight: 1 }),
      await tracked(orgId, 3, { note: 'fine', weight: 1 }),
      await tracked(orgId, 4, { note: 'too heavy', weight: 40_000 }), // 22003 smallint out of range
      await tracked(orgId, 5, { note: 'last', weight: 1 }),
    ]);
    const dead: Array<{ message: BusMessage; reason: string }> = [];
    subs.push(
      await startInbox({
        bus,
        db,
        codec,
        groupId: uniqueName('notes'),
        topics: [topic],
        retry: { initialMs: 10, maxMs: 50 },
        onDeadLetter: (message, reason) => dead.push({ message, reason }),
        apply: async (events, { trx, orgId: eventOrg }) => {
          if (eventOrg !== orgId && eventOrg !== other) return;
          await trx('notes').insert(
            events.map(({ envelope }) => {
              const { seq, note, weight } = (envelope.data as { properties: Record<string, unknown> })
                .properties;
              return { org_id: eventOrg, seq, note, weight };
            }),
          );
        },
      }),
    );
    const seqsOf = (org: string) =>
      withOrg(db.app, org, (trx) => trx('notes').orderBy('applied_order').pluck('seq')) as Promise<number[]>;
    expect(
      await until(
        () => seqsOf(orgId),
        (rows) => rows.length >= 3,
        { timeoutMs: 30_000 },
      ),
    ).toEqual([1, 3, 5]);
    // The other org's key may sit on another partition: it is applied in its own time.
    expect(
      await until(
        () => seqsOf(other),
        (rows) => rows.length >= 1,
        { timeoutMs: 30_000 },
      ),
    ).toEqual([1]);
    await until(
      async () => dead.filter((d) => d.message.key === `${orgId}:contact-1`),
      (mine) => mine.length >= 2,
      { timeoutMs: 30_000 },
    );
    const reasons = dead.map((d) => d.reason);
    expect(reasons.some((r) => r.includes('(22021)') || r.includes('(22P05)'))).toBe(true);
    expect(reasons.some((r) => r.includes('(22003)'))).toBe(true);
    // The dead-letter records are on the topic with their reason.
    const onTopic = await until(
      () => deadLettersOf(bus, `${orgId}:contact-1`),
      (found) => found.length >= 2,
      { timeoutMs: 30_000 },
    );
    expect(onTopic.map((m) => m.headers[DEAD_LETTER_HEADERS.reason]).join(' ')).toMatch(/Postgres refused/);
    expect(await seqsOf(orgId)).toEqual([1, 3, 5]); // nothing applied twice by the isolation
  });
});

/** The dead-letter records of one key, read by a throwaway group from the beginning. */
async function deadLettersOf(bus: Bus, key: string): Promise<BusMessage[]> {
  const found: BusMessage[] = [];
  const sub = await bus.subscribe({
    groupId: uniqueName('dead-reader'),
    topics: [deadLetterTopic],
    fromBeginning: true,
    handleBatch: async (batch) => {
      for (const message of batch.messages) if (message.key === key) found.push(message);
    },
  });
  await until(
    async () => found.length,
    (n) => n >= 2,
    { timeoutMs: 20_000 },
  ).catch(() => undefined);
  await sub.stop();
  return found;
}
