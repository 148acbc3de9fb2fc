import type { ITopicConfig } from 'kafkajs';
import { allTopics } from './catalog';
import { provisionTopics, type TopicAdmin } from './provision';

/** A broker's topic list in memory: answers exactly the two admin calls provisioning makes. */
function inMemoryAdmin(existing: string[] = []): TopicAdmin & { created: ITopicConfig[] } {
  const topics = new Set(existing);
  const created: ITopicConfig[] = [];
  return {
    created,
    listTopics: async () => [...topics],
    fetchTopicMetadata: async (request) => ({
      topics: (request?.topics ?? [...topics]).map((name) => ({
        name,
        partitions: [{ partitionId: 0, leader: 1, replicas: [1], isr: [1], partitionErrorCode: 0 }],
      })),
    }),
    createTopics: async ({ topics: requested }) => {
      const fresh = requested.filter((t) => !topics.has(t.topic));
      fresh.forEach((t) => topics.add(t.topic));
      created.push(...fresh);
      return fresh.length === requested.length;
    },
  };
}

describe('provisionTopics', () => {
  it('creates every topic and its dead-letter topic with partitions and retention from the catalog', async () => {
    const admin = inMemoryAdmin();
    const created = await provisionTopics(admin, undefined, { replicationFactor: 3 });
    expect(created).toEqual(allTopics().flatMap((t) => [t.name, t.deadLetterTopic]));
    const tenancy = admin.created.find((t) => t.topic === 'cmis.platform.tenancy.v1');
    expect(tenancy).toEqual({
      topic: 'cmis.platform.tenancy.v1',
      numPartitions: 12,
      replicationFactor: 3,
      configEntries: [{ name: 'retention.ms', value: '-1' }],
    });
    const dlq = admin.created.find((t) => t.topic === 'cmis.platform.tenancy.v1.dlq');
    expect(dlq?.configEntries).toEqual([{ name: 'retention.ms', value: String(30 * 24 * 3600 * 1000) }]);
  });

  it('creates nothing the second time', async () => {
    const admin = inMemoryAdmin();
    await provisionTopics(admin);
    await expect(provisionTopics(admin)).resolves.toEqual([]);
  });

  it('creates only what is missing, with the broker default replication when none is given', async () => {
    const userActions = allTopics()[1]!;
    const admin = inMemoryAdmin(allTopics().map((t) => t.name));
    await expect(provisionTopics(admin, [userActions])).resolves.toEqual([userActions.deadLetterTopic]);
    expect(admin.created).toEqual([
      expect.objectContaining({ topic: userActions.deadLetterTopic, replicationFactor: -1 }),
    ]);
  });

  it('does not claim a topic another provisioner created meanwhile', async () => {
    const admin = inMemoryAdmin();
    const racing: TopicAdmin = {
      listTopics: async () => [],
      createTopics: admin.createTopics,
      fetchTopicMetadata: admin.fetchTopicMetadata,
    };
    await admin.createTopics({ topics: [{ topic: 'cmis.rules.actions.v1' }] });
    const created = await provisionTopics(racing, [allTopics()[6]!]);
    expect(created).toEqual(['cmis.rules.actions.v1.dlq']);
  });
});
