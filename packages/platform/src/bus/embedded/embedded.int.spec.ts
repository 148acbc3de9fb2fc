import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import type { Bus, BusMessage, Subscription } from '../bus';
import { busConformanceSuite } from '../conformance';
import { createEmbeddedBus, type EmbeddedBus, type EmbeddedBusOptions } from './embedded-bus';
import { UnknownTopicError } from './errors';
import type { StuckHandler } from './group-member';
import { partitionForKey } from './partitioner';

const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const schema = `cmis_bus_test_${randomBytes(5).toString('hex')}`;
const unique = (prefix: string) => `${prefix}-${randomBytes(5).toString('hex')}`;

const opened: Bus[] = [];
const subs: Subscription[] = [];
const makeBus = (overrides: Partial<EmbeddedBusOptions> = {}): EmbeddedBus => {
  const bus = createEmbeddedBus({ databaseUrl, schema, clientId: unique('embedded'), ...overrides });
  opened.push(bus);
  return bus;
};
const track = (s: Subscription) => {
  subs.push(s);
  return s;
};

/** Stops what a test left running, so one file never holds more sessions than one test needs. */
const closeOpened = async () => {
  await Promise.allSettled(subs.splice(0).map((s) => s.stop()));
  await Promise.allSettled(opened.splice(0).map((b) => b.close()));
};

let admin: Client;
beforeAll(async () => {
  admin = new Client({ connectionString: databaseUrl });
  await admin.connect();
});
afterAll(async () => {
  await closeOpened();
  await admin.query(`drop schema if exists "${schema}" cascade`);
  await admin.end();
});

busConformanceSuite('embedded', async () => makeBus());

/** Resolves once `predicate` holds, polling; fails with `what` after the deadline. */
async function eventually(predicate: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const msg = (key: string, value: string) => ({ key, value: Buffer.from(value) });
const values = (messages: BusMessage[]) => messages.map((m) => m.value!.toString());
const storedCount = async (topic: string) =>
  Number(
    (await admin.query(`select count(*) from "${schema}".messages where topic = $1`, [topic])).rows[0].count,
  );

describe('embedded bus', () => {
  afterEach(closeOpened);

  it('creates its schema once when several processes start at the same time', async () => {
    const racing = `cmis_bus_race_${randomBytes(4).toString('hex')}`;
    const buses = Array.from({ length: 4 }, () => makeBus({ schema: racing }));
    try {
      const topic = unique('race');
      await Promise.all(buses.map((b) => b.ensureTopics([{ topic, numPartitions: 3 }])));
      const { rows } = await admin.query(
        `select count(*)::int as n from "${racing}".partitions where topic = $1`,
        [topic],
      );
      expect(rows[0].n).toBe(3);
    } finally {
      await Promise.all(buses.map((b) => b.close()));
      await admin.query(`drop schema if exists "${racing}" cascade`);
    }
  });

  it('refuses to publish to, subscribe to or measure a topic nobody ensured', async () => {
    const bus = makeBus();
    const topic = unique('missing');
    await expect(bus.publish(topic, [msg('org-1:a', 'x')])).rejects.toBeInstanceOf(UnknownTopicError);
    await expect(bus.publish(topic, [msg('org-1:a', 'x')])).rejects.toThrow(/ensureTopics/);
    await expect(
      bus.subscribe({ groupId: unique('g'), topics: [topic], handleBatch: async () => undefined }),
    ).rejects.toBeInstanceOf(UnknownTopicError);
    await expect(bus.lag(unique('g'), topic)).rejects.toBeInstanceOf(UnknownTopicError);
  });

  it('hands out offsets per partition without gaps, also under concurrent publishers', async () => {
    const bus = makeBus();
    const topic = unique('offsets');
    await bus.ensureTopics([{ topic, numPartitions: 3 }]);
    await Promise.all(
      Array.from({ length: 10 }, (_, p) =>
        bus.publish(
          topic,
          Array.from({ length: 30 }, (_, i) => msg(`org-1:c-${i % 7}`, `${p}-${i}`)),
        ),
      ),
    );
    const { rows } = await admin.query<{ partition: number; offsets: string[] }>(
      `select partition, array_agg("offset" order by "offset") as offsets
       from "${schema}".messages where topic = $1 group by partition`,
      [topic],
    );
    let total = 0;
    for (const row of rows) {
      expect(row.offsets.map(Number)).toEqual(row.offsets.map((_, i) => i));
      total += row.offsets.length;
    }
    expect(total).toBe(300);
  });

  it('starts a new group at the end when fromBeginning is false', async () => {
    const bus = makeBus();
    const topic = unique('latest');
    await bus.ensureTopics([{ topic, numPartitions: 2 }]);
    await bus.publish(topic, [msg('org-1:a', 'old-a'), msg('org-1:b', 'old-b')]);
    const seen: BusMessage[] = [];
    track(
      await bus.subscribe({
        groupId: unique('g'),
        topics: [topic],
        fromBeginning: false,
        handleBatch: async (batch) => void seen.push(...batch.messages),
      }),
    );
    await bus.publish(topic, [msg('org-1:a', 'new-a'), msg('org-1:b', 'new-b')]);
    await eventually(() => seen.length >= 2, 'the new messages');
    expect(values(seen).sort()).toEqual(['new-a', 'new-b']);
  });

  it('continues a group where it stopped after a restart: nothing lost, nothing repeated', async () => {
    const first = makeBus();
    const topic = unique('restart');
    const groupId = unique('g');
    await first.ensureTopics([{ topic, numPartitions: 3 }]);
    const keys = Array.from({ length: 6 }, (_, i) => `org-1:c-${i}`);
    const round = (from: number, to: number) =>
      Array.from({ length: to - from }, (_, i) => msg(keys[(from + i) % keys.length]!, String(from + i)));
    await first.publish(topic, round(0, 30));

    const before: BusMessage[] = [];
    const sub = await first.subscribe({
      groupId,
      topics: [topic],
      handleBatch: async (batch) => void before.push(...batch.messages),
    });
    await eventually(() => before.length >= 30, 'the first 30 messages');
    await sub.stop();
    await first.close();
    expect(await first.ready()).toBe(false);

    const second = makeBus();
    await second.publish(topic, round(30, 45));
    expect((await second.lag(groupId, topic)).reduce((sum, p) => sum + p.lag, 0)).toBe(15);
    const after: BusMessage[] = [];
    track(
      await second.subscribe({
        groupId,
        topics: [topic],
        handleBatch: async (batch) => void after.push(...batch.messages),
      }),
    );
    await eventually(() => after.length >= 15, 'the 15 messages published during the restart');
    // A sentinel per partition arrives after anything that could still be redelivered.
    await second.publish(
      topic,
      keys.map((key) => msg(key, `end:${key}`)),
    );
    await eventually(() => after.length >= 15 + keys.length, 'the sentinels');
    expect(
      values(before)
        .map(Number)
        .sort((a, b) => a - b),
    ).toEqual(Array.from({ length: 30 }, (_, i) => i));
    const resumed = values(after).filter((v) => !v.startsWith('end:'));
    expect(resumed.map(Number).sort((a, b) => a - b)).toEqual(Array.from({ length: 15 }, (_, i) => 30 + i));
    expect(after).toHaveLength(15 + keys.length);
    expect(await second.lag(groupId, topic)).toEqual(
      [0, 1, 2].map((partition) => expect.objectContaining({ partition, lag: 0 })),
    );
  });

  it('sweeps messages past their retention and keeps the rest', async () => {
    const bus = makeBus({ retentionSweepIntervalMs: 0 });
    const shortLived = unique('short');
    const kept = unique('forever');
    await bus.ensureTopics([
      { topic: shortLived, numPartitions: 2, retentionMs: 300 },
      { topic: kept, numPartitions: 1, retentionMs: -1 },
    ]);
    await bus.publish(
      shortLived,
      Array.from({ length: 10 }, (_, i) => msg(`org-1:c-${i}`, `old-${i}`)),
    );
    await bus.publish(kept, [msg('org-1:a', 'keep-me')]);
    const start = Date.now();
    await bus.sweepRetention();
    if (Date.now() - start < 250) expect(await storedCount(shortLived)).toBe(10);

    await new Promise((r) => setTimeout(r, 400));
    await bus.publish(shortLived, [msg('org-1:c-0', 'fresh')]);
    expect(await bus.sweepRetention()).toBeGreaterThanOrEqual(10);
    expect(await storedCount(shortLived)).toBe(1);
    expect(await storedCount(kept)).toBe(1);

    // A group reading from the beginning starts at the oldest message kept; offsets go on.
    const groupId = unique('g');
    expect((await bus.lag(groupId, shortLived)).reduce((sum, p) => sum + p.lag, 0)).toBe(1);
    const seen: BusMessage[] = [];
    track(
      await bus.subscribe({
        groupId,
        topics: [shortLived],
        handleBatch: async (b) => void seen.push(...b.messages),
      }),
    );
    await eventually(() => seen.length >= 1, 'the fresh message');
    expect(values(seen)).toEqual(['fresh']);
    expect(Number(seen[0]!.offset)).toBeGreaterThan(0);
  });

  it('sweeps retention periodically on its own', async () => {
    const bus = makeBus({ retentionSweepIntervalMs: 100 });
    const topic = unique('periodic');
    await bus.ensureTopics([{ topic, numPartitions: 1, retentionMs: 200 }]);
    await bus.publish(topic, [msg('org-1:a', 'x'), msg('org-1:a', 'y')]);
    await eventually(async () => (await storedCount(topic)) === 0, 'the periodic sweep', 10_000);
  });

  it('splits partitions between two processes and hands all to one when the other closes', async () => {
    const [busA, busB] = [makeBus(), makeBus()];
    const topic = unique('processes');
    const groupId = unique('g');
    await busA.ensureTopics([{ topic, numPartitions: 4 }]);
    const seen: Array<{ member: 'A' | 'B'; message: BusMessage }> = [];
    const inFlight = new Set<number>();
    let overlapped = false;
    const handler = (member: 'A' | 'B') => async (batch: { partition: number; messages: BusMessage[] }) => {
      if (inFlight.has(batch.partition)) overlapped = true;
      inFlight.add(batch.partition);
      await new Promise((r) => setTimeout(r, 5));
      seen.push(...batch.messages.map((message) => ({ member, message })));
      inFlight.delete(batch.partition);
    };
    const subA = await busA.subscribe({ groupId, topics: [topic], handleBatch: handler('A') });
    track(await busB.subscribe({ groupId, topics: [topic], handleBatch: handler('B') }));

    const publishRound = (round: string) =>
      busB.publish(
        topic,
        Array.from({ length: 100 }, (_, i) => msg(`org-1:c-${i}`, `${round}-${i}`)),
      );
    await publishRound('one');
    await eventually(() => seen.length >= 100, 'round one');
    const partitionsOf = (member: 'A' | 'B', round: string) =>
      new Set(
        seen
          .filter((s) => s.member === member && s.message.value!.toString().startsWith(round))
          .map((s) => s.message.partition),
      );
    const [a, b] = [partitionsOf('A', 'one'), partitionsOf('B', 'one')];
    expect(a.size).toBe(2);
    expect(b.size).toBe(2);
    expect([...a].filter((p) => b.has(p))).toEqual([]);

    await subA.stop();
    await busA.close();
    await publishRound('two');
    // Sentinels on every key come after anything A's partitions could redeliver.
    await publishRound('end');
    await eventually(
      () => partitionsOf('B', 'end').size === 4 && seen.length >= 300,
      'round two and sentinels',
    );
    expect(partitionsOf('A', 'two').size).toBe(0);
    expect(partitionsOf('B', 'two')).toEqual(new Set([0, 1, 2, 3]));
    const delivered = seen.map((s) => s.message.value!.toString());
    expect(delivered).toHaveLength(300);
    expect(new Set(delivered).size).toBe(300);
    expect(overlapped).toBe(false);
  });

  it('never lets two members deliver one partition at once while the group rebalances', async () => {
    const [busA, busB] = [
      makeBus({ partitionsConsumedConcurrently: 4 }),
      makeBus({ partitionsConsumedConcurrently: 4 }),
    ];
    const topic = unique('exclusive');
    const groupId = unique('g');
    await busA.ensureTopics([{ topic, numPartitions: 4 }]);
    const inFlight = new Map<number, string>();
    const overlaps: string[] = [];
    const seen: BusMessage[] = [];
    const handler = (member: string) => async (batch: { partition: number; messages: BusMessage[] }) => {
      const other = inFlight.get(batch.partition);
      if (other) overlaps.push(`${member} and ${other} on partition ${batch.partition}`);
      inFlight.set(batch.partition, member);
      // Slow enough that the joining member arrives while every partition has a batch in hand.
      await new Promise((r) => setTimeout(r, 150));
      inFlight.delete(batch.partition);
      seen.push(...batch.messages);
    };
    track(await busA.subscribe({ groupId, topics: [topic], handleBatch: handler('A') }));
    const keys = Array.from({ length: 16 }, (_, i) => `org-1:c-${i}`);
    for (let round = 0; round < 5; round += 1) {
      await busA.publish(
        topic,
        keys.map((key) => msg(key, String(round))),
      );
    }
    await eventually(() => inFlight.size === 4, 'A to hold a batch on every partition');
    track(await busB.subscribe({ groupId, topics: [topic], handleBatch: handler('B') }));
    await eventually(() => new Set(seen.map((m) => `${m.key}/${m.value!.toString()}`)).size >= 80, 'all 80');
    expect(overlaps).toEqual([]);
    for (const key of keys) {
      const order = [...new Set(seen.filter((m) => m.key === key).map((m) => Number(m.value!.toString())))];
      expect(order).toEqual([0, 1, 2, 3, 4]);
    }
  });

  it('delivers every message exactly once and in key order while concurrent publishers write', async () => {
    const bus = makeBus();
    const topic = unique('concurrent');
    await bus.ensureTopics([{ topic, numPartitions: 3 }]);
    const seen: BusMessage[] = [];
    track(
      await bus.subscribe({
        groupId: unique('g'),
        topics: [topic],
        handleBatch: async (batch) => void seen.push(...batch.messages),
      }),
    );
    const publishers = 8;
    const perPublisher = 25;
    await Promise.all(
      Array.from({ length: publishers }, async (_, p) => {
        for (let i = 0; i < perPublisher; i += 1) {
          await bus.publish(topic, [msg(`org-1:p-${p}`, String(i)), msg(`org-1:q-${p}`, String(i))]);
        }
      }),
    );
    await eventually(() => seen.length >= publishers * perPublisher * 2, 'every message');
    expect(seen).toHaveLength(publishers * perPublisher * 2);
    for (let p = 0; p < publishers; p += 1) {
      for (const key of [`org-1:p-${p}`, `org-1:q-${p}`]) {
        expect(seen.filter((m) => m.key === key).map((m) => Number(m.value!.toString()))).toEqual(
          Array.from({ length: perPublisher }, (_, i) => i),
        );
      }
    }
  });

  it('takes a crashed member’s partitions over at once, and the member rejoins with a new session', async () => {
    const errors: string[] = [];
    const clientIdA = unique('crashing');
    const busA = makeBus({ clientId: clientIdA, onError: (message) => errors.push(message) });
    const clientIdB = unique('surviving');
    const busB = makeBus({ clientId: clientIdB });
    const topic = unique('session');
    const groupId = unique('g');
    await busA.ensureTopics([{ topic, numPartitions: 4 }]);
    const seen: Array<{ member: 'A' | 'B'; message: BusMessage }> = [];
    const inFlight = new Set<number>();
    let overlapped = false;
    const handler = (member: 'A' | 'B') => async (batch: { partition: number; messages: BusMessage[] }) => {
      if (inFlight.has(batch.partition)) overlapped = true;
      inFlight.add(batch.partition);
      await new Promise((r) => setTimeout(r, 2));
      seen.push(...batch.messages.map((message) => ({ member, message })));
      inFlight.delete(batch.partition);
    };
    track(await busA.subscribe({ groupId, topics: [topic], handleBatch: handler('A') }));
    track(await busB.subscribe({ groupId, topics: [topic], handleBatch: handler('B') }));
    const distinct = () => new Set(seen.map((s) => s.message.value!.toString())).size;
    const publishRound = (round: number) =>
      busB.publish(
        topic,
        Array.from({ length: 100 }, (_, i) => msg(`org-1:c-${i % 16}`, String(round * 100 + i))),
      );

    await publishRound(0);
    await eventually(() => distinct() >= 100, 'round 0');
    // Kill A's member session as a crash would; the dead session's locks go with it.
    const memberSession = `${clientIdA}:${groupId}`.slice(0, 63);
    const killed = await admin.query<{ pid: number }>(
      `select pid, pg_terminate_backend(pid) from pg_stat_activity where application_name = $1`,
      [memberSession],
    );
    expect(killed.rows).toHaveLength(1);
    await publishRound(1);
    await eventually(() => distinct() >= 200, 'round 1');
    await eventually(async () => {
      const { rows } = await admin.query<{ pid: number }>(
        `select pid from pg_stat_activity where application_name = $1`,
        [memberSession],
      );
      return rows.length === 1 && rows[0]!.pid !== killed.rows[0]!.pid;
    }, 'A to reconnect');
    expect(errors.some((e) => e.includes('member session lost'))).toBe(true);
    await eventually(async () => {
      const { rows } = await admin.query(
        `select count(*)::int as n from "${schema}".members where group_id = $1`,
        [groupId],
      );
      return rows[0].n === 2;
    }, 'A to rejoin the group');

    // Once A is back, the group splits the partitions again: each member session holds its own
    // advisory lock and those of two partitions.
    const locksHeld = async (clientId: string) => {
      const { rows } = await admin.query(
        `select count(*)::int as n from pg_locks l join pg_stat_activity a on a.pid = l.pid
         where l.locktype = 'advisory' and a.application_name = $1`,
        [`${clientId}:${groupId}`.slice(0, 63)],
      );
      return rows[0].n as number;
    };
    await eventually(
      async () => (await locksHeld(clientIdA)) === 3 && (await locksHeld(clientIdB)) === 3,
      'the partitions to be split again',
    );
    const before = seen.length;
    await publishRound(2);
    await eventually(() => distinct() >= 300, 'round 2');
    const round2 = seen.slice(before).filter((s) => Number(s.message.value!.toString()) >= 200);
    const partitionsOf = (member: 'A' | 'B') =>
      new Set(round2.filter((s) => s.member === member).map((s) => s.message.partition));
    expect(partitionsOf('A').size).toBe(2);
    expect(partitionsOf('B').size).toBe(2);

    expect(overlapped).toBe(false);
    // At least once, and per key in publish order (a redelivered batch repeats, never reorders).
    for (let k = 0; k < 16; k += 1) {
      const firstSeen = [
        ...new Set(
          seen
            .filter((s) => s.message.key === `org-1:c-${k}`)
            .map((s) => Number(s.message.value!.toString())),
        ),
      ];
      expect(firstSeen).toEqual([...firstSeen].sort((a, b) => a - b));
    }
  });
});

describe('embedded bus: a stuck handler', () => {
  afterEach(closeOpened);

  it('holds up neither stop nor the other partitions, is reported, and commits nothing when it ends late', async () => {
    const stuck: StuckHandler[] = [];
    const busA = makeBus({
      handlerDeadlineMs: 500,
      partitionsConsumedConcurrently: 2,
      onStuckHandler: (s) => stuck.push(s),
    });
    const topic = unique('stuck');
    const groupId = unique('g');
    await busA.ensureTopics([{ topic, numPartitions: 2 }]);
    await busA.publish(
      topic,
      Array.from({ length: 20 }, (_, i) => msg(`org-1:c-${i}`, String(i))),
    );
    const onPartition = (p: number) =>
      Array.from({ length: 20 }, (_, i) => i).filter((i) => partitionForKey(`org-1:c-${i}`, 2) === p);
    expect(onPartition(0).length).toBeGreaterThan(0);
    expect(onPartition(1).length).toBeGreaterThan(0);

    let unstick: () => void = () => undefined;
    const handledByA: BusMessage[] = [];
    const subA = await busA.subscribe({
      groupId,
      topics: [topic],
      fromBeginning: true,
      handleBatch: async (batch) => {
        if (batch.partition === 0) {
          // Never returns until the test lets it, long after the deadline.
          await new Promise<void>((resolve) => (unstick = resolve));
        }
        handledByA.push(...batch.messages);
      },
    });
    await eventually(() => handledByA.length === onPartition(1).length, 'partition 1 beside the stuck one');

    const started = Date.now();
    const stopped = await Promise.race([
      subA.stop().then(() => 'stopped'),
      new Promise((r) => setTimeout(() => r('still waiting'), 5_000)),
    ]);
    expect(stopped).toBe('stopped');
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(stuck).toEqual([expect.objectContaining({ groupId, topic, partition: 0 })]);
    expect(stuck[0]!.stuckMs).toBeGreaterThanOrEqual(500);
    expect(busA.stuckHandlers()).toBe(1);

    // The handler ends after its partition was released: its batch is not committed.
    unstick();
    await eventually(() => handledByA.length === 20, 'the late handler to end');
    const busB = makeBus();
    const handledByB: BusMessage[] = [];
    track(
      await busB.subscribe({
        groupId,
        topics: [topic],
        fromBeginning: true,
        handleBatch: async (batch) => {
          handledByB.push(...batch.messages);
        },
      }),
    );
    await eventually(() => handledByB.length >= onPartition(0).length, 'the stuck batch to be redelivered');
    await new Promise((r) => setTimeout(r, 300));
    expect(
      values(handledByB)
        .map(Number)
        .sort((a, b) => a - b),
    ).toEqual(onPartition(0));
  });
});
