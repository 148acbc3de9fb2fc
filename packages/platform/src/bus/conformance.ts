import { randomBytes } from 'node:crypto';
import { type Bus, type BusMessage, type MessageBatch, type Subscription } from './bus';
import { DEAD_LETTER_HEADERS, eachMessage, PoisonMessageError } from './dead-letter';

/** A name no other test or earlier run uses. */
const unique = (prefix: string) => `${prefix}-${randomBytes(5).toString('hex')}`;

/** Collects what a handler sees and resolves waits as soon as enough has arrived. */
function collector<T>() {
  const items: T[] = [];
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  return {
    items,
    push(...values: T[]) {
      items.push(...values);
      for (const w of waiters.filter((w) => items.length >= w.count)) w.resolve();
    },
    waitFor(count: number, timeoutMs = 30_000): Promise<T[]> {
      if (items.length >= count) return Promise.resolve(items);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`saw ${items.length}/${count} within ${timeoutMs}ms`)),
          timeoutMs,
        );
        waiters.push({
          count,
          resolve: () => {
            clearTimeout(timer);
            resolve(items);
          },
        });
      });
    },
  };
}

const msg = (key: string, value: string, headers: Record<string, string> = {}) => ({
  key,
  value: Buffer.from(value),
  headers,
});

/**
 * What every bus transport must do, as a jest suite: run it from a transport's int spec
 * with a factory for fresh bus instances on the transport under test.
 */
export function busConformanceSuite(transport: string, makeBus: () => Promise<Bus>): void {
  describe(`bus conformance: ${transport}`, () => {
    const opened: Bus[] = [];
    const subs: Subscription[] = [];
    const bus = async () => {
      const b = await makeBus();
      opened.push(b);
      return b;
    };
    const track = (s: Subscription) => {
      subs.push(s);
      return s;
    };
    afterAll(async () => {
      await Promise.allSettled(subs.map((s) => s.stop()));
      await Promise.allSettled(opened.map((b) => b.close()));
    });

    it('keeps per-key order across partitions and group members', async () => {
      const b = await bus();
      const topic = unique('conf-order');
      await b.ensureTopics([{ topic, numPartitions: 4 }]);
      const groupId = unique('g');
      const seen = collector<BusMessage>();
      for (let i = 0; i < 2; i += 1) {
        track(
          await b.subscribe({
            groupId,
            topics: [topic],
            handleBatch: async (batch) => seen.push(...batch.messages),
          }),
        );
      }
      const keys = Array.from({ length: 20 }, (_, i) => `org-1:contact-${i}`);
      for (let round = 0; round < 10; round += 1) {
        await b.publish(
          topic,
          keys.flatMap((key) => Array.from({ length: 5 }, (_, j) => msg(key, String(round * 5 + j)))),
        );
      }
      await seen.waitFor(1_000);
      for (const key of keys) {
        const values = seen.items.filter((m) => m.key === key).map((m) => Number(m.value!.toString()));
        expect(values).toEqual(Array.from({ length: 50 }, (_, i) => i));
      }
    });

    it('splits partitions across the members of a group', async () => {
      const b = await bus();
      const topic = unique('conf-split');
      await b.ensureTopics([{ topic, numPartitions: 4 }]);
      const groupId = unique('g');
      const seen = collector<{ member: number; partition: number }>();
      for (const member of [0, 1]) {
        track(
          await b.subscribe({
            groupId,
            topics: [topic],
            handleBatch: async (batch) =>
              seen.push(...batch.messages.map((m) => ({ member, partition: m.partition }))),
          }),
        );
      }
      await b.publish(
        topic,
        Array.from({ length: 200 }, (_, i) => msg(`org-1:contact-${i}`, String(i))),
      );
      await seen.waitFor(200);
      const partitionsOf = (member: number) =>
        new Set(seen.items.filter((s) => s.member === member).map((s) => s.partition));
      const [a, c] = [partitionsOf(0), partitionsOf(1)];
      expect(a.size).toBeGreaterThan(0);
      expect(c.size).toBeGreaterThan(0);
      expect([...a].filter((p) => c.has(p))).toEqual([]);
      expect(a.size + c.size).toBe(4);
    });

    it('redelivers what was not committed when a member crashes before commit', async () => {
      const b = await bus();
      const topic = unique('conf-crash');
      await b.ensureTopics([{ topic, numPartitions: 1 }]);
      const groupId = unique('g');
      await b.publish(topic, [msg('org-1:a', 'first'), msg('org-1:a', 'second')]);

      let crash: () => void = () => undefined;
      const crashed = new Promise<void>((r) => (crash = r));
      const doomed = await b.subscribe({
        groupId,
        topics: [topic],
        retry: { initialMs: 50, maxMs: 50 },
        handleBatch: async () => {
          crash();
          throw new Error('process died mid-batch');
        },
      });
      await crashed;
      await doomed.stop();

      const after = collector<string>();
      track(
        await b.subscribe({
          groupId,
          topics: [topic],
          handleBatch: async (batch) => after.push(...batch.messages.map((m) => m.value!.toString())),
        }),
      );
      expect(await after.waitFor(2)).toEqual(['first', 'second']);
    });

    it('retries a transient failure with backoff and never skips the batch', async () => {
      const b = await bus();
      const topic = unique('conf-retry');
      await b.ensureTopics([{ topic, numPartitions: 1 }]);
      await b.publish(topic, [msg('org-1:a', 'one'), msg('org-1:a', 'two')]);
      let failures = 0;
      const retried: number[] = [];
      const handled = collector<string>();
      track(
        await b.subscribe({
          groupId: unique('g'),
          topics: [topic],
          retry: { initialMs: 20, maxMs: 100 },
          onRetry: (_e, attempt) => retried.push(attempt),
          handleBatch: async (batch) => {
            if (failures < 3) {
              failures += 1;
              throw new Error('database unavailable');
            }
            handled.push(...batch.messages.map((m) => m.value!.toString()));
          },
        }),
      );
      expect(await handled.waitFor(2)).toEqual(['one', 'two']);
      expect(retried).toEqual([1, 2, 3]);
    });

    it('hands several partitions to handleBatches in order, with what prepare made of them, retries a failed group whole and commits it after', async () => {
      const b = await bus();
      const topic = unique('conf-batches');
      await b.ensureTopics([{ topic, numPartitions: 4 }]);
      const keys = Array.from({ length: 20 }, (_, i) => `org-1:contact-${i}`);
      await b.publish(
        topic,
        Array.from({ length: 10 }, (_, round) => keys.map((key) => msg(key, String(round)))).flat(),
      );
      const groupId = unique('g');
      let failures = 0;
      const retried: number[] = [];
      const seen = collector<BusMessage>();
      const calls: MessageBatch[][] = [];
      let handling = false;
      const first = await b.subscribe({
        groupId,
        topics: [topic],
        retry: { initialMs: 20, maxMs: 50 },
        onRetry: (_e, attempt) => retried.push(attempt),
        prepare: async (batches) => batches.flatMap((batch) => batch.messages.map((m) => m.offset)),
        handleBatches: async (batches, _context, offsets) => {
          // Calls never overlap, and each gets what prepare made of its own batches.
          expect(handling).toBe(false);
          expect(offsets).toEqual(batches.flatMap((batch) => batch.messages.map((m) => m.offset)));
          handling = true;
          await new Promise((r) => setTimeout(r, 5));
          handling = false;
          if (failures < 1) {
            failures += 1;
            throw new Error('database unavailable');
          }
          calls.push(batches);
          for (const batch of batches) seen.push(...batch.messages);
        },
      });
      await seen.waitFor(200);
      expect(retried).toEqual([1]);
      // Each batch is one partition's, in offset order; no message twice, none lost.
      for (const batch of calls.flat()) {
        expect(batch.messages.every((m) => m.partition === batch.partition && m.topic === topic)).toBe(true);
        const offsets = batch.messages.map((m) => BigInt(m.offset));
        expect(offsets).toEqual([...offsets].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0)));
      }
      for (const key of keys) {
        const values = seen.items.filter((m) => m.key === key).map((m) => m.value!.toString());
        expect(values).toEqual(Array.from({ length: 10 }, (_, i) => String(i)));
      }
      await first.stop();
      // Committed: the next member of the group starts after all 200.
      const later = collector<string>();
      track(
        await b.subscribe({
          groupId,
          topics: [topic],
          handleBatch: async (batch) => later.push(...batch.messages.map((m) => m.value!.toString())),
        }),
      );
      await b.publish(topic, [msg('org-1:contact-0', 'after')]);
      expect(await later.waitFor(1)).toEqual(['after']);
      await new Promise((r) => setTimeout(r, 500));
      expect(later.items).toEqual(['after']);
    });

    it('dead-letters a poison message with the reason and moves the partition on', async () => {
      const b = await bus();
      const topic = unique('conf-dlq');
      const dlq = `${topic}.dlq`;
      await b.ensureTopics([
        { topic, numPartitions: 1 },
        { topic: dlq, numPartitions: 1 },
      ]);
      await b.publish(topic, [
        msg('org-1:a', 'good-1'),
        msg('org-1:a', 'poison', { trace: 'x' }),
        msg('org-1:a', 'good-2'),
      ]);
      const groupId = unique('g');
      const handled = collector<string>();
      track(
        await b.subscribe({
          groupId,
          topics: [topic],
          handleBatch: eachMessage(b, groupId, async (m) => {
            if (m.value!.toString() === 'poison')
              throw new PoisonMessageError('payload fails schema at data.userId');
            handled.push(m.value!.toString());
          }),
        }),
      );
      const dead = collector<BusMessage>();
      track(
        await b.subscribe({
          groupId: unique('g'),
          topics: [dlq],
          handleBatch: async (batch) => dead.push(...batch.messages),
        }),
      );
      expect(await handled.waitFor(2)).toEqual(['good-1', 'good-2']);
      const [letter] = await dead.waitFor(1);
      expect(letter!.value!.toString()).toBe('poison');
      expect(letter!.key).toBe('org-1:a');
      expect(letter!.headers[DEAD_LETTER_HEADERS.reason]).toBe('payload fails schema at data.userId');
      expect(letter!.headers[DEAD_LETTER_HEADERS.topic]).toBe(topic);
      expect(letter!.headers[DEAD_LETTER_HEADERS.group]).toBe(groupId);
      expect(letter!.headers.trace).toBe('x');
    });
  });
}
