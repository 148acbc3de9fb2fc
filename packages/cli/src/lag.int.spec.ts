import { createEmbeddedBus } from '@cmis/platform';
import { createTopics, produce, testKafka, uniqueName, uniqueSchema, until } from '@cmis/testkit';
import { consumerLag } from './lag';
import { infraEnv, runCli } from './spec-support';

describe('cmis lag: committed offset, end offset and lag per group and partition', () => {
  const env = infraEnv();

  it('on Kafka: 7 produced, 4 consumed and committed, lag 3 (and the binary says the same)', async () => {
    const topic = uniqueName('cli-lag');
    const groupId = uniqueName('cli-lag-group');
    await createTopics([topic]);
    await produce(
      topic,
      Array.from({ length: 7 }, (_, i) => ({ key: 'k', value: `m${i}` })),
    );
    const consumer = testKafka().consumer({ groupId });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    let consumed = 0;
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ message, partition }) => {
        if (consumed >= 4) return;
        consumed += 1;
        await consumer.commitOffsets([{ topic, partition, offset: String(Number(message.offset) + 1) }]);
      },
    });
    await until(
      async () => consumed,
      (n) => n === 4,
    );
    await consumer.disconnect();

    expect(await consumerLag(env, { group: groupId })).toEqual([
      { group: groupId, topic, partition: 0, committed: '4', end: '7', lag: 3 },
    ]);
    const run = await runCli(['lag', '--group', groupId], env);
    expect(run.code).toBe(0);
    expect(run.stdout.trim().split('\n')).toEqual([
      expect.stringMatching(/^GROUP\s+TOPIC\s+PARTITION\s+COMMITTED\s+END\s+LAG$/),
      expect.stringMatching(new RegExp(`^${groupId}\\s+${topic}\\s+0\\s+4\\s+7\\s+3$`)),
    ]);
    const json = await runCli(['lag', '--group', groupId, '--json'], env);
    expect(JSON.parse(json.stdout)).toEqual([
      { group: groupId, topic, partition: 0, committed: '4', end: '7', lag: 3 },
    ]);
    expect((await runCli(['lag', '--group', uniqueName('nobody')], env)).code).toBe(2);
    expect((await runCli(['lag'], { KAFKA_BROKERS: '127.0.0.1:1' })).code).toBe(1);
  });

  it('on the embedded bus, from its tables: 5 consumed, 3 more produced, lag 3', async () => {
    const schema = uniqueSchema('cli_lag_bus');
    const topic = uniqueName('cli-lag-embedded');
    const groupId = uniqueName('cli-lag-embedded-group');
    const bus = createEmbeddedBus({ databaseUrl: env.DATABASE_URL, schema, clientId: 'cli-lag-spec' });
    try {
      await bus.ensureTopics([{ topic, numPartitions: 1 }]);
      const message = (i: number) => ({ key: 'k', value: Buffer.from(`m${i}`) });
      await bus.publish(topic, [0, 1, 2, 3, 4].map(message));
      let seen = 0;
      const sub = await bus.subscribe({
        groupId,
        topics: [topic],
        handleBatch: async (batch) => {
          seen += batch.messages.length;
        },
      });
      await until(
        () => bus.lag(groupId, topic),
        (l) => seen === 5 && l.every((p) => p.lag === 0),
      );
      await sub.stop();
      await bus.publish(topic, [5, 6, 7].map(message));

      const embeddedEnv = { DATABASE_URL: env.DATABASE_URL, CMIS_BUS_SCHEMA: schema };
      expect(await consumerLag(embeddedEnv, { group: groupId })).toEqual([
        { group: groupId, topic, partition: 0, committed: '5', end: '8', lag: 3 },
      ]);
      const run = await runCli(['lag', '--group', groupId, '--json'], embeddedEnv);
      expect(run.code).toBe(0);
      expect(JSON.parse(run.stdout)).toEqual([
        { group: groupId, topic, partition: 0, committed: '5', end: '8', lag: 3 },
      ]);
    } finally {
      await bus.close();
    }
  });
});
