import type { Pool } from 'pg';
import { sweepLockKey } from './keys';

/** Rows deleted per statement: keeps each delete short next to publishers and pollers. */
const CHUNK = 5_000;

/**
 * Deletes the messages past their topic's retention (-1 keeps them forever) and returns how
 * many. Like Kafka's segment deletion it only cuts a prefix of each partition: everything
 * before the first message still within retention goes, so no partition gets holes. One
 * process sweeps at a time; the others skip the round.
 */
export async function sweepRetention(pool: Pool, schema: string): Promise<number> {
  const s = `"${schema}"`;
  const client = await pool.connect();
  let broken = false;
  try {
    const lock = await client.query<{ locked: boolean }>(
      'select pg_try_advisory_lock($1::bigint) as locked',
      [sweepLockKey(schema)],
    );
    if (!lock.rows[0]?.locked) return 0;
    try {
      const { rows } = await client.query<{ topic: string; partition: number; keep_from: string }>(
        `select p.topic, p.partition, coalesce(
           (select min(m."offset") from ${s}.messages m
            where m.topic = p.topic and m.partition = p.partition
              and m."timestamp" >= now() - t.retention_ms * interval '1 millisecond'),
           p.next_offset) as keep_from
         from ${s}.topics t join ${s}.partitions p on p.topic = t.name
         where t.retention_ms >= 0`,
      );
      let deleted = 0;
      for (const { topic, partition, keep_from } of rows) {
        for (;;) {
          const result = await client.query(
            `delete from ${s}.messages where ctid = any(array(
               select ctid from ${s}.messages
               where topic = $1 and partition = $2 and "offset" < $3
               order by "offset" limit $4))`,
            [topic, partition, keep_from, CHUNK],
          );
          deleted += result.rowCount ?? 0;
          if ((result.rowCount ?? 0) < CHUNK) break;
        }
      }
      return deleted;
    } finally {
      // A session still holding the lock must not go back to the pool.
      await client
        .query('select pg_advisory_unlock($1::bigint)', [sweepLockKey(schema)])
        .catch(() => (broken = true));
    }
  } catch (error) {
    broken = true;
    throw error;
  } finally {
    client.release(broken);
  }
}
