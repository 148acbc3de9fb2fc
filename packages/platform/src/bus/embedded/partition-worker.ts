import {
  backoffDelay,
  retryUntilDone,
  type BusMessage,
  type MessageBatch,
  type PartitionSubscription,
} from '../bus';
import type { StuckHandler } from './group-member';
import type { MemberSession } from './member-session';
import { Permits, Wakeup } from '../signals';

export interface PartitionWorkerOptions {
  schema: string;
  groupId: string;
  topic: string;
  partition: number;
  /** The offset of the first message to deliver (the committed offset, or where the group starts). */
  startOffset: bigint;
  session: MemberSession;
  subscription: PartitionSubscription;
  /** Shared by the member's partitions: how many handlers run at once. */
  permits: Permits;
  maxBatchMessages: number;
  /** How long an idle partition waits for a wake-up before reading again. */
  pollIntervalMs(): number;
  onError(message: string, error: unknown): void;
  /** How long stop() waits for the batch in hand (see GroupTiming.handlerDeadlineMs). */
  handlerDeadlineMs: number;
  onStuckHandler(stuck: StuckHandler): void;
}

interface MessageRow {
  offset: string;
  key: string | null;
  value: Buffer | null;
  headers: Record<string, string> | null;
  timestamp: string;
}

/**
 * Delivers one owned partition: reads from the position, hands a batch to the handler,
 * commits after it resolves, retries it with backoff when it throws (never skipping it), and
 * moves on. Runs until stopped; stop() waits for the batch in hand.
 */
export class PartitionWorker {
  private running = true;
  private readonly wakeup = new Wakeup();
  private readonly finished: Promise<void>;
  private exited = false;
  /** Set when stop() gave up on the batch in hand: its late outcome must commit nothing. */
  private abandoned = false;
  /** When the batch in hand entered the handler, and how to give its permit back (once). */
  private handling: { since: number; releasePermit: () => void } | undefined;

  constructor(private readonly o: PartitionWorkerOptions) {
    this.finished = this.run().finally(() => (this.exited = true));
  }

  /** True when the worker ended without being asked to (its session was lost). */
  get ended(): boolean {
    return this.exited && this.running;
  }

  wake(): void {
    this.wakeup.wake();
  }

  /**
   * Stops reading and waits for the batch in hand, at most handlerDeadlineMs: a handler stuck past
   * it is reported and left behind, fenced (it commits nothing), and its permit given back, so the
   * partition can be released and the rebalance or stop goes on.
   */
  async stop(): Promise<void> {
    this.running = false;
    this.wakeup.wake();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), this.o.handlerDeadlineMs);
      timer.unref();
    });
    const outcome = await Promise.race([this.finished.then(() => 'done' as const), late]);
    clearTimeout(timer);
    if (outcome === 'done') return;
    this.abandoned = true;
    const handling = this.handling;
    handling?.releasePermit();
    this.o.onStuckHandler({
      groupId: this.o.groupId,
      topic: this.o.topic,
      partition: this.o.partition,
      stuckMs: handling ? Date.now() - handling.since : this.o.handlerDeadlineMs,
    });
  }

  private async run(): Promise<void> {
    const { topic, partition, session } = this.o;
    let position = this.o.startOffset;
    let failures = 0;
    while (this.running && !session.lost) {
      this.wakeup.reset();
      let messages: BusMessage[];
      try {
        messages = await this.fetch(position);
        failures = 0;
      } catch (error) {
        if (!this.running || session.lost) return;
        failures += 1;
        this.o.onError(`reading ${topic}/${partition} failed; retrying`, error);
        await this.wakeup.wait(backoffDelay(failures));
        continue;
      }
      if (messages.length === 0) {
        await this.wakeup.wait(this.o.pollIntervalMs());
        continue;
      }
      const next = await this.deliver(messages);
      if (next === undefined) return;
      position = next;
    }
  }

  private async fetch(from: bigint): Promise<BusMessage[]> {
    const { topic, partition } = this.o;
    // Offsets below `from` may be gone (retention): reading ">=" starts at the oldest kept, as
    // Kafka's auto.offset.reset=earliest would.
    const { rows } = await this.o.session.query<MessageRow>(
      `select "offset", key, value, headers,
              floor(extract(epoch from "timestamp") * 1000)::bigint::text as "timestamp"
       from "${this.o.schema}".messages
       where topic = $1 and partition = $2 and "offset" >= $3
       order by "offset" limit $4`,
      [topic, partition, from.toString(), this.o.maxBatchMessages],
    );
    return rows.map((row) => ({
      topic,
      partition,
      offset: row.offset,
      key: row.key,
      value: row.value,
      headers: row.headers ?? {},
      timestamp: row.timestamp,
    }));
  }

  /** Resolves to the next position, or undefined when the worker must stop without committing. */
  private async deliver(messages: BusMessage[]): Promise<bigint | undefined> {
    const { subscription: sub, session } = this.o;
    const permit = await this.o.permits.acquire();
    let given = false;
    const releasePermit = () => {
      if (given) return;
      given = true;
      permit();
    };
    this.handling = { since: Date.now(), releasePermit };
    try {
      if (!this.running) return undefined;
      const batch: MessageBatch = { topic: this.o.topic, partition: this.o.partition, messages };
      const isRunning = () => this.running && !session.lost;
      const handled = await retryUntilDone(
        () => sub.handleBatch(batch, { isRunning, heartbeat: async () => undefined }),
        isRunning,
        (error, attempt) => sub.onRetry?.(error, attempt, [batch]),
        sub.retry,
      );
      // Released after its deadline: the partition may be someone else's now, and they redeliver.
      if (!handled || this.abandoned) return undefined;
      const next = BigInt(messages[messages.length - 1]!.offset) + 1n;
      // Tried once even when stopping (the work is done); retried only while the partition is ours.
      const committed = await retryUntilDone(
        () => this.commit(next),
        isRunning,
        (error) => this.o.onError(`committing ${this.o.topic}/${this.o.partition} failed; retrying`, error),
      );
      return committed ? next : undefined;
    } finally {
      this.handling = undefined;
      releasePermit();
    }
  }

  private async commit(next: bigint): Promise<void> {
    await this.o.session.query(
      `insert into "${this.o.schema}".committed_offsets (group_id, topic, partition, "offset")
       values ($1, $2, $3, $4)
       on conflict (group_id, topic, partition)
       do update set "offset" = excluded."offset", committed_at = now()`,
      [this.o.groupId, this.o.topic, this.o.partition, next.toString()],
    );
  }
}
