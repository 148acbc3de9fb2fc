import { testEnv, uniqueName } from '@cmis/testkit';
import { busConformanceSuite } from './conformance';
import { createKafkaBus } from './kafka';

busConformanceSuite('kafka', async () =>
  createKafkaBus({ brokers: testEnv().kafkaBrokers!, clientId: uniqueName('conformance') }),
);

describe('kafka bus: handleBatches', () => {
  it('gathers the partitions of one fetch into one call', async () => {
    const bus = createKafkaBus({ brokers: testEnv().kafkaBrokers!, clientId: uniqueName('gather') });
    const topic = uniqueName('gather');
    try {
      await bus.ensureTopics([{ topic, numPartitions: 4 }]);
      // On the topic before the group joins: its first fetch finds all four partitions full.
      await bus.publish(
        topic,
        Array.from({ length: 400 }, (_, i) => ({ key: `org-1:contact-${i}`, value: Buffer.from(String(i)) })),
      );
      const sizes: number[] = [];
      let seen = 0;
      let all: () => void = () => undefined;
      const done = new Promise<void>((r) => (all = r));
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
    } finally {
      await bus.close();
    }
  });
});
