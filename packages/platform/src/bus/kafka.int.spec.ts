import { testEnv, uniqueName } from '@cmis/testkit';
import { busConformanceSuite } from './conformance';
import type { Bus, MessageBatch } from './bus';
import { createKafkaBus } from './kafka';

/** A bus and a fresh topic for one test; the bus is closed after it. */
async function withTopic(partitions: number, test: (bus: Bus, topic: string) => Promise<void>) {
  const bus = createKafkaBus({ brokers: testEnv().kafkaBrokers!, clientId: uniqueName('kafka-bus') });
  const topic = uniqueName('kafka-bus');
  try {
    await bus.ensureTopics([{ topic, numPartitions: partitions }]);
    await test(bus, topic);
  } finally {
    await bus.close();
  }
}

const message = (i: number) => ({ key: `org-1:contact-${i}`, value: Buffer.from(String(i)) });

/** A promise and the function that resolves it. */
function signal(): { done: Promise<void>; fire: () => void } {
  let fire: () => void = () => undefined;
  const done = new Promise<void>((r) => (fire = r));
  return { done, fire };
}

busConformanceSuite('kafka', async () =>
  createKafkaBus({ brokers: testEnv().kafkaBrokers!, clientId: uniqueName('conformance') }),
);

describe('kafka bus: handleBatches', () => {
  it('gathers the partitions of one fetch into one call', () =>
    withTopic(4, async (bus, topic) => {
      // On the topic before the group joins: its first fetch finds all four partitions full.
      await bus.publish(
        topic,
        Array.from({ length: 400 }, (_, i) => message(i)),
      );
      const sizes: number[] = [];
      let seen = 0;
      const { done, fire: all } = signal();
      const sub = await bus.subscribe({
        groupId: uniqueName('g'),
        topics: [topic],
        handleBatches: async (batches) => {
          sizes.push(batches.length);
          seen += batches.reduce((n, b) => n + b.messages.length, 0);
          if (seen >= 400) all();
        },
      });
      await done;
      await sub.stop();
      expect(seen).toBe(400);
      expect(Math.max(...sizes)).toBe(4);
    }));
});

describe('kafka bus: prepare', () => {
  it('prepares the next fetch while a group is still being handled, and handles groups one at a time', () =>
    withTopic(2, async (bus, topic) => {
      await bus.publish(topic, [message(0)]);
      let prepared = 0;
      let handling = false;
      const order: string[] = [];
      let seen = 0;
      const { done, fire: all } = signal();
      const sub = await bus.subscribe({
        groupId: uniqueName('g'),
        topics: [topic],
        prepare: async (batches) => {
          prepared += 1;
          order.push(`prepare ${prepared}`);
          return batches.reduce((n, b) => n + b.messages.length, 0);
        },
        handleBatches: async (_batches, _context, count) => {
          expect(handling).toBe(false);
          handling = true;
          order.push(`handle ${count}`);
          if (seen === 0) {
            // The first group waits for the next fetch to be prepared: only a pipelined bus gets there.
            await bus.publish(topic, [message(1), message(2)]);
            const until = Date.now() + 10_000;
            while (prepared < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
          }
          order.push(`handled ${count}`);
          seen += count;
          handling = false;
          if (seen >= 3) all();
        },
      });
      await done;
      await sub.stop();
      expect(order.slice(0, 4)).toEqual(['prepare 1', 'handle 1', 'prepare 2', 'handled 1']);
      expect(seen).toBe(3);
    }));
});

describe('kafka bus: idle', () => {
  it('arms no timer loop while idle (kafkajs patched: it re-armed a 1 ms timer per connection forever)', () =>
    withTopic(1, async (bus, topic) => {
      await bus.publish(topic, [message(0)]); // producer connected
      await new Promise((r) => setTimeout(r, 200));
      const timers = jest.spyOn(global, 'setTimeout');
      await new Promise((r) => setImmediate(r));
      const before = timers.mock.calls.length;
      await new Promise((r) => setTimeout(r, 500)); // counted once itself
      // Unpatched, two idle connections (producer and admin) armed ~1,000 timers in 500 ms.
      expect(timers.mock.calls.length - before).toBeLessThan(20);
      timers.mockRestore();
    }));
});

describe('kafka bus: prefetched groups never overtake an uncommitted one', () => {
  it('stopped in the middle of a retry with the next group prefetched: after a restart every message is handled once, in order', () =>
    withTopic(1, async (bus, topic) => {
      const groupId = uniqueName('g');
      const prepared: number[][] = [];
      const handled: number[] = [];
      const { done: retrying, fire: firstRetry } = signal();
      const { done: secondPrepared, fire: nextPrepared } = signal();
      const values = (batches: MessageBatch[]) =>
        batches.flatMap((b) => b.messages.map((m) => Number(m.value)));
      await bus.publish(topic, [0, 1, 2, 3, 4].map(message));
      const first = await bus.subscribe({
        groupId,
        topics: [topic],
        retry: { initialMs: 20, maxMs: 50 },
        prepare: async (batches) => {
          prepared.push(values(batches));
          if (prepared.length === 2) nextPrepared();
        },
        // The first group never succeeds here (its database is down, say); later ones would.
        handleBatches: async (batches) => {
          const got = values(batches);
          if (got.includes(0)) {
            firstRetry();
            throw new Error('database unavailable');
          }
          handled.push(...got);
        },
        onRetry: () => undefined,
      });
      await retrying;
      await bus.publish(topic, [5, 6, 7, 8, 9].map(message));
      await secondPrepared; // fetched and prepared while the first group is being retried
      await first.stop();
      expect(handled).toEqual([]); // nothing overtook the first group

      const { done: all, fire: allHandled } = signal();
      const second = await bus.subscribe({
        groupId,
        topics: [topic],
        prepare: async () => undefined,
        handleBatches: async (batches) => {
          handled.push(...values(batches));
          if (handled.length >= 10) allHandled();
        },
      });
      await all;
      await second.stop();
      expect(handled).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    }));

  it('a group retried while the next fetch is prepared behind it is handled and committed first, in order', () =>
    withTopic(1, async (bus, topic) => {
      const handled: number[] = [];
      let failures = 0;
      const { done: all, fire: allHandled } = signal();
      const values = (batches: MessageBatch[]) =>
        batches.flatMap((b) => b.messages.map((m) => Number(m.value)));
      await bus.publish(topic, [0, 1, 2].map(message));
      const sub = await bus.subscribe({
        groupId: uniqueName('g'),
        topics: [topic],
        retry: { initialMs: 20, maxMs: 50 },
        prepare: async () => undefined,
        handleBatches: async (batches) => {
          const got = values(batches);
          // Fails a few times, while the next fetch is prepared behind it, then passes.
          if (got.includes(0) && failures < 5) {
            failures += 1;
            if (failures === 1) await bus.publish(topic, [3, 4, 5].map(message));
            throw new Error('transient');
          }
          handled.push(...got);
          if (handled.includes(5)) allHandled();
        },
        onRetry: () => undefined,
      });
      await all;
      await sub.stop();
      expect(handled).toEqual([0, 1, 2, 3, 4, 5]);
    }));
});
