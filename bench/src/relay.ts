import { randomUUID } from 'node:crypto';
import { createCodec, userActionsTopic } from '@cmis/contracts';
import {
  createDatabase,
  createEventStore,
  createKafkaBus,
  createOutboxRelay,
  platformMigrations,
  withOrg,
} from '@cmis/platform';
import { uniqueSchema } from '@cmis/testkit';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { secondsSince, type Benchmark } from './bench';

const EVENTS = 50_000;
const BATCH = 1_000;

/** A track event whose encoded envelope is about 500 bytes, like a typical user action. */
export function trackedData(contact: string, i: number) {
  return {
    userId: contact,
    context: {
      ip: '203.0.113.9',
      userAgent: 'Mozilla/5.0 (bench)',
      library: { name: 'bench', version: '1.0.0' },
    },
    messageId: `m-${contact}-${i}`,
    timestamp: new Date(Date.UTC(2026, 0, 1)).toISOString(),
    sourceId: 'src-bench',
    event: 'Order Completed',
    properties: { orderId: `o-${i}`, revenue: 42.5, currency: 'EUR', items: 3 },
  };
}

/**
 * Outbox relay: events already committed to the event store, published to Kafka and marked,
 * beside raw kafkajs producing the same encoded messages (idempotent, acks=all, 1,000 a send).
 */
export const relayBench: Benchmark = {
  name: 'relay',
  description: `outbox relay: ${EVENTS} stored events → Kafka (marked published) vs raw kafkajs produce of the same messages`,
  async run(infra) {
    const codec = createCodec({ registryUrl: infra.schemaRegistryUrl });
    const bus = createKafkaBus({ brokers: infra.kafkaBrokers, clientId: 'bench-relay' });
    const topic = userActionsTopic.name;
    await bus.ensureTopics([{ topic, numPartitions: userActionsTopic.partitions }]);
    const db = createDatabase({ url: infra.databaseUrl, schema: uniqueSchema('bench_relay') });
    await db.migrate(platformMigrations);
    const orgId = randomUUID();

    // Untimed: fill the outbox through the event store (which validates each payload against its
    // topic), 5,000 contacts, ten events per append.
    const store = createEventStore(db);
    for (let contact = 0; contact < 5_000; contact += 250) {
      await withOrg(db.app, orgId, async (trx) => {
        for (let c = contact; c < contact + 250; c += 1) {
          await store.append(trx, {
            orgId,
            streamType: 'contact',
            streamId: `contact-${c}`,
            expectedVersion: 'any',
            events: Array.from({ length: EVENTS / 5_000 }, (_, n) => ({
              id: randomUUID(),
              type: 'cmis.triggers.action-tracked',
              data: trackedData(`contact-${c}`, n * 5_000 + c),
              metadata: {},
              topic,
              occurredAt: new Date(),
            })),
          });
        }
      });
    }

    // Reference: the same encoded messages through raw kafkajs.
    const sample = await codec.encode(topic, {
      id: randomUUID(),
      source: '/bench',
      type: 'cmis.triggers.action-tracked',
      specversion: '1.0',
      time: new Date().toISOString(),
      subject: 'contact-1',
      orgId,
      schemaVersion: 1,
      correlationId: randomUUID(),
      causationId: null,
      data: trackedData('contact-1', 1),
    });
    const kafka = new Kafka({
      brokers: infra.kafkaBrokers,
      clientId: 'bench-relay-raw',
      logLevel: logLevel.WARN,
    });
    const producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await producer.connect();
    const rawStart = process.hrtime.bigint();
    for (let sent = 0; sent < EVENTS; sent += BATCH) {
      await producer.send({
        topic,
        acks: -1,
        messages: Array.from({ length: BATCH }, (_, i) => ({
          key: `${orgId}:contact-${(sent + i) % 5_000}`,
          value: sample.value,
          headers: sample.headers,
        })),
      });
    }
    const rawSeconds = secondsSince(rawStart);
    await producer.disconnect();

    const relay = createOutboxRelay({ db, bus, codec, source: '/cmis/bench', batchSize: BATCH });
    const relayStart = process.hrtime.bigint();
    const published = await relay.flush();
    const relaySeconds = secondsSince(relayStart);
    if (published !== EVENTS) throw new Error(`relay published ${published} of ${EVENTS}`);
    await bus.close();
    await db.destroy();
    return {
      name: 'relay',
      value: EVENTS / relaySeconds,
      unit: 'events/s',
      reference: EVENTS / rawSeconds,
      details: {
        bytesPerMessage: sample.value.length,
        relaySeconds: relaySeconds.toFixed(2),
        rawProduceSeconds: rawSeconds.toFixed(2),
      },
    };
  },
};
