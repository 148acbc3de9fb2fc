import { randomBytes } from 'node:crypto';
import { ConfigResourceTypes, Kafka, logLevel, type Admin } from 'kafkajs';
import { allTopics } from './catalog';
import { defineTopic, type EventSchemas, type TopicDefinition } from './topic';
import { awaitTopicLeaders, provisionTopics, reconcileTopics } from './provision';

// The testkit's global setup provides the broker.
const brokers = process.env.KAFKA_BROKERS?.split(',');
if (!brokers)
  throw new Error('KAFKA_BROKERS is not set: run the int tier through jest (the test kit starts Kafka)');

/** Catalog topics under fresh names, so reruns against one broker never collide. */
function freshCopies(): TopicDefinition[] {
  const run = randomBytes(4).toString('hex');
  return allTopics()
    .slice(0, 2)
    .map((t): TopicDefinition => {
      const name = t.name.replace(/^cmis\.[a-z-]+/, `cmis.spec-${run}`);
      return defineTopic<string, EventSchemas>({ ...t, name });
    });
}

describe('provisionTopics against a broker', () => {
  let admin: Admin;

  beforeAll(async () => {
    admin = new Kafka({
      brokers: brokers!,
      clientId: `spec-${randomBytes(4).toString('hex')}`,
      logLevel: logLevel.WARN,
    }).admin();
    await admin.connect();
  });
  afterAll(() => admin.disconnect());

  it('creates topics and dead-letter topics with the catalog settings, and nothing the second time', async () => {
    const topics = freshCopies();

    const created = await provisionTopics(admin, topics, { replicationFactor: 1 });

    expect(created.sort()).toEqual(topics.flatMap((t) => [t.name, t.deadLetterTopic]).sort());
    const metadata = await admin.fetchTopicMetadata({ topics: created });
    for (const t of metadata.topics) expect(t.partitions).toHaveLength(12);
    const configs = await admin.describeConfigs({
      includeSynonyms: false,
      resources: created.map((name) => ({ type: 2 /* TOPIC */, name, configNames: ['retention.ms'] })),
    });
    const retention = Object.fromEntries(
      configs.resources.map((r) => [
        r.resourceName,
        r.configEntries.find((e) => e.configName === 'retention.ms')?.configValue,
      ]),
    );
    expect(retention[topics[0]!.name]).toBe('-1');
    expect(retention[topics[1]!.name]).toBe(String(90 * 24 * 3600 * 1000));
    expect(retention[topics[0]!.deadLetterTopic]).toBe(String(30 * 24 * 3600 * 1000));

    await expect(provisionTopics(admin, topics, { replicationFactor: 1 })).resolves.toEqual([]);
  });

  it('reconciles existing topics: retention back to the catalog, other overrides kept, partition drift reported', async () => {
    const [topic] = freshCopies();
    const config = (name: string) =>
      admin
        .describeConfigs({
          includeSynonyms: false,
          resources: [
            { type: ConfigResourceTypes.TOPIC, name, configNames: ['retention.ms', 'max.message.bytes'] },
          ],
        })
        .then((r) =>
          Object.fromEntries(r.resources[0]!.configEntries.map((e) => [e.configName, e.configValue])),
        );
    // Made by hand, unlike the catalog: 3 partitions, a day of retention and an operator's override.
    await admin.createTopics({
      topics: [
        {
          topic: topic!.name,
          numPartitions: 3,
          replicationFactor: 1,
          configEntries: [
            { name: 'retention.ms', value: '86400000' },
            { name: 'max.message.bytes', value: '2000000' },
          ],
        },
      ],
    });
    await awaitTopicLeaders(admin, [topic!.name]);
    await provisionTopics(admin, [topic!], { replicationFactor: 1 });

    const result = await reconcileTopics(admin, [topic!]);

    expect(result).toEqual({
      retentionUpdated: [topic!.name],
      partitionDrift: [{ topic: topic!.name, partitions: 3, catalogPartitions: 12 }],
    });
    // Brokers apply a config change a moment after the controller accepted it.
    const wanted = { 'retention.ms': String(topic!.retentionMs), 'max.message.bytes': '2000000' };
    let seen = await config(topic!.name);
    for (let i = 0; i < 100 && seen['retention.ms'] !== wanted['retention.ms']; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      seen = await config(topic!.name);
    }
    expect(seen).toEqual(wanted);
    const metadata = await admin.fetchTopicMetadata({ topics: [topic!.name] });
    expect(metadata.topics[0]!.partitions).toHaveLength(3);
    // Reconciled: the second run changes nothing and still reports the drift.
    await expect(reconcileTopics(admin, [topic!])).resolves.toEqual({
      retentionUpdated: [],
      partitionDrift: result.partitionDrift,
    });
  });
});
