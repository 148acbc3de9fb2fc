import {
  Kafka,
  logLevel,
  Partitioners,
  type Admin,
  type Consumer,
  type IHeaders,
  type KafkaConfig,
  type Producer,
} from 'kafkajs';
import {
  retryUntilDone,
  type Bus,
  type BusMessage,
  type Headers,
  type OutgoingMessage,
  type SubscribeOptions,
  type Subscription,
  type TopicSpec,
} from './bus';

export interface KafkaBusOptions {
  brokers: string[];
  clientId: string;
  /** Partitions of one subscription handled at once (order per partition is kept). */
  partitionsConsumedConcurrently?: number;
  kafkaConfig?: Partial<KafkaConfig>;
  onError?(message: string, error: unknown): void;
}

function toHeaders(headers: IHeaders | undefined): Headers {
  const out: Headers = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined) continue;
    const first = Array.isArray(value) ? value[0] : value;
    if (first !== undefined) out[name] = first.toString();
  }
  return out;
}

function toKafkaMessages(messages: OutgoingMessage[]) {
  return messages.map((m) => ({ key: m.key, value: m.value, headers: m.headers }));
}

/** The production transport: kafkajs, idempotent producer with acks=all, manual commits. */
export function createKafkaBus(options: KafkaBusOptions): Bus {
  const kafka = new Kafka({
    brokers: options.brokers,
    clientId: options.clientId,
    // kafkajs narrates every rebalance at WARN; errors are what an operator needs.
    logLevel: logLevel.ERROR,
    ...options.kafkaConfig,
  });
  const onError = options.onError ?? (() => undefined);
  let producer: Promise<Producer> | undefined;
  let admin: Promise<Admin> | undefined;
  const consumers = new Set<Consumer>();

  // One idempotent producer, one request in flight: retries can neither duplicate nor reorder.
  const getProducer = () => {
    producer ??= (async () => {
      const p = kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        createPartitioner: Partitioners.DefaultPartitioner,
      });
      await p.connect();
      return p;
    })().catch((err) => {
      producer = undefined;
      throw err;
    });
    return producer;
  };

  // One admin connection for lag (refreshed for /metrics), readiness and topic creation.
  const getAdmin = () => {
    admin ??= (async () => {
      const a = kafka.admin();
      await a.connect();
      return a;
    })().catch((err) => {
      admin = undefined;
      throw err;
    });
    return admin;
  };
  /** Runs `work` on the shared admin; a failure drops it so the next call reconnects. */
  const withAdmin = async <T>(work: (a: Admin) => Promise<T>): Promise<T> => {
    const a = await getAdmin();
    try {
      return await work(a);
    } catch (error) {
      if (admin) {
        const stale = admin;
        admin = undefined;
        void stale.then((x) => x.disconnect()).catch(() => undefined);
      }
      throw error;
    }
  };

  const publishBatch: Bus['publishBatch'] = async (batches) => {
    const topicMessages = batches
      .filter((b) => b.messages.length > 0)
      .map((b) => ({ topic: b.topic, messages: toKafkaMessages(b.messages) }));
    if (topicMessages.length === 0) return;
    await (await getProducer()).sendBatch({ acks: -1, topicMessages });
  };

  return {
    transport: 'kafka',
    publish: (topic, messages) => publishBatch([{ topic, messages }]),
    publishBatch,

    async subscribe(sub: SubscribeOptions): Promise<Subscription> {
      const consumer = kafka.consumer({ groupId: sub.groupId, maxWaitTimeInMs: 100, retry: { retries: 10 } });
      consumers.add(consumer);
      let stopping = false;
      const joined = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`group ${sub.groupId} did not join within 30s`)),
          30_000,
        );
        consumer.on(consumer.events.GROUP_JOIN, () => {
          clearTimeout(timer);
          resolve();
        });
        consumer.on(consumer.events.CRASH, (e) => {
          clearTimeout(timer);
          onError(`consumer ${sub.groupId} crashed`, e.payload.error);
          reject(e.payload.error);
        });
      });
      await consumer.connect();
      for (const topic of sub.topics)
        await consumer.subscribe({ topic, fromBeginning: sub.fromBeginning ?? true });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: options.partitionsConsumedConcurrently ?? 4,
        eachBatch: async ({ batch, heartbeat, isRunning, isStale, resolveOffset }) => {
          if (batch.messages.length === 0) return;
          const messages: BusMessage[] = batch.messages.map((m) => ({
            topic: batch.topic,
            partition: batch.partition,
            offset: m.offset,
            key: m.key ? m.key.toString() : null,
            value: m.value,
            headers: toHeaders(m.headers),
            timestamp: m.timestamp,
          }));
          const running = () => !stopping && isRunning() && !isStale();
          const done = await retryUntilDone(
            () =>
              sub.handleBatch(
                { topic: batch.topic, partition: batch.partition, messages },
                { isRunning: running, heartbeat },
              ),
            running,
            (error, attempt) =>
              sub.onRetry?.(error, attempt, { topic: batch.topic, partition: batch.partition, messages }),
            sub.retry,
          );
          if (!done) return;
          const last = batch.messages[batch.messages.length - 1]!.offset;
          // Committed only after the handler's work is durable: a crash before this line redelivers.
          await consumer.commitOffsets([
            { topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() },
          ]);
          resolveOffset(last);
          await heartbeat();
        },
      });
      await joined;
      return {
        groupId: sub.groupId,
        async stop() {
          stopping = true;
          consumers.delete(consumer);
          await consumer.disconnect();
        },
      };
    },

    ensureTopics(topics: TopicSpec[]) {
      return withAdmin(async (a) => {
        const existing = new Set(await a.listTopics());
        const missing = topics.filter((t) => !existing.has(t.topic));
        if (missing.length === 0) return;
        await a.createTopics({
          waitForLeaders: true,
          topics: missing.map((t) => ({
            topic: t.topic,
            numPartitions: t.numPartitions,
            configEntries: t.retentionMs ? [{ name: 'retention.ms', value: String(t.retentionMs) }] : [],
          })),
        });
      });
    },

    lag(groupId, topic) {
      return withAdmin(async (a) => {
        const [committed, ends] = await Promise.all([
          a.fetchOffsets({ groupId, topics: [topic] }),
          a.fetchTopicOffsets(topic),
        ]);
        const byPartition = new Map(
          committed[0]?.partitions.map((p) => [p.partition, Number(p.offset)]) ?? [],
        );
        return ends.map((e) => {
          const done = byPartition.get(e.partition) ?? -1;
          const low = Number(e.low);
          return { partition: e.partition, lag: Number(e.high) - (done < 0 ? low : done) };
        });
      });
    },

    async ready() {
      return withAdmin((a) => a.describeCluster()).then(
        () => true,
        () => false,
      );
    },

    async close() {
      await Promise.allSettled([...consumers].map((c) => c.disconnect()));
      consumers.clear();
      if (admin) {
        const a = await admin.catch(() => undefined);
        admin = undefined;
        await a?.disconnect();
      }
      if (producer) {
        const p = await producer.catch(() => undefined);
        producer = undefined;
        await p?.disconnect();
      }
    },
  };
}
