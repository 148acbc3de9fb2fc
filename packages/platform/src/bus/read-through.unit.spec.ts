import type { PartitionLag } from './bus';
import { partitionForKey } from './embedded/partitioner';
import { createReadThrough } from './read-through';

/** Offsets the test moves by hand, and every read of them with the clock at that moment. */
function offsets(partitions: number) {
  let clock = 1_000;
  const parts: PartitionLag[] = Array.from({ length: partitions }, (_, partition) => ({
    partition,
    committed: 0,
    end: 0,
    lag: 0,
  }));
  const reads: number[] = [];
  const set = (partition: number, committed: number, end: number) => {
    parts[partition] = { partition, committed, end, lag: end - committed };
  };
  const bus = {
    lag: async () => {
      reads.push(clock);
      return parts.map((p) => ({ ...p }));
    },
  };
  return {
    bus,
    reads,
    set,
    now: () => new Date(clock),
    tick: (ms: number) => (clock += ms),
  };
}

describe('read-through', () => {
  const key = 'org-1:contact-7';
  const partition = partitionForKey(key, 3);

  it("waits for the key's partition end as read at the moment, and only for that", async () => {
    const o = offsets(3);
    const rt = createReadThrough({ bus: o.bus, groupId: 'g', topic: 't', now: o.now });
    o.set(partition, 4, 9);
    const first = await rt.check(key, o.now());
    expect(first).toEqual({ partition, target: 9, reached: false });

    // More written since: the same target is reached once the group passes 9, not 12.
    o.tick(300);
    o.set(partition, 9, 12);
    expect(await rt.check(key, o.now(), first.target)).toEqual({ partition, target: 9, reached: true });
    // Without the earlier target, a check now waits for what is there now.
    expect(await rt.check(key, o.now())).toEqual({ partition, target: 12, reached: false });
  });

  it('reads once for the checks of one moment, and again for a later moment or stale offsets', async () => {
    const o = offsets(3);
    const rt = createReadThrough({ bus: o.bus, groupId: 'g', topic: 't', now: o.now, maxAgeMs: 250 });
    await Promise.all([rt.check(key, o.now()), rt.check('org-1:other', o.now()), rt.check(key, o.now())]);
    expect(o.reads).toEqual([1_000]);
    o.tick(100);
    await rt.check(key, new Date(1_000));
    expect(o.reads).toHaveLength(1); // fresh enough and read after the moment
    await rt.check(key, o.now());
    expect(o.reads).toEqual([1_000, 1_100]); // read before the moment asked about
    o.tick(300);
    await rt.check(key, new Date(1_000));
    expect(o.reads).toEqual([1_000, 1_100, 1_400]); // older than maxAgeMs
  });

  it('an idle partition with nothing unread is read through at once', async () => {
    const o = offsets(6);
    const rt = createReadThrough({ bus: o.bus, groupId: 'g', topic: 't', now: o.now });
    const p = partitionForKey(key, 6);
    o.set(p, 40, 40);
    expect(await rt.check(key, o.now())).toEqual({ partition: p, target: 40, reached: true });
  });

  it('a topic it cannot see is an error, not a yes', async () => {
    const rt = createReadThrough({ bus: { lag: async () => [] }, groupId: 'g', topic: 't' });
    await expect(rt.check(key, new Date())).rejects.toThrow('topic t has no partitions');
  });
});
