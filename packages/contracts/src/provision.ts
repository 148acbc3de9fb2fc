import { ConfigResourceTypes, ConfigSource, type Admin } from 'kafkajs';
import { allTopics } from './catalog';
import { deadLetterTopicOf, type DeadLetterTopicDefinition, type TopicDefinition } from './topic';

export type TopicAdmin = Pick<Admin, 'listTopics' | 'createTopics' | 'fetchTopicMetadata'>;

export interface ProvisionOptions {
  /** Omitted: the broker's default.replication.factor. */
  replicationFactor?: number;
}

/**
 * Creates every missing topic of `topics` and its dead-letter topic, with partitions and
 * retention.ms from the catalog. Idempotent; returns the names it created. Existing topics are
 * left as they are here; `reconcileTopics` brings their settings back to the catalog's.
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
      waitForLeaders: false,
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
  await awaitTopicLeaders(admin, created);
  return created;
}

// What a broker answers about a topic it has not caught up with yet (KRaft propagates metadata).
const NOT_YET = new Set(['UNKNOWN_TOPIC_OR_PARTITION', 'LEADER_NOT_AVAILABLE']);

/**
 * Waits until every partition of `topics` has a leader. kafkajs's own wait (createTopics'
 * waitForLeaders) gives up on UNKNOWN_TOPIC_OR_PARTITION, which a busy KRaft broker answers
 * for a moment after creating a topic; this one retries it until `timeoutMs`.
 */
export async function awaitTopicLeaders(
  admin: Pick<Admin, 'fetchTopicMetadata'>,
  topics: readonly string[],
  timeoutMs = 30_000,
): Promise<void> {
  if (topics.length === 0) return;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const { topics: found } = await admin.fetchTopicMetadata({ topics: [...topics] });
      const led = found.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0));
      if (led && found.length === topics.length) return;
    } catch (error) {
      if (!NOT_YET.has((error as { type?: string }).type ?? '')) throw error;
    }
    if (Date.now() > deadline)
      throw new Error(`topics have no leaders after ${timeoutMs} ms: ${topics.join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export type ReconcileAdmin = Pick<Admin, 'fetchTopicMetadata' | 'describeConfigs' | 'alterConfigs'>;

export interface PartitionDrift {
  topic: string;
  partitions: number;
  catalogPartitions: number;
}

export interface ReconcileResult {
  /** Topics whose retention.ms was set back to the catalog's. */
  retentionUpdated: string[];
  /** Topics whose partition count differs from the catalog's: reported, never changed. */
  partitionDrift: PartitionDrift[];
}

/**
 * Brings existing topics (and their dead-letter topics) back to the catalog: retention.ms is
 * set to the catalog's, keeping every other setting an operator gave the topic (AlterConfigs
 * replaces a topic's whole set, so the current overrides are sent back with it). A different
 * partition count is only reported: adding partitions moves keys to other partitions and
 * breaks per-key order for events in flight, so that stays an operator's decision.
 */
export async function reconcileTopics(
  admin: ReconcileAdmin,
  topics: readonly TopicDefinition[] = allTopics(),
): Promise<ReconcileResult> {
  const wanted = new Map<string, TopicDefinition | DeadLetterTopicDefinition>(
    topics.flatMap((t) => [t, deadLetterTopicOf(t)]).map((t) => [t.name, t]),
  );
  const names = [...wanted.keys()];
  const metadata = await admin.fetchTopicMetadata({ topics: names });
  const partitionDrift = metadata.topics
    .map((t) => ({
      topic: t.name,
      partitions: t.partitions.length,
      catalogPartitions: wanted.get(t.name)!.partitions,
    }))
    .filter((d) => d.partitions !== d.catalogPartitions);

  const described = await admin.describeConfigs({
    includeSynonyms: false,
    resources: names.map((name) => ({ type: ConfigResourceTypes.TOPIC, name })),
  });
  const retentionUpdated: string[] = [];
  for (const resource of described.resources) {
    const catalog = String(wanted.get(resource.resourceName)!.retentionMs);
    const retention = resource.configEntries.find((e) => e.configName === 'retention.ms');
    if (retention?.configValue === catalog) continue;
    // Settings given to this topic (not broker defaults), sent back unchanged.
    const overrides = resource.configEntries
      .filter((e) => e.configSource === ConfigSource.TOPIC_CONFIG && e.configName !== 'retention.ms')
      .map((e) => ({ name: e.configName, value: e.configValue }));
    await admin.alterConfigs({
      validateOnly: false,
      resources: [
        {
          type: ConfigResourceTypes.TOPIC,
          name: resource.resourceName,
          configEntries: [...overrides, { name: 'retention.ms', value: catalog }],
        },
      ],
    });
    retentionUpdated.push(resource.resourceName);
  }
  return { retentionUpdated, partitionDrift };
}
