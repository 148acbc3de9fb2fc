// Whether a consumer group has read, on a key's partition, everything written there by a moment.
// A deadline kept on the wall clock (a wait's timeout) asks this before it decides that an event
// did not come: an event that came in time may still sit in the group's lag after a crash or under
// load, and judging without it acts on a contact who did what was waited for.
import type { Bus, PartitionLag } from './bus';
import { partitionForKey } from './embedded/partitioner';

export interface ReadThroughOptions {
  bus: Pick<Bus, 'lag'>;
  groupId: string;
  topic: string;
  /** The clock the moments passed to check() are on. */
  now?: () => Date;
  /** Offsets read this recently serve every check meanwhile (one fetch, not one per check). */
  maxAgeMs?: number;
}

export interface ReadThroughCheck {
  partition: number;
  /** The offset the group has to reach: the partition's end as read at or after the moment. */
  target: number;
  /** Whether the group's committed offset has reached it. */
  reached: boolean;
}

export interface ReadThrough {
  /**
   * The key's partition (Kafka's default partitioner) and whether the group has read it through.
   * Without `target`, the target is the partition's end offset read at or after `at`: every
   * message written there by then. Pass the target an earlier check returned to wait for those
   * same messages, not for what was written since.
   */
  check(key: string, at: Date, target?: number): Promise<ReadThroughCheck>;
}

type Snapshot = { at: number; parts: PartitionLag[] };

export function createReadThrough(options: ReadThroughOptions): ReadThrough {
  const { bus, groupId, topic } = options;
  const now = options.now ?? (() => new Date());
  const maxAgeMs = options.maxAgeMs ?? 250;
  let latest: Snapshot | undefined;
  let pending: Promise<Snapshot> | undefined;

  const fetch = (): Promise<Snapshot> =>
    (pending ??= (async () => {
      const at = now().getTime();
      const parts = [...(await bus.lag(groupId, topic))].sort((a, b) => a.partition - b.partition);
      latest = { at, parts };
      return latest;
    })().finally(() => {
      pending = undefined;
    }));

  /** Offsets read at or after `notBefore` and no older than maxAgeMs. */
  const snapshot = async (notBefore: number): Promise<Snapshot> => {
    const held = latest;
    if (held && held.at >= notBefore && now().getTime() - held.at <= maxAgeMs) return held;
    const fetched = await fetch();
    // A fetch already under way may have started before the moment: it cannot answer for it.
    return fetched.at >= notBefore ? fetched : fetch();
  };

  return {
    async check(key, at, target) {
      const { parts } = await snapshot(at.getTime());
      if (parts.length === 0) throw new Error(`read-through: topic ${topic} has no partitions`);
      const partition = partitionForKey(key, parts.length);
      const part = parts.find((p) => p.partition === partition);
      if (!part) throw new Error(`read-through: topic ${topic} has no partition ${partition}`);
      const goal = target ?? part.end;
      return { partition, target: goal, reached: part.committed >= goal };
    },
  };
}
