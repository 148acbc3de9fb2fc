export interface TopicPartition {
  topic: string;
  partition: number;
}

export interface LiveMember {
  memberId: string;
  topics: readonly string[];
}

export const topicPartitionId = ({ topic, partition }: TopicPartition) => `${partition}:${topic}`;

/**
 * Kafka's round-robin assignor: members sorted by id, every topic-partition in (topic,
 * partition) order dealt to the next member, in that circular order, that subscribes to its
 * topic. Pure and deterministic, so every member computes the same split from the same view.
 */
export function assignRoundRobin(
  members: readonly LiveMember[],
  partitionsByTopic: ReadonlyMap<string, number>,
): Map<string, TopicPartition[]> {
  const sorted = [...members].sort((a, b) =>
    a.memberId < b.memberId ? -1 : a.memberId > b.memberId ? 1 : 0,
  );
  const assignment = new Map<string, TopicPartition[]>(sorted.map((m) => [m.memberId, []]));
  const topics = [...new Set(sorted.flatMap((m) => m.topics))].sort();
  let next = 0;
  for (const topic of topics) {
    const subscribers = new Set(sorted.filter((m) => m.topics.includes(topic)).map((m) => m.memberId));
    const partitions = partitionsByTopic.get(topic) ?? 0;
    for (let partition = 0; partition < partitions; partition += 1) {
      while (!subscribers.has(sorted[next % sorted.length]!.memberId)) next += 1;
      assignment.get(sorted[next % sorted.length]!.memberId)!.push({ topic, partition });
      next += 1;
    }
  }
  return assignment;
}
