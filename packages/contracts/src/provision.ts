import type { Admin } from 'kafkajs';
import { allTopics } from './catalog';
import { deadLetterTopicOf, type DeadLetterTopicDefinition, type TopicDefinition } from './topic';

export type TopicAdmin = Pick<Admin, 'listTopics' | 'createTopics'>;

export interface ProvisionOptions {
  /** Omitted: the broker's default.replication.factor. */
  replicationFactor?: number;
}

/**
 * Creates every missing topic of `topics` and its dead-letter topic, with partitions and
 * retention.ms from the catalog. Idempotent; returns the names it created. Existing topics are
 * left as they are (their partitions or retention are not changed).
 */
export async function provisionTopics(
  admin: TopicAdmin,
  topics: readonly TopicDefinition[] = allTopics(),
  options: ProvisionOptions = {},
): Promise<string[]> {
  const existing = new Set(await admin.listTopics());
  const wanted: Array<TopicDefinition | DeadLetterTopicDefinition> = topics.flatMap((t) => [
    t,
    deadLetterTopicOf(t),
  ]);
  const created: string[] = [];
  // One at a time: createTopics tells per call whether it created, even when provisioning races.
  for (const topic of wanted.filter((t) => !existing.has(t.name))) {
    const didCreate = await admin.createTopics({
      waitForLeaders: true,
      topics: [
        {
          topic: topic.name,
          numPartitions: topic.partitions,
          replicationFactor: options.replicationFactor ?? -1,
          configEntries: [{ name: 'retention.ms', value: String(topic.retentionMs) }],
        },
      ],
    });
    if (didCreate) created.push(topic.name);
  }
  return created;
}
