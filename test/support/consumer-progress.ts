// How far the services' consumer groups got, read from the broker the way an operator would
// (committed offsets against the partitions' ends): the fault tests' evidence that a service is
// working again, and their wait for a stage to be consumed. Every call survives a broker restart
// (a failed admin is dropped and the next call connects again).
import { uniqueName } from '@cmis/testkit';
import { Kafka, logLevel, type Admin } from 'kafkajs';

export interface ConsumerProgress {
  /** The groups whose id starts with `prefix` (a service's groups are `<service>.<what>`). */
  groups(prefix: string): Promise<string[]>;
  /** The sum of the groups' committed offsets over every topic they read: grows as they work. */
  committed(groupIds: string[]): Promise<number>;
  /** Messages of every topic the groups read that they have not committed yet (0: caught up). */
  pending(groupIds: string[]): Promise<number>;
  /** Messages of `topic` the groups (each a reader of it) have not committed yet. */
  lag(groupIds: string[], topic: string): Promise<number>;
  close(): Promise<void>;
}

export function consumerProgress(brokers: string[]): ConsumerProgress {
  const kafka = new Kafka({ brokers, clientId: uniqueName('progress'), logLevel: logLevel.NOTHING });
  let admin: Promise<Admin> | undefined;
  const withAdmin = async <T>(work: (a: Admin) => Promise<T>): Promise<T> => {
    admin ??= (async () => {
      const a = kafka.admin({ retry: { retries: 2 } });
      await a.connect();
      return a;
    })();
    const current = admin;
    try {
      return await work(await current);
    } catch (error) {
      if (admin === current) admin = undefined;
      void current.then((a) => a.disconnect()).catch(() => undefined);
      throw error;
    }
  };
  return {
    groups: (prefix) =>
      withAdmin(async (a) =>
        (await a.listGroups()).groups.map((g) => g.groupId).filter((id) => id.startsWith(prefix)),
      ),
    committed: (groupIds) =>
      withAdmin(async (a) => {
        let sum = 0;
        for (const groupId of groupIds) {
          for (const t of await a.fetchOffsets({ groupId })) {
            for (const p of t.partitions) sum += Math.max(0, Number(p.offset));
          }
        }
        return sum;
      }),
    pending: (groupIds) =>
      withAdmin(async (a) => {
        let pending = 0;
        for (const groupId of groupIds) {
          for (const t of await a.fetchOffsets({ groupId })) {
            const ends = new Map((await a.fetchTopicOffsets(t.topic)).map((e) => [e.partition, e]));
            for (const p of t.partitions) {
              const end = ends.get(p.partition);
              if (end) pending += Number(end.high) - Math.max(Number(end.low), Number(p.offset));
            }
          }
        }
        return pending;
      }),
    lag: (groupIds, topic) =>
      withAdmin(async (a) => {
        const ends = await a.fetchTopicOffsets(topic);
        let lag = 0;
        for (const groupId of groupIds) {
          const [read] = await a.fetchOffsets({ groupId, topics: [topic] });
          const done = new Map(read?.partitions.map((p) => [p.partition, Number(p.offset)]) ?? []);
          for (const e of ends) lag += Number(e.high) - Math.max(Number(e.low), done.get(e.partition) ?? -1);
        }
        return lag;
      }),
    async close() {
      const a = await admin?.catch(() => undefined);
      admin = undefined;
      await a?.disconnect().catch(() => undefined);
    },
  };
}
