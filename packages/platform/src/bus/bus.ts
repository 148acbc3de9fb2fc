/**
 * The transport-neutral message bus every CMIS consumer and relay is written against.
 * `kafka` (kafkajs) is the production transport; the embedded default adds another behind
 * the same interface, and both must pass the conformance suite in ./conformance.ts.
 */

export type Headers = Record<string, string>;

export interface OutgoingMessage {
  /** `<orgId>:<subject>`: all messages of one key land on one partition, in order. */
  key: string;
  value: Buffer;
  headers?: Headers;
}

export interface BusMessage {
  topic: string;
  partition: number;
  /** Position in the partition; strings because Kafka offsets exceed 2^53. */
  offset: string;
  key: string | null;
  value: Buffer | null;
  headers: Headers;
  timestamp: string;
}

export interface MessageBatch {
  topic: string;
  partition: number;
  messages: BusMessage[];
}

export interface BatchContext {
  /** False once the subscription is stopping: long handlers should give up early. */
  isRunning(): boolean;
  /** Keeps the group membership alive during long work (a no-op where not needed). */
  heartbeat(): Promise<void>;
}

export interface SubscribeOptions<Prepared = undefined> {
  groupId: string;
  topics: string[];
  /** Where a group with no committed offset starts; default: the beginning. */
  fromBeginning?: boolean;
  /**
   * Handles one batch of one partition. Resolving commits the batch's offsets; throwing
   * commits nothing and the same batch is retried with backoff (never skipped).
   * A subscription has exactly one of handleBatch and handleBatches.
   */
  handleBatch?(batch: MessageBatch, context: BatchContext): Promise<void>;
  /**
   * Handles the batches of several partitions that arrived together (Kafka: one fetch), each
   * partition's messages in order, in one call: one transaction for all of them instead of one
   * per partition. Resolving commits every batch's offsets; throwing commits none and retries
   * them all (with what `prepare` made of them). A transport that delivers one partition at a
   * time calls it with one batch. Calls never overlap: each starts after the one before ended.
   */
  handleBatches?(batches: MessageBatch[], context: BatchContext, prepared: Prepared): Promise<void>;
  /**
   * With handleBatches: the part of the work that needs no order (decoding, validating), run on
   * arrival while the previous call of handleBatches may still be running, so that the next
   * fetch and its decoding overlap the writes of this one. At most one prepared group waits.
   */
  prepare?(batches: MessageBatch[]): Promise<Prepared>;
  /** Called when a batch (or, with handleBatches, a group) failed and will be retried. */
  onRetry?(error: unknown, attempt: number, batches: MessageBatch[]): void;
  retry?: BackoffOptions;
}

/** A subscription as a transport that delivers one partition at a time runs it. */
export type PartitionSubscription = SubscribeOptions<unknown> & {
  handleBatch: NonNullable<SubscribeOptions['handleBatch']>;
};

/** The subscription with its one-partition handler, whichever of the two it was given. */
export function perPartition<P>(sub: SubscribeOptions<P>): PartitionSubscription {
  if (!sub.handleBatch === !sub.handleBatches) {
    throw new Error('subscribe needs exactly one of handleBatch and handleBatches');
  }
  const { handleBatch, handleBatches, prepare } = sub;
  if (handleBatch) return { ...(sub as SubscribeOptions<unknown>), handleBatch };
  return {
    ...(sub as SubscribeOptions<unknown>),
    handleBatch: async (batch, context) =>
      handleBatches!([batch], context, (prepare ? await prepare([batch]) : undefined) as P),
  };
}

export interface Subscription {
  readonly groupId: string;
  /** Stops fetching and waits for the batch in hand; uncommitted work is redelivered later. */
  stop(): Promise<void>;
}

export interface TopicSpec {
  topic: string;
  numPartitions: number;
  retentionMs?: number;
}

/** Where a consumer group stands on one partition. */
export interface PartitionLag {
  partition: number;
  /** The offset the group reads next: its committed one, or the oldest kept when it has none. */
  committed: number;
  /** The offset the next message written to the partition gets. */
  end: number;
  /** end − committed. */
  lag: number;
}

export interface Bus {
  readonly transport: string;
  /** Resolves once every message is durably accepted (Kafka: idempotent producer, acks=all). */
  publish(topic: string, messages: OutgoingMessage[]): Promise<void>;
  /** Publishes to several topics at once, in one request where the transport can. */
  publishBatch(batches: Array<{ topic: string; messages: OutgoingMessage[] }>): Promise<void>;
  subscribe<Prepared = undefined>(options: SubscribeOptions<Prepared>): Promise<Subscription>;
  ensureTopics(topics: TopicSpec[]): Promise<void>;
  /** Committed offset lag per partition of a group (for /metrics, readiness and read-through checks). */
  lag(groupId: string, topic: string): Promise<PartitionLag[]>;
  ready(): Promise<boolean>;
  close(): Promise<void>;
}

export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
}

/** Exponential backoff with full jitter, capped. */
export function backoffDelay(
  attempt: number,
  { initialMs = 100, maxMs = 5_000 }: BackoffOptions = {},
): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 16));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Runs `work` until it succeeds or `isRunning` turns false, backing off between attempts.
 * Returns false when it gave up because the subscription stopped.
 */
export async function retryUntilDone(
  work: () => Promise<void>,
  isRunning: () => boolean,
  onRetry: (error: unknown, attempt: number) => void,
  backoff?: BackoffOptions,
): Promise<boolean> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      await work();
      return true;
    } catch (error) {
      if (!isRunning()) return false;
      onRetry(error, attempt);
      await sleep(backoffDelay(attempt, backoff));
      if (!isRunning()) return false;
    }
  }
}
