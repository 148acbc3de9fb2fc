import { awaitTopicLeaders } from '@cmis/contracts';
import {
  Kafka,
  logLevel,
  Partitioners,
  type Admin,
  type Consumer,
  type ConsumerConfig,
  type ConsumerRunConfig,
  type ICustomPartitioner,
  type IHeaders,
  type KafkaConfig,
  type logCreator,
  type Producer,
} from 'kafkajs';
import {
  perPartition,
  retryUntilDone,
  type Bus,
  type BatchContext,
  type Headers,
  type MessageBatch,
  type OutgoingMessage,
  type SubscribeOptions,
  type Subscription,
  type TopicSpec,
} from './bus';
import { publishTraced } from '../telemetry/telemetry';
import { coalescing } from './coalesce';

export interface KafkaBusOptions {
  brokers: string[];
  clientId: string;
  /** Partitions of one subscription handled at once (order per partition is kept). */
  partitionsConsumedConcurrently?: number;
  kafkaConfig?: Partial<KafkaConfig>;
  /** Every consumer group's session (kafkajs's defaults when unset: 30 s and 3 s). */
  consumerSession?: ConsumerSession;
  onError?(message: string, error: unknown): void;
}

export interface ConsumerSession {
  /**
   * How long the broker waits for a member's heartbeat before it moves the member's partitions.
   * After a crash, a restarted process (a new member) takes over only once the dead one timed
   * out: this bounds that recovery. Within the broker's group.{min,max}.session.timeout.ms.
   */
  sessionTimeoutMs?: number;
  /** How often a member heartbeats (kafkajs heartbeats between batches); well under the timeout. */
  heartbeatIntervalMs?: number;
  /**
   * The most bytes one fetch brings (every partition of it together), and so one handled group
   * and its commit: DEFAULT_FETCH_MAX_BYTES when unset. kafkajs's own default (10 MiB) let a
   * consumer catching up after a restart handle one group of ~20,000 events before its first
   * commit, so it showed no progress for half a minute and a crash in it redid all of it.
   */
  fetchMaxBytes?: number;
}

/** 1 MiB a fetch (a few thousand events), per partition at most that too. */
export const DEFAULT_FETCH_MAX_BYTES = 1024 * 1024;

/**
 * Heartbeats every `everyMs` until the returned stop is called. kafkajs heartbeats only between
 * batches: a group whose handling outlasts the session timeout (a slow database, retries, a loaded
 * machine) got its member evicted mid-work, its commit refused and its partitions rebalanced, and a
 * short session made that common. kafkajs shares one heartbeat request between callers; a failed
 * beat (a rebalance under way) is left to its next fetch, which rejoins.
 */
export function heartbeating(heartbeat: () => Promise<void>, everyMs: number): () => void {
  const timer = setInterval(() => void heartbeat().catch(() => undefined), everyMs);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * The producer's retries: backoff from 300 ms doubling to 10 s between attempts, about 40 s in all,
 * so a broker restart is ridden out inside kafkajs, whose retries of a batch carry the same
 * sequence numbers (the broker drops a copy it already wrote) rather than failing the send.
 */
const PRODUCER_RETRY = { retries: 8, initialRetryTime: 300, maxRetryTime: 10_000 };

/** A subscription's kafkajs consumer settings: its group, fast and bounded fetches, the session. */
export function consumerConfig(groupId: string, session: ConsumerSession = {}): ConsumerConfig {
  const fetchMaxBytes = session.fetchMaxBytes ?? DEFAULT_FETCH_MAX_BYTES;
  return {
    groupId,
    maxWaitTimeInMs: 100,
    maxBytes: fetchMaxBytes,
    maxBytesPerPartition: fetchMaxBytes,
    retry: { retries: 10 },
    ...(session.sessionTimeoutMs !== undefined ? { sessionTimeout: session.sessionTimeoutMs } : {}),
    ...(session.heartbeatIntervalMs !== undefined ? { heartbeatInterval: session.heartbeatIntervalMs } : {}),
  };
}

function toHeaders(headers: IHeaders | undefined): Headers {
  const out: Headers = {};
  // for-in, not Object.entries: this runs for every consumed message.
  for (const name in headers) {
    const value = headers[name];
    const first = Array.isArray(value) ? value[0] : value;
    if (first !== undefined) out[name] = first.toString();
  }
  return out;
}

const MURMUR2_M = 0x5bd1e995;

/**
 * Kafka's murmur2 (the Java client's `Utils.murmur2`) of `length` bytes of `data`, as a signed
 * 32-bit int. kafkajs computes the same with a 64-bit Long object per arithmetic step; only the
 * low 32 bits ever reach the result, so 32-bit integer arithmetic gives the same hash.
 */
export function murmur2(data: Uint8Array, length = data.length): number {
  let h = 0x9747b28c ^ length;
  const whole = length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, MURMUR2_M);
    k ^= k >>> 24;
    k = Math.imul(k, MURMUR2_M);
    h = Math.imul(h, MURMUR2_M) ^ k;
  }
  const tail = length & 3;
  if (tail > 0) {
    if (tail === 3) h ^= data[whole + 2]! << 16;
    if (tail >= 2) h ^= data[whole + 1]! << 8;
    h ^= data[whole]!;
    h = Math.imul(h, MURMUR2_M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, MURMUR2_M);
  h ^= h >>> 15;
  return h | 0;
}

/**
 * kafkajs's DefaultPartitioner (the Java client's: a keyed message goes to
 * `positive(murmur2(utf8(key))) % partitions`), with the hash above: the same partition for every
 * key, at a fraction of the CPU (the Long arithmetic was ~5 % of a relay's time). Messages with an
 * explicit partition or no key are left to kafkajs's own partitioner.
 */
export const javaCompatiblePartitioner: ICustomPartitioner = () => {
  const fallback = Partitioners.DefaultPartitioner();
  let scratch = Buffer.allocUnsafe(1_024);
  return (args) => {
    const { message, partitionMetadata } = args;
    if ((message.partition !== null && message.partition !== undefined) || typeof message.key !== 'string') {
      return fallback(args);
    }
    // A UTF-16 code unit is at most 3 bytes of UTF-8.
    if (scratch.length < message.key.length * 3) scratch = Buffer.allocUnsafe(message.key.length * 3);
    const length = scratch.write(message.key, 0, 'utf8');
    return (murmur2(scratch, length) & 0x7fffffff) % partitionMetadata.length;
  };
};

/** A partition's batch as kafkajs handed it over, with what committing it needs. */
interface Fetched {
  batch: MessageBatch;
  lastOffset: string;
  heartbeat(): Promise<void>;
  isRunning(): boolean;
  isStale(): boolean;
  resolveOffset(offset: string): void;
}

/** Partitions of one fetch handled together with handleBatches (more wait for the next group). */
const GATHERED_PARTITIONS = 64;

/**
 * Error responses kafkajs logs at ERROR although it retries them itself and they pass on their
 * own: leadership and group-coordinator churn (a topic just created, a broker starting, a
 * rebalance). Logged, they buried real errors under dozens of lines per consumer start.
 */
const TRANSIENT_RESPONSES = new Set([
  'This server is not the leader for that topic-partition',
  'There is no leader for this topic-partition as we are in the middle of a leadership election',
  'This server does not host this topic-partition',
  "The coordinator is loading and hence can't process requests for this group",
  'The group coordinator is not available',
  'This is not the correct coordinator for this group',
  'The group is rebalancing, so a rejoin is needed',
]);

/** kafkajs's console logger (JSON lines) without the transient error responses above. */
export const quietLogCreator: logCreator = () => (entry) => {
  if (
    entry.namespace === 'Connection' &&
    typeof entry.log.error === 'string' &&
    TRANSIENT_RESPONSES.has(entry.log.error)
  ) {
    return;
  }
  const line = JSON.stringify({
    level: entry.label,
    ...entry.log,
    message: `${entry.namespace ? `[${entry.namespace}] ` : ''}${entry.log.message}`,
  });
  if (entry.level === logLevel.ERROR) console.error(line);
  else if (entry.level === logLevel.WARN) console.warn(line);
  else console.log(line);
};

function toKafkaMessages(messages: OutgoingMessage[]) {
  return messages.map((m) => ({ key: m.key, value: m.value, headers: m.headers }));
}

/**
 * How long subscribe waits for its group to be joined. A process restarted after a crash joins
 * only once the broker gave up on its dead member (the session timeout, 30 s by default) and the
 * rebalance finished (its rebalance timeout, 60 s): a 30 s deadline raced the first and made the
 * restarted process exit (seen in the fault test).
 */
/** How long a consumer that kafkajs gave up on waits before it is started again. */
const CRASH_RESTART_DELAY_MS = 1_000;

const joinDeadlineMs = (session: ConsumerSession = {}) =>
  Math.max(90_000, (session.sessionTimeoutMs ?? 30_000) + 60_000);

/** The production transport: kafkajs, idempotent producer with acks=all, manual commits. */
export function createKafkaBus(options: KafkaBusOptions): Bus {
  const kafka = new Kafka({
    brokers: options.brokers,
    clientId: options.clientId,
    // kafkajs narrates every rebalance at WARN; errors are what an operator needs.
    logLevel: logLevel.ERROR,
    logCreator: quietLogCreator,
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
        retry: PRODUCER_RETRY,
        createPartitioner: javaCompatiblePartitioner,
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

  // Publishes made while a request is in flight go together in the next one (see coalescing).
  const publishBatch: Bus['publishBatch'] = coalescing(
    async (batches) => {
      const topicMessages = batches
        .filter((b) => b.messages.length > 0)
        .map((b) => ({ topic: b.topic, messages: toKafkaMessages(b.messages) }));
      if (topicMessages.length === 0) return;
      const current = getProducer();
      try {
        await (await current).sendBatch({ acks: -1, topicMessages });
      } catch (error) {
        // A send that failed for good (past PRODUCER_RETRY) may have been written all the same (the
        // answer lost), and kafkajs hands its sequence numbers to the next send: a next batch of the
        // same length for a partition would be taken by the broker for that copy and dropped while
        // acked, one of another length refused as out of order ever after. So the next send starts
        // a fresh producer (a new producer id): a retry of a batch that was written is then a copy on
        // the topic, with the same event ids, which inbox consumers drop; nothing is lost.
        if (producer === current) {
          producer = undefined;
          void current.then((p) => p.disconnect()).catch(() => undefined);
        }
        throw error;
      }
    },
    // Under the broker's default message.max.bytes (1 MiB) for any one partition's batch.
    { maxMessages: 10_000, maxBytes: 512 * 1024 },
  );

  return {
    transport: 'kafka',
    // Producer spans in the caller's context, before publishes of many callers are gathered.
    publish: (topic, messages) => publishTraced([{ topic, messages }], publishBatch),
    publishBatch: (batches) => publishTraced(batches, publishBatch),

    async subscribe<P>(sub: SubscribeOptions<P>): Promise<Subscription> {
      const consumer = kafka.consumer(consumerConfig(sub.groupId, options.consumerSession));
      consumers.add(consumer);
      let stopping = false;
      const joinDeadline = joinDeadlineMs(options.consumerSession);
      const heartbeatEveryMs = options.consumerSession?.heartbeatIntervalMs ?? 3_000;
      const joined = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`group ${sub.groupId} did not join within ${joinDeadline / 1000}s`)),
          joinDeadline,
        );
        consumer.on(consumer.events.GROUP_JOIN, () => {
          clearTimeout(timer);
          resolve();
        });
        consumer.on(consumer.events.CRASH, (e) => {
          onError(`consumer ${sub.groupId} crashed`, e.payload.error);
          // A crash kafkajs retries itself ("the coordinator is loading", a SyncGroup timeout just
          // after a broker restart) is waited out within the join deadline: rejecting on it made a
          // process started at that moment exit (seen in the fault test).
          if (e.payload.restart) return;
          clearTimeout(timer);
          reject(e.payload.error);
          restartAfterCrash();
        });
      });
      /**
       * kafkajs restarts a crashed consumer only after an error it deems retriable. Another one
       * (e.g. "Failed to find group coordinator" while a broker restarts, seen in the chaos test)
       * left the group stopped for good while the process looked healthy. Once joined, such a crash
       * starts the consumer again here, until it runs or the subscription is stopped.
       */
      let joinedOnce = false;
      let restartTimer: NodeJS.Timeout | undefined;
      const restartAfterCrash = () => {
        if (!joinedOnce || stopping || restartTimer) return;
        restartTimer = setTimeout(() => {
          restartTimer = undefined;
          if (stopping) return;
          consumer.run(runConfig).catch((error: unknown) => {
            onError(`consumer ${sub.groupId}: starting again after a crash failed; retrying`, error);
            restartAfterCrash();
          });
        }, CRASH_RESTART_DELAY_MS);
      };
      consumer.on(consumer.events.GROUP_JOIN, () => void (joinedOnce = true));
      await consumer.connect();
      for (const topic of sub.topics)
        await consumer.subscribe({ topic, fromBeginning: sub.fromBeginning ?? true });
      const combined = sub.handleBatches !== undefined;
      const { handleBatch } = perPartition(sub);
      const handleBatches =
        sub.handleBatches ??
        ((batches: MessageBatch[], context: BatchContext) => handleBatch(batches[0]!, context));
      const inFlight = new Set<Promise<unknown>>();
      const track = <T>(work: Promise<T>): Promise<T> => {
        inFlight.add(work);
        void work.then(
          () => inFlight.delete(work),
          () => inFlight.delete(work),
        );
        return work;
      };

      /**
       * Handles fetched batches in one call, then commits the offsets of those still ours at once.
       * A group that ends without its commit (stopped, given up while a partition went stale, or
       * the commit failed) must not be overtaken: later groups of its partitions were fetched (and
       * kafkajs resolved past it), so each partition still ours is sought back to the group's first
       * offset. kafkajs then treats the prefetched batches of those partitions as stale (dropped,
       * never committed) and fetches the group's messages again.
       */
      const handleFetched = async (fetched: Fetched[], prepared: P) => {
        // Once stop is requested no new group starts: a prefetched one waits for its next owner.
        if (stopping) return;
        const live = fetched.filter((f) => !f.isStale());
        if (live.length === 0) return;
        const batches = live.map((f) => f.batch);
        const running = () => !stopping && live.every((f) => f.isRunning() && !f.isStale());
        let committed = false;
        const stopBeating = heartbeating(live[0]!.heartbeat, heartbeatEveryMs);
        try {
          const done = await retryUntilDone(
            () => handleBatches(batches, { isRunning: running, heartbeat: live[0]!.heartbeat }, prepared),
            running,
            (error, attempt) => sub.onRetry?.(error, attempt, batches),
            sub.retry,
          );
          if (!done) return;
          // Committed only after the handler's work is durable: a crash before this line redelivers.
          const ours = live.filter((f) => !f.isStale());
          if (ours.length === 0) return;
          await consumer.commitOffsets(
            ours.map((f) => ({
              topic: f.batch.topic,
              partition: f.batch.partition,
              offset: (BigInt(f.lastOffset) + 1n).toString(),
            })),
          );
          committed = true;
          for (const f of ours) f.resolveOffset(f.lastOffset);
          await live[0]!.heartbeat();
        } finally {
          stopBeating();
          if (!committed && !stopping) {
            for (const f of live) {
              if (f.isStale()) continue;
              try {
                consumer.seek({
                  topic: f.batch.topic,
                  partition: f.batch.partition,
                  offset: f.batch.messages[0]!.offset,
                });
              } catch (error) {
                // Not running any more: its next owner starts from the committed offset anyway.
                onError(`consumer ${sub.groupId}: seeking back to an uncommitted group failed`, error);
              }
            }
          }
        }
      };

      // The handling of the group before (settled either way): groups are handled one at a time.
      let previous: Promise<void> = Promise.resolve();
      /**
       * A fetch's group: prepared at once, handled after the group before. Without `prepare`
       * kafkajs waits for the handling (and so for the commit) before it fetches again; with it,
       * only for the group before, so the next fetch and its preparation overlap this handling.
       */
      const processGroup = async (group: Fetched[]): Promise<void> => {
        const batches = group.map((f) => f.batch);
        let prepared = undefined as P;
        if (sub.prepare) {
          const running = () => !stopping && group.every((f) => f.isRunning() && !f.isStale());
          const ready = await retryUntilDone(
            async () => void (prepared = await sub.prepare!(batches)),
            running,
            (error, attempt) => sub.onRetry?.(error, attempt, batches),
            sub.retry,
          );
          if (!ready) return;
        }
        const before = previous;
        const handling = track(before.then(() => handleFetched(group, prepared)));
        previous = handling.catch(() => undefined);
        if (!sub.prepare) return handling;
        await before;
        // Fetch on past this group; its offsets are committed when its handling is durable.
        for (const f of group) f.resolveOffset(f.lastOffset);
        handling.catch((error: unknown) =>
          onError(`consumer ${sub.groupId}: committing a fetch failed`, error),
        );
      };

      // With handleBatches, the batches of one fetch (kafkajs hands them to its workers in the same
      // turn of the event loop) are gathered until the next turn and handled together.
      let gathering: Fetched[] | undefined;
      let gathered: Promise<void> | undefined;
      const gather = (fetched: Fetched): Promise<void> => {
        if (!gathering) {
          const group: Fetched[] = [];
          gathering = group;
          gathered = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
            if (gathering === group) gathering = undefined;
            return processGroup(group);
          });
        }
        gathering.push(fetched);
        return gathered!;
      };

      const runConfig: ConsumerRunConfig = {
        autoCommit: false,
        eachBatchAutoResolve: false,
        // Gathering needs every partition of a fetch in hand at once.
        partitionsConsumedConcurrently: combined
          ? GATHERED_PARTITIONS
          : (options.partitionsConsumedConcurrently ?? 4),
        eachBatch: async ({ batch, heartbeat, isRunning, isStale, resolveOffset }) => {
          if (batch.messages.length === 0) return;
          const fetched: Fetched = {
            batch: {
              topic: batch.topic,
              partition: batch.partition,
              messages: batch.messages.map((m) => ({
                topic: batch.topic,
                partition: batch.partition,
                offset: m.offset,
                key: m.key ? m.key.toString() : null,
                value: m.value,
                headers: toHeaders(m.headers),
                timestamp: m.timestamp,
              })),
            },
            lastOffset: batch.messages[batch.messages.length - 1]!.offset,
            heartbeat,
            isRunning,
            isStale,
            resolveOffset,
          };
          // Once stopping, nothing new starts: it is fetched again by whoever owns it next.
          if (stopping) return;
          await track(combined ? gather(fetched) : handleFetched([fetched], undefined as P));
        },
      };
      await consumer.run(runConfig);
      await joined;
      return {
        groupId: sub.groupId,
        async stop() {
          stopping = true;
          clearTimeout(restartTimer);
          // The batches in hand finish and commit first: kafkajs drops commits once it stops.
          await Promise.allSettled([...inFlight]);
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
          topics: missing.map((t) => ({
            topic: t.topic,
            numPartitions: t.numPartitions,
            configEntries: t.retentionMs ? [{ name: 'retention.ms', value: String(t.retentionMs) }] : [],
          })),
        });
        // Our own wait: kafkajs's gives up on UNKNOWN_TOPIC_OR_PARTITION from a busy KRaft broker.
        await awaitTopicLeaders(
          a,
          missing.map((t) => t.topic),
        );
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
          const from = done < 0 ? Number(e.low) : done;
          const end = Number(e.high);
          return { partition: e.partition, committed: from, end, lag: end - from };
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
