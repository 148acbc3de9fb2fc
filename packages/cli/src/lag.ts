// `cmis lag`: per consumer group and topic partition, the committed offset, the end offset and
// the lag between them. On Kafka from its admin API; on the embedded bus from its tables.
import pg from 'pg';
import { formatTable, InfraError, kafkaClient, UsageError, withKafkaAdmin } from './cli-support';

export interface PartitionLag {
  group: string;
  topic: string;
  partition: number;
  /** The next offset the group will read; null when it committed nothing on the partition. */
  committed: string | null;
  end: string;
  lag: number;
}

/** The schema the all-in-one process keeps the embedded bus in. */
export const EMBEDDED_BUS_SCHEMA = 'cmis_bus';

export async function consumerLag(
  env: NodeJS.ProcessEnv,
  options: { group?: string } = {},
): Promise<PartitionLag[]> {
  if (env.KAFKA_BROKERS) return kafkaLag(env, options.group);
  if (env.DATABASE_URL)
    return embeddedLag(env.DATABASE_URL, env.CMIS_BUS_SCHEMA ?? EMBEDDED_BUS_SCHEMA, options.group);
  throw new InfraError('cmis lag needs KAFKA_BROKERS (Kafka) or DATABASE_URL (the embedded bus)');
}

async function kafkaLag(env: NodeJS.ProcessEnv, only?: string): Promise<PartitionLag[]> {
  return withKafkaAdmin(kafkaClient(env, 'cmis lag'), async (admin) => {
    const groups = only ? [only] : (await admin.listGroups()).groups.map((g) => g.groupId).sort();
    if (only && !(await admin.listGroups()).groups.some((g) => g.groupId === only))
      throw new UsageError(`no consumer group ${only} on the broker`);
    const ends = new Map<string, Map<number, { high: string; low: string }>>();
    const endsOf = async (topic: string) => {
      let found = ends.get(topic);
      if (!found) {
        found = new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, o]));
        ends.set(topic, found);
      }
      return found;
    };
    const rows: PartitionLag[] = [];
    for (const group of groups) {
      for (const { topic, partitions } of await admin.fetchOffsets({ groupId: group })) {
        const topicEnds = await endsOf(topic);
        for (const p of partitions) {
          const end = topicEnds.get(p.partition);
          if (!end) continue;
          const committed = Number(p.offset) >= 0 ? p.offset : null;
          // Nothing committed: the group starts at the oldest kept record, as the bus reports it.
          const from = committed ?? end.low;
          rows.push({
            group,
            topic,
            partition: p.partition,
            committed,
            end: end.high,
            lag: Math.max(0, Number(BigInt(end.high) - BigInt(from))),
          });
        }
      }
    }
    return rows.sort(
      (a, b) => a.group.localeCompare(b.group) || a.topic.localeCompare(b.topic) || a.partition - b.partition,
    );
  });
}

async function embeddedLag(databaseUrl: string, schema: string, only?: string): Promise<PartitionLag[]> {
  if (!/^[a-z_][a-z0-9_]{0,49}$/.test(schema)) throw new UsageError(`not a schema name: ${schema}`);
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
  } catch (error) {
    throw new InfraError(`cannot reach Postgres: ${(error as Error).message}`);
  }
  try {
    const s = `"${schema}"`;
    const { rows } = await client.query<{
      group_id: string;
      topic: string;
      partition: number;
      committed: string;
      high: string;
      low: string | null;
    }>(
      `select c.group_id, c.topic, c.partition, c."offset" as committed, p.next_offset as high,
              (select min(m."offset") from ${s}.messages m
                where m.topic = c.topic and m.partition = c.partition) as low
         from ${s}.committed_offsets c
         join ${s}.partitions p on p.topic = c.topic and p.partition = c.partition
        where $1::text is null or c.group_id = $1
        order by c.group_id, c.topic, c.partition`,
      [only ?? null],
    );
    if (only && rows.length === 0) throw new UsageError(`no consumer group ${only} on the embedded bus`);
    return rows.map((r) => {
      const high = BigInt(r.high);
      const low = r.low === null ? high : BigInt(r.low);
      const committed = BigInt(r.committed);
      return {
        group: r.group_id,
        topic: r.topic,
        partition: r.partition,
        committed: r.committed,
        end: r.high,
        lag: Number(high - (committed > low ? committed : low)),
      };
    });
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new InfraError(`cannot read the embedded bus (schema ${schema}): ${(error as Error).message}`);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export function formatLag(rows: readonly PartitionLag[]): string {
  if (rows.length === 0) return 'no committed offsets\n';
  return formatTable(
    ['GROUP', 'TOPIC', 'PARTITION', 'COMMITTED', 'END', 'LAG'],
    rows.map((r) => [r.group, r.topic, String(r.partition), r.committed ?? '-', r.end, String(r.lag)]),
  );
}
