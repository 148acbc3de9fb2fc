import { randomBytes } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { createTopics, uniqueName } from '@cmis/testkit';
import { secondsSince, type Benchmark } from './bench';

const MESSAGES = 100_000;
const BATCH = 1_000;
const VALUE_BYTES = 512;

/**
 * Raw kafkajs against the kit's broker: the ceiling every CMIS pipeline is compared with.
 * value = consume rate through a consumer group, reference = idempotent acks=all produce rate.
 */
export const kafkaRaw: Benchmark = {
  name: 'kafka-raw',
  description: `raw kafkajs: produce ${MESSAGES} x ${VALUE_BYTES} B (idempotent, acks=all), then consume them`,
  async run(infra) {
    const kafka = new Kafka({
      brokers: infra.kafkaBrokers,
      clientId: 'bench-kafka-raw',
      logLevel: logLevel.WARN,
    });
    const topic = uniqueName('bench-raw');
    await createTopics([{ topic, numPartitions: 6 }], kafka);
    const value = randomBytes(VALUE_BYTES / 2).toString('hex');

    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const produceStart = process.hrtime.bigint();
    for (let sent = 0; sent < MESSAGES; sent += BATCH) {
      const messages = Array.from({ length: BATCH }, (_, i) => ({
        key: `org:contact-${(sent + i) % 5000}`,
        value,
      }));
      await producer.send({ topic, acks: -1, messages });
    }
    const produceSeconds = secondsSince(produceStart);
    await producer.disconnect();

    const consumer = kafka.consumer({
      groupId: uniqueName('bench-raw'),
      maxBytesPerPartition: 4 * 1024 * 1024,
    });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    let received = 0;
    let consumeStart = 0n;
    await new Promise<void>((resolve) => {
      void consumer.run({
        eachBatch: async ({ batch }) => {
          if (consumeStart === 0n) consumeStart = process.hrtime.bigint();
          received += batch.messages.length;
          if (received >= MESSAGES) resolve();
        },
      });
    });
    const consumeSeconds = secondsSince(consumeStart);
    await consumer.disconnect();

    return {
      name: 'kafka-raw',
      value: MESSAGES / consumeSeconds,
      unit: 'msg/s',
      reference: MESSAGES / produceSeconds,
      details: { produceSeconds: produceSeconds.toFixed(2), consumeSeconds: consumeSeconds.toFixed(2) },
    };
  },
};
