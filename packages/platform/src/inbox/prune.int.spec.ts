import { randomUUID } from 'node:crypto';
import { createCodec, userActionsTopic } from '@cmis/contracts';
import { testEnv, throwawayOrg, uniqueName, uniqueSchema, until } from '@cmis/testkit';
import { createKafkaBus, type Bus, type OutgoingMessage, type Subscription } from '../bus';
import { createDatabase, tenantTable, withOrg, withSystem, type Database } from '../db';
import { platformMigrations } from '../runtime';
import { startInbox } from './inbox';
import { createInboxPruner, DEFAULT_INBOX_RETENTION_MS } from './prune';

const topic = userActionsTopic.name;
const codec = createCodec({ registryUrl: testEnv().schemaRegistryUrl });
const DAY_MS = 86_400_000;

describe('inbox pruning (real Kafka and Postgres)', () => {
  let bus: Bus;
  let db: Database;
  const subs: Subscription[] = [];

  beforeAll(async () => {
    bus = createKafkaBus({ brokers: testEnv().kafkaBrokers!, clientId: uniqueName('prune') });
    await bus.ensureTopics([{ topic, numPartitions: userActionsTopic.partitions }]);
    db = createDatabase({ url: testEnv().databaseUrl, schema: uniqueSchema('inbox_prune') });
    await db.migrate([
      ...platformMigrations,
      {
        name: 'test_0001_seen',
        up: (knex) =>
          tenantTable(knex, 'seen', (t) => {
            t.bigIncrements('applied_order');
            t.text('label').notNullable();
          }),
      },
    ]);
  });
  afterAll(async () => {
    await Promise.allSettled(subs.map((s) => s.stop()));
    await bus.close();
    await db.destroy();
  });

  async function message(orgId: string, id: string, label: string): Promise<OutgoingMessage> {
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
        messageId: `m-${id}`,
        timestamp: new Date().toISOString(),
        sourceId: 'src',
        event: 'Seen',
        properties: { label },
      },
    });
    return { key: `${orgId}:contact-1`, value: encoded.value, headers: encoded.headers };
  }

  const labels = (orgId: string) =>
    withOrg(db.app, orgId, (trx) => trx('seen').orderBy('applied_order').pluck('label')) as Promise<string[]>;
  const recorded = (orgId: string) =>
    withSystem(db.owner, (trx) =>
      trx('inbox_processed').where({ org_id: orgId }).orderBy('event_id').pluck('event_id'),
    ) as Promise<string[]>;

  it('deletes records past the window in small batches, keeps those inside, which still deduplicate', async () => {
    const { orgId } = throwawayOrg();
    const [old, older, recent] = [randomUUID(), randomUUID(), randomUUID()];
    await bus.publish(topic, [
      await message(orgId, old, 'old'),
      await message(orgId, older, 'older'),
      await message(orgId, recent, 'recent'),
    ]);
    subs.push(
      await startInbox({
        bus,
        db,
        codec,
        groupId: uniqueName('seen'),
        topics: [topic],
        handle: async ({ envelope }, { trx, orgId: eventOrg }) => {
          if (eventOrg !== orgId) return;
          await trx('seen').insert({
            org_id: eventOrg,
            label: (envelope.data as { properties: { label: string } }).properties.label,
          });
        },
      }),
    );
    await until(
      () => labels(orgId),
      (l) => l.length >= 3,
    );
    // Two records from before the window, as if processed eight days ago.
    await withSystem(db.owner, (trx) =>
      trx('inbox_processed')
        .whereIn('event_id', [old, older])
        .update({ processed_at: trx.raw(`now() - interval '8 days'`) }),
    );

    const size = {
      value: -1,
      set(n: number) {
        this.value = n;
      },
    };
    const pruner = createInboxPruner({ db, batchSize: 1, size });
    expect(DEFAULT_INBOX_RETENTION_MS).toBe(7 * DAY_MS);
    expect(await pruner.pruneOnce()).toBeGreaterThanOrEqual(2); // other tests' rows may be old too: never ours inside
    expect(await recorded(orgId)).toEqual([recent]);
    expect(size.value).toBeGreaterThanOrEqual(0);

    // A redelivery inside the window changes nothing; one from past it is applied again (the
    // window is longer than topics keep their messages, so that does not happen in production).
    await bus.publish(topic, [
      await message(orgId, recent, 'recent'),
      await message(orgId, old, 'old again'),
    ]);
    expect(
      await until(
        () => labels(orgId),
        (l) => l.length >= 4,
      ),
    ).toEqual(['old', 'older', 'recent', 'old again']);
  });

  it('skips a record a consumer holds instead of waiting for it, and takes it on the next pass', async () => {
    const { orgId } = throwawayOrg();
    const id = randomUUID();
    await withSystem(db.owner, (trx) =>
      trx('inbox_processed').insert({
        org_id: orgId,
        consumer_group: 'g',
        event_id: id,
        processed_at: trx.raw(`now() - interval '30 days'`),
      }),
    );
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const holding = withSystem(db.owner, async (trx) => {
      await trx('inbox_processed').where({ org_id: orgId, event_id: id }).forUpdate();
      locked();
      await held;
    });
    await isLocked;
    const pruner = createInboxPruner({ db, retentionMs: DAY_MS });
    try {
      await pruner.pruneOnce(); // returns although the row is locked
      expect(await recorded(orgId)).toEqual([id]);
    } finally {
      release();
      await holding;
    }
    await pruner.pruneOnce();
    expect(await recorded(orgId)).toEqual([]);
  });
});
