import type { Pool } from 'pg';
import type { OutgoingMessage } from '../bus';
import { partitionForKey } from './partitioner';
import { wakeChannel } from './schema';
import { inTransaction } from './transaction';
import type { TopicCatalog } from './topics';

interface PartitionAppend {
  topic: string;
  partition: number;
  messages: OutgoingMessage[];
}

/** Splits the batches by partition, keeping each partition's messages in the order given. */
function byPartition(
  batches: Array<{ topic: string; messages: OutgoingMessage[] }>,
  partitions: Map<string, number>,
): PartitionAppend[] {
  const appends = new Map<string, PartitionAppend>();
  for (const { topic, messages } of batches) {
    for (const message of messages) {
      if (typeof message.key !== 'string') throw new Error(`message to ${topic} has no string key`);
      const partition = partitionForKey(message.key, partitions.get(topic)!);
      const id = `${partition}:${topic}`;
      let append = appends.get(id);
      if (!append) appends.set(id, (append = { topic, partition, messages: [] }));
      append.messages.push(message);
    }
  }
  // One lock order for every publisher, so two batches touching the same partitions never deadlock.
  return [...appends.values()].sort((a, b) =>
    a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition,
  );
}

/**
 * Appends all messages in one transaction; resolving means committed (Kafka's acks=all).
 * Each partition's offset row stays locked until commit, so offsets are handed out in commit
 * order: a reader can never see offset n+1 while n is still uncommitted, and a rolled-back
 * publish leaves no gap.
 */
export async function appendMessages(
  pool: Pool,
  schema: string,
  catalog: TopicCatalog,
  batches: Array<{ topic: string; messages: OutgoingMessage[] }>,
): Promise<void> {
  const nonEmpty = batches.filter((b) => b.messages.length > 0);
  if (nonEmpty.length === 0) return;
  const partitions = await catalog.partitionsOf(nonEmpty.map((b) => b.topic));
  const appends = byPartition(nonEmpty, partitions);
  const s = `"${schema}"`;
  await inTransaction(pool, async (client) => {
    for (const { topic, partition, messages } of appends) {
      const inserted = await client.query(
        `with taken as (
           update ${s}.partitions set next_offset = next_offset + $3
           where topic = $1 and partition = $2
           returning next_offset - $3 as first
         )
         insert into ${s}.messages (topic, partition, "offset", key, value, headers)
         select $1, $2, taken.first + m.ordinal - 1, m.key, m.value, m.headers
         from taken, unnest($4::text[], $5::bytea[], $6::jsonb[]) with ordinality as m(key, value, headers, ordinal)`,
        [
          topic,
          partition,
          messages.length,
          messages.map((m) => m.key),
          messages.map((m) => m.value),
          messages.map((m) => JSON.stringify(m.headers ?? {})),
        ],
      );
      if (inserted.rowCount !== messages.length) {
        throw new Error(`partition ${partition} of ${topic} is missing from the embedded bus`);
      }
    }
    await client.query(`select pg_notify($1, p) from unnest($2::text[]) as p`, [
      wakeChannel(schema),
      appends.map((a) => `m:${a.partition}:${a.topic}`),
    ]);
  });
}
