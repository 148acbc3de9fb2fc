import { randomBytes } from 'node:crypto';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { allTopics } from './catalog';
import { defineTopic, type EventSchemas, type TopicDefinition } from './topic';
import { provisionTopics } from './provision';

const brokers = process.env.KAFKA_BROKERS?.split(',');
// The testkit's global setup always provides a broker; a bare `SCHEMA_REGISTRY_URL=... jest` run may not.
const withKafka = brokers ? describe : describe.skip;

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

withKafka('provisionTopics against a broker', () => {
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
});
