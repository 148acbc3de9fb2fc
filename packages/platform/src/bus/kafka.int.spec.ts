import { testEnv, uniqueName } from '@cmis/testkit';
import { busConformanceSuite } from './conformance';
import type { Bus } from './bus';
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
