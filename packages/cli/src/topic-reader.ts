// Reads a topic from given offsets up to its end as it was when the read began: what the
// dead-letter and key-rotation commands need (a bounded scan, no consumer group committed).
import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { InfraError, UsageError, withKafkaAdmin } from './cli-support';

export interface TopicRecord {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: Buffer | null;
  headers: Record<string, string>;
  /** Broker timestamp, ms since the epoch. */
  timestamp: string;
}

export interface ReadOptions {
  /** Skips a record before it is kept (cheap filters, e.g. on the key). */
  keep?: (record: TopicRecord) => boolean;
  timeoutMs?: number;
}

export async function readTopic(
  kafka: Kafka,
  topic: string,
  options: ReadOptions = {},
): Promise<TopicRecord[]> {
  const ends = await withKafkaAdmin(kafka, async (admin) => {
    if (!(await admin.listTopics()).includes(topic)) throw new UsageError(`no topic ${topic} on the broker`);
    return admin.fetchTopicOffsets(topic);
  });
  const remaining = new Map(
    ends.filter((e) => BigInt(e.high) > BigInt(e.low)).map((e) => [e.partition, BigInt(e.high)] as const),
  );
  if (remaining.size === 0) return [];
  const records: TopicRecord[] = [];
  // A group of its own that never commits: the read leaves no offsets behind.
  const consumer = kafka.consumer({ groupId: `cmis-cli.read.${randomUUID()}`, maxWaitTimeInMs: 200 });
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new InfraError(`reading ${topic} did not reach its end within ${options.timeoutMs ?? 60_000} ms`),
          ),
        options.timeoutMs ?? 60_000,
      );
      void consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          const end = remaining.get(batch.partition);
          if (end === undefined) return;
          for (const m of batch.messages) {
            if (BigInt(m.offset) >= end) break;
            const headers: Record<string, string> = {};
            for (const [k, v] of Object.entries(m.headers ?? {})) if (v !== undefined) headers[k] = String(v);
            const record: TopicRecord = {
              topic,
              partition: batch.partition,
              offset: m.offset,
              key: m.key?.toString() ?? null,
              value: m.value,
              headers,
              timestamp: m.timestamp,
            };
            if (!options.keep || options.keep(record)) records.push(record);
          }
          if (BigInt(batch.lastOffset()) + 1n >= end) remaining.delete(batch.partition);
          if (remaining.size === 0) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
    await done;
  } catch (error) {
    if (error instanceof InfraError || error instanceof UsageError) throw error;
    throw new InfraError(`cannot read ${topic}: ${(error as Error).message}`);
  } finally {
    await consumer.disconnect().catch(() => undefined);
  }
  return records.sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)));
}
