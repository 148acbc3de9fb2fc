import type { Pool } from 'pg';
import type { TopicSpec } from '../bus';
import { UnknownTopicError } from './errors';
import { assertTopicName } from './schema';
import { inTransaction } from './transaction';

/** Kafka's broker default (log.retention.hours=168), used when a TopicSpec names none. */
export const KAFKA_DEFAULT_RETENTION_MS = 7 * 24 * 60 * 60 * 1000;

export interface TopicCatalog {
  /** Creates the topics that do not exist yet; existing ones are left as they are (as on Kafka). */
  ensure(topics: TopicSpec[], defaultRetentionMs: number): Promise<void>;
  /** Partition counts of the topics; throws UnknownTopicError when one was never ensured. */
  partitionsOf(topics: readonly string[]): Promise<Map<string, number>>;
  /** Partition counts of those of the topics that exist. */
  partitionsKnown(topics: readonly string[]): Promise<Map<string, number>>;
}

/** Topics and their partition counts; a topic's count never changes once created, so it is cached. */
export function createTopicCatalog(pool: Pool, schema: string): TopicCatalog {
  const known = new Map<string, number>();
  const s = `"${schema}"`;

  const lookup = async (topics: readonly string[]) => {
    const wanted = [...new Set(topics)];
    const unknown = wanted.filter((t) => !known.has(t));
    if (unknown.length > 0) {
      const { rows } = await pool.query<{ name: string; partitions: number }>(
        `select name, partitions from ${s}.topics where name = any($1::text[])`,
        [unknown],
      );
      for (const row of rows) known.set(row.name, row.partitions);
    }
    return new Map(wanted.filter((t) => known.has(t)).map((t) => [t, known.get(t)!]));
  };

  return {
    async ensure(topics, defaultRetentionMs) {
      for (const t of topics) {
        assertTopicName(t.topic);
        if (!Number.isInteger(t.numPartitions) || t.numPartitions < 1) {
          throw new Error(`topic ${t.topic} needs a positive whole number of partitions`);
        }
        if (t.retentionMs !== undefined && !(Number.isInteger(t.retentionMs) && t.retentionMs >= -1)) {
          throw new Error(`topic ${t.topic}: retentionMs is -1 (forever) or a whole number of ms`);
        }
      }
      const missing = topics.filter((t) => !known.has(t.topic));
      if (missing.length === 0) return;
      await inTransaction(pool, async (client) => {
        // Concurrent creators of one topic: the loser of the insert creates no partitions.
        const created = await client.query<{ name: string; partitions: number }>(
          `insert into ${s}.topics (name, partitions, retention_ms)
           select * from unnest($1::text[], $2::int[], $3::bigint[])
           on conflict (name) do nothing
           returning name, partitions`,
          [
            missing.map((t) => t.topic),
            missing.map((t) => t.numPartitions),
            missing.map((t) => String(t.retentionMs || defaultRetentionMs)),
          ],
        );
        await client.query(
          `insert into ${s}.partitions (topic, partition)
           select t.name, p from unnest($1::text[], $2::int[]) as t(name, partitions),
             generate_series(0, t.partitions - 1) as p`,
          [created.rows.map((r) => r.name), created.rows.map((r) => r.partitions)],
        );
      });
    },

    partitionsKnown: lookup,

    async partitionsOf(topics) {
      const found = await lookup(topics);
      const missing = [...new Set(topics)].filter((t) => !found.has(t));
      if (missing.length > 0) throw new UnknownTopicError(missing);
      return found;
    },
  };
}
