import { randomUUID } from 'node:crypto';
import { contactsTopic, createCodec } from '@cmis/contracts';
import {
  createDatabase,
  createKafkaBus,
  platformMigrations,
  startInbox,
  type Migration,
  tenantTable,
  withOrg,
} from '@cmis/platform';
import { uniqueName, uniqueSchema } from '@cmis/testkit';
import { Kafka, logLevel } from 'kafkajs';
import { profiled, secondsSince, type Benchmark } from './bench';

const EVENTS = 50_000;
const ORGS = 20;

/**
 * Inbox: events decoded, validated, deduplicated and applied to a Postgres projection (one
 * transaction per org per batch), beside a plain kafkajs consumer writing the same rows with
 * batched INSERTs (no validation, no dedupe, no per-org transaction). Target: ratio >= 0.7.
 */
export const inboxBench: Benchmark = {
  name: 'inbox',
  description: `inbox: ${EVENTS} events (${ORGS} orgs) applied to a projection vs a plain kafkajs consumer writing the same rows`,
  async run(infra) {
    const codec = createCodec({ registryUrl: infra.schemaRegistryUrl });
    // Contacts: a topic no other benchmark writes, so every message on it is a distinct event
    // (the relay benchmark's reference sends one encoded event many times on user-actions).
    const topic = contactsTopic.name;
    const bus = createKafkaBus({ brokers: infra.kafkaBrokers, clientId: 'bench-inbox' });
    await bus.ensureTopics([{ topic, numPartitions: contactsTopic.partitions }]);
    const orgs = Array.from({ length: ORGS }, () => randomUUID());

    // Untimed: put the events on the topic, encoded as the relay would.
    const messages = await Promise.all(
      Array.from({ length: EVENTS }, async (_, i) => {
        const orgId = orgs[i % ORGS]!;
        const contact = `contact-${i % 2_000}`;
        const encoded = await codec.encode(topic, {
          id: randomUUID(),
          source: '/cmis/bench',
          type: 'cmis.triggers.contact-identified',
          specversion: '1.0',
          time: new Date().toISOString(),
          subject: contact,
          orgId,
          schemaVersion: contactsTopic.schemaVersion,
          correlationId: randomUUID(),
          causationId: null,
          data: {
            userId: contact,
            traits: { email: `${contact}@example.com`, plan: i % 3 === 0 ? 'pro' : 'free', visits: i },
            context: { ip: '203.0.113.9', userAgent: 'Mozilla/5.0 (bench)' },
            messageId: `m-${i}`,
            timestamp: new Date(Date.UTC(2026, 0, 1)).toISOString(),
            sourceId: 'src-bench',
          },
        });
        return { key: `${orgId}:${contact}`, value: encoded.value, headers: encoded.headers };
      }),
    );
    for (let i = 0; i < messages.length; i += 5_000) await bus.publish(topic, messages.slice(i, i + 5_000));
    const kafka = new Kafka({
      brokers: infra.kafkaBrokers,
      clientId: 'bench-inbox-raw',
      logLevel: logLevel.WARN,
    });
    const admin = kafka.admin();
    await admin.connect();
    const total = (await admin.fetchTopicOffsets(topic)).reduce(
      (n, p) => n + Number(p.high) - Number(p.low),
      0,
    );
    await admin.disconnect();

    const db = createDatabase({ url: infra.databaseUrl, schema: uniqueSchema('bench_inbox') });
    const projection = (table: string) => (knex: Parameters<Migration['up']>[0]) =>
      tenantTable(knex, table, (t) => {
        t.uuid('event_id').notNullable();
        t.text('contact').notNullable();
        t.text('event').notNullable();
      });
    await db.migrate([
      ...platformMigrations,
      { name: 'bench_0001_actions', up: projection('actions') },
      { name: 'bench_0002_reference_actions', up: projection('reference_actions') },
    ]);

    // Reference: a plain kafkajs consumer doing the same projection work without the inbox's
    // guarantees: it parses each message (registry framing skipped, no validation) and writes the
    // same rows with one batched INSERT per partition batch, in autocommit (no dedupe, no per-org
    // transaction; the owner's connection, which row-level security lets write any org's rows).
    const consumer = kafka.consumer({ groupId: uniqueName('bench-raw') });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    let seen = 0;
    const rawStart = process.hrtime.bigint();
    await new Promise<void>((resolve, reject) => {
      void consumer.run({
        partitionsConsumedConcurrently: 4,
        eachBatch: async ({ batch }) => {
          const rows = batch.messages.map((m) => {
            const value = m.value!;
            return JSON.parse(value.subarray(value[0] === 0 ? 5 : 0).toString('utf8')) as {
              id: string;
              orgId: string;
              subject: string;
              type: string;
            };
          });
          await db.owner
            .raw(
              `insert into reference_actions (org_id, event_id, contact, event)
               select unnest(?::uuid[]), unnest(?::uuid[]), unnest(?::text[]), unnest(?::text[])`,
              [
                rows.map((r) => r.orgId),
                rows.map((r) => r.id),
                rows.map((r) => r.subject),
                rows.map((r) => r.type),
              ],
            )
            .catch(reject);
          seen += batch.messages.length;
          if (seen >= total) resolve();
        },
      });
    });
    const rawSeconds = secondsSince(rawStart);
    await consumer.disconnect();

    let applied = 0;
    let allApplied: () => void = () => undefined;
    const done = new Promise<void>((r) => (allApplied = r));
    const inboxStart = process.hrtime.bigint();
    const cpuStart = process.cpuUsage();
    const sub = await profiled('inbox', async () => {
      const started = await startInbox({
        bus,
        db,
        codec,
        groupId: uniqueName('bench-inbox'),
        topics: [topic],
        apply: async (events, { trx, orgId }) => {
          // A bulk projection as services write them: one statement, one array per column.
          await trx.raw(
            `insert into actions (org_id, event_id, contact, event)
             select ?, unnest(?::uuid[]), unnest(?::text[]), unnest(?::text[])`,
            [
              orgId,
              events.map((e) => e.envelope.id),
              events.map((e) => e.envelope.subject),
              events.map((e) => e.envelope.type),
            ],
          );
          applied += events.length;
          if (applied >= total) allApplied();
        },
      });
      await done;
      return started;
    });
    const inboxSeconds = secondsSince(inboxStart);
    const cpu = process.cpuUsage(cpuStart);
    await sub.stop();
    const check = await withOrg(db.app, orgs[0]!, (trx) =>
      trx('actions').count<{ count: string }[]>('* as count'),
    );
    if (Number(check[0]!.count) !== EVENTS / ORGS) throw new Error(`org 0 has ${check[0]!.count} rows`);
    await bus.close();
    await db.destroy();
    return {
      name: 'inbox',
      value: total / inboxSeconds,
      unit: 'events/s',
      reference: total / rawSeconds,
      details: {
        messagesOnTopic: total,
        inboxSeconds: inboxSeconds.toFixed(2),
        // This process only (kafkajs, decoding, the pg client); Postgres works in its own.
        inboxCpuMicrosPerEvent: ((cpu.user + cpu.system) / total).toFixed(1),
        referenceSeconds: rawSeconds.toFixed(2),
      },
    };
  },
};
