import { randomUUID } from 'node:crypto';
import { backoffDelay, type PartitionSubscription } from '../bus';
import { assignRoundRobin, topicPartitionId, type LiveMember, type TopicPartition } from './assignment';
import { memberLockKey, partitionLockKey } from './keys';
import { MemberSession } from './member-session';
import { PartitionWorker } from './partition-worker';
import { wakeChannel } from './schema';
import { Permits, Wakeup } from '../signals';
import type { TopicCatalog } from './topics';
import type { Wakeups } from './wakeups';

export interface GroupTiming {
  heartbeatIntervalMs: number;
  /** A member whose heartbeat is older than this is dead, even if its session lingers. */
  sessionTimeoutMs: number;
  /** How often membership is re-read when no NOTIFY says it changed. */
  rebalanceIntervalMs: number;
  joinTimeoutMs: number;
  /**
   * How long stopping a partition (stop(), or a rebalance giving it away) waits for the batch in
   * hand. Past it the handler is reported stuck, the partition is released uncommitted (its next
   * owner gets the batch again) and whatever the late handler resolves to commits nothing.
   */
  handlerDeadlineMs: number;
}

/** A handler that did not finish within the deadline of its partition's stop. */
export interface StuckHandler {
  groupId: string;
  topic: string;
  partition: number;
  /** How long the batch had been in the handler when its partition was released. */
  stuckMs: number;
}

export interface GroupMemberOptions {
  connectionString: string;
  schema: string;
  clientId: string;
  subscription: PartitionSubscription;
  catalog: TopicCatalog;
  wakeups: Wakeups;
  timing: GroupTiming;
  maxBatchMessages: number;
  partitionsConsumedConcurrently: number;
  pollIntervalMs(): number;
  onError(message: string, error: unknown): void;
  onStuckHandler(stuck: StuckHandler): void;
}

interface OwnedPartition {
  tp: TopicPartition;
  lockKey: string;
  worker: PartitionWorker;
  unwake: () => void;
}

/** While a partition we are assigned is still held by its previous owner, look again this soon. */
const HANDOVER_RETRY_MS = 100;

// Whether the advisory lock (bigint key in column `key`) is held by a live session of this
// database: pg_locks shows a bigint key as its high and low halves, objsubid 1.
const lockHeld = (key: string) => `exists (
  select 1 from pg_locks l
  where l.locktype = 'advisory' and l.granted and l.objsubid = 1
    and l.database = (select oid from pg_database where datname = current_database())
    and l.classid = ((${key} >> 32) & 4294967295)::oid
    and l.objid = (${key} & 4294967295)::oid)`;

/**
 * One subscription's membership of its consumer group. It heartbeats, reads the live members,
 * computes the deterministic round-robin assignment, gives up partitions no longer its own and
 * takes the ones that are. It owns a partition only while its session holds the partition's
 * advisory lock, so two members never deliver one partition at once, even while their views
 * of the group disagree mid-rebalance.
 */
export class GroupMember {
  readonly memberId: string;
  private readonly groupId: string;
  private readonly s: string;
  private readonly permits: Permits;
  private readonly owned = new Map<string, OwnedPartition>();
  private readonly wakeup = new Wakeup();
  private session: MemberSession | undefined;
  private running = true;
  private loopDone: Promise<void> = Promise.resolve();
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private beating = false;
  private unwakeGroup: () => void = () => undefined;
  private stopping: Promise<void> | undefined;
  private lastError: unknown;
  private markJoined: () => void = () => undefined;
  private readonly joined = new Promise<'joined'>((resolve) => (this.markJoined = () => resolve('joined')));
  private markLeaving: () => void = () => undefined;
  private readonly leaving = new Promise<'stopped'>(
    (resolve) => (this.markLeaving = () => resolve('stopped')),
  );

  constructor(private readonly o: GroupMemberOptions) {
    this.groupId = o.subscription.groupId;
    this.memberId = `${o.clientId}-${randomUUID()}`;
    this.s = `"${o.schema}"`;
    this.permits = new Permits(Math.max(1, o.partitionsConsumedConcurrently));
  }

  /** Joins the group; resolves once this member owns every partition assigned to it. */
  async join(): Promise<void> {
    this.unwakeGroup = this.o.wakeups.onGroup(this.groupId, () => this.wakeup.wake());
    this.loopDone = this.loop();
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), this.o.timing.heartbeatIntervalMs);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.o.timing.joinTimeoutMs);
    });
    const outcome = await Promise.race([this.joined, this.leaving, timedOut]);
    clearTimeout(timer);
    if (outcome === 'stopped') throw new Error(`group ${this.groupId}: stopped while joining`);
    if (outcome === 'timeout') {
      await this.stop();
      throw new Error(
        `group ${this.groupId} did not join within ${this.o.timing.joinTimeoutMs}ms` +
          (this.lastError ? `: ${String(this.lastError)}` : ''),
        { cause: this.lastError },
      );
    }
  }

  /** Stops delivering, waits for the batches in hand, releases the partitions and leaves. */
  stop(): Promise<void> {
    this.stopping ??= this.leave();
    return this.stopping;
  }

  private async leave(): Promise<void> {
    this.running = false;
    this.markLeaving();
    clearInterval(this.heartbeatTimer);
    this.unwakeGroup();
    this.wakeup.wake();
    await this.loopDone;
    await this.dropAll();
    const session = this.session;
    this.session = undefined;
    if (!session) return;
    try {
      if (!session.lost) {
        await session.query('select pg_advisory_unlock_all()');
        // The others hear of it at once instead of after the member's session timeout.
        await session.query(
          `with gone as (delete from ${this.s}.members where group_id = $1 and member_id = $2)
           select pg_notify($3, $4)`,
          [this.groupId, this.memberId, wakeChannel(this.o.schema), `g:${this.groupId}`],
        );
      }
    } catch (error) {
      this.o.onError(`group ${this.groupId}: leaving cleanly failed (its session ends anyway)`, error);
    } finally {
      await session.end();
    }
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (this.running) {
      this.wakeup.reset();
      let pending: number;
      try {
        pending = await this.rebalance();
        failures = 0;
      } catch (error) {
        if (!this.running) break;
        failures += 1;
        this.lastError = error;
        this.o.onError(`group ${this.groupId}: rebalance failed; retrying`, error);
        await this.wakeup.wait(backoffDelay(failures, { initialMs: 200, maxMs: 5_000 }));
        continue;
      }
      if (pending === 0) this.markJoined();
      await this.wakeup.wait(pending > 0 ? HANDOVER_RETRY_MS : this.o.timing.rebalanceIntervalMs);
    }
  }

  /** One round: resolves to how many assigned partitions are still held by someone else. */
  private async rebalance(): Promise<number> {
    const session = await this.ensureSession();
    // A worker that ended on its own (session lost) owns nothing any more.
    for (const [id, entry] of this.owned) if (entry.worker.ended) await this.release(id, session);

    const members = await this.liveMembers(session);
    const partitions = await this.o.catalog.partitionsKnown(members.flatMap((m) => m.topics));
    const mine = assignRoundRobin(members, partitions).get(this.memberId) ?? [];
    const wanted = new Map(mine.map((tp) => [topicPartitionId(tp), tp]));

    // Give up first what is no longer ours: its next owner is waiting for the lock.
    const revoked = [...this.owned.keys()].filter((id) => !wanted.has(id));
    if (revoked.length > 0) {
      await Promise.all(revoked.map((id) => this.release(id, session)));
      await session.query('select pg_notify($1, $2)', [wakeChannel(this.o.schema), `g:${this.groupId}`]);
    }
    let pending = 0;
    for (const [id, tp] of wanted) {
      if (!this.running) break;
      if (!this.owned.has(id) && !(await this.acquire(session, tp))) pending += 1;
    }
    return pending;
  }

  private async ensureSession(): Promise<MemberSession> {
    if (this.session && !this.session.lost) return this.session;
    if (this.session) {
      // The locks went with the session: stop delivering before anyone else can start.
      this.o.onError(`group ${this.groupId}: member session lost; rejoining`, undefined);
      await this.dropAll();
      this.session = undefined;
    }
    const session = await MemberSession.open(
      this.o.connectionString,
      `${this.o.clientId}:${this.groupId}`.slice(0, 63),
      () => this.wakeup.wake(),
    );
    try {
      await session.query('select pg_advisory_lock($1::bigint)', [this.ownLockKey()]);
      await this.register(session);
    } catch (error) {
      await session.end();
      throw error;
    }
    this.session = session;
    return session;
  }

  private ownLockKey(): string {
    return memberLockKey(this.o.schema, this.groupId, this.memberId);
  }

  private async register(session: MemberSession): Promise<void> {
    await session.query(
      `with joined as (
         insert into ${this.s}.members (group_id, member_id, client_id, topics, session_lock)
         values ($1, $2, $3, $4, $5::bigint)
         on conflict (group_id, member_id)
         do update set topics = excluded.topics, session_lock = excluded.session_lock, heartbeat_at = now()
       )
       select pg_notify($6, $7)`,
      [
        this.groupId,
        this.memberId,
        this.o.clientId,
        this.o.subscription.topics,
        this.ownLockKey(),
        wakeChannel(this.o.schema),
        `g:${this.groupId}`,
      ],
    );
  }

  /** The group's live members: heartbeat recent and member session still connected. */
  private async liveMembers(session: MemberSession): Promise<LiveMember[]> {
    await session.query(
      `delete from ${this.s}.members m
       where m.group_id = $1 and m.member_id <> $2
         and (m.heartbeat_at < now() - $3 * interval '1 millisecond' or not ${lockHeld('m.session_lock')})`,
      [this.groupId, this.memberId, this.o.timing.sessionTimeoutMs],
    );
    const { rows } = await session.query<{ member_id: string; topics: string[] }>(
      `select member_id, topics from ${this.s}.members where group_id = $1`,
      [this.groupId],
    );
    const members = rows.map((r) => ({ memberId: r.member_id, topics: r.topics }));
    if (!members.some((m) => m.memberId === this.memberId)) {
      // Others took us for dead (a stalled event loop): say we are back.
      await this.register(session);
      members.push({ memberId: this.memberId, topics: this.o.subscription.topics });
    }
    return members;
  }

  private async acquire(session: MemberSession, tp: TopicPartition): Promise<boolean> {
    const lockKey = partitionLockKey(this.o.schema, this.groupId, tp.topic, tp.partition);
    const { rows } = await session.query<{ locked: boolean }>(
      'select pg_try_advisory_lock($1::bigint) as locked',
      [lockKey],
    );
    if (!rows[0]?.locked) return false;
    try {
      const startOffset = await this.startOffset(session, tp);
      const worker = new PartitionWorker({
        schema: this.o.schema,
        groupId: this.groupId,
        topic: tp.topic,
        partition: tp.partition,
        startOffset,
        session,
        subscription: this.o.subscription,
        permits: this.permits,
        maxBatchMessages: this.o.maxBatchMessages,
        pollIntervalMs: this.o.pollIntervalMs,
        onError: this.o.onError,
        handlerDeadlineMs: this.o.timing.handlerDeadlineMs,
        onStuckHandler: this.o.onStuckHandler,
      });
      const unwake = this.o.wakeups.onPartition(tp.topic, tp.partition, () => worker.wake());
      this.owned.set(topicPartitionId(tp), { tp, lockKey, worker, unwake });
      return true;
    } catch (error) {
      await session.query('select pg_advisory_unlock($1::bigint)', [lockKey]).catch(() => undefined);
      throw error;
    }
  }

  private async startOffset(session: MemberSession, tp: TopicPartition): Promise<bigint> {
    const params = [this.groupId, tp.topic, tp.partition];
    const committed = await session.query<{ offset: string }>(
      `select "offset" from ${this.s}.committed_offsets where group_id = $1 and topic = $2 and partition = $3`,
      params,
    );
    if (committed.rows[0]) return BigInt(committed.rows[0].offset);
    if (this.o.subscription.fromBeginning ?? true) return 0n;
    // A new group starting at the end pins that end now, so a handover before its first
    // commit cannot move the start past messages published meanwhile.
    const pinned = await session.query<{ offset: string }>(
      `insert into ${this.s}.committed_offsets (group_id, topic, partition, "offset")
       select $1, topic, partition, next_offset from ${this.s}.partitions where topic = $2 and partition = $3
       on conflict (group_id, topic, partition) do update set "offset" = committed_offsets."offset"
       returning "offset"`,
      params,
    );
    return BigInt(pinned.rows[0]!.offset);
  }

  /** Stops the partition's worker (waiting for its batch in hand), then unlocks it. */
  private async release(id: string, session: MemberSession): Promise<void> {
    const entry = this.owned.get(id);
    if (!entry) return;
    entry.unwake();
    await entry.worker.stop();
    this.owned.delete(id);
    await session.query('select pg_advisory_unlock($1::bigint)', [entry.lockKey]);
  }

  /** Stops every worker; used when the session (and with it every lock) goes away. */
  private async dropAll(): Promise<void> {
    const entries = [...this.owned.values()];
    this.owned.clear();
    for (const entry of entries) entry.unwake();
    await Promise.all(entries.map((entry) => entry.worker.stop()));
  }

  private async heartbeat(): Promise<void> {
    const session = this.session;
    if (this.beating || !this.running || !session || session.lost) return;
    this.beating = true;
    try {
      const beat = await session.query(
        `update ${this.s}.members set heartbeat_at = now() where group_id = $1 and member_id = $2`,
        [this.groupId, this.memberId],
      );
      if (beat.rowCount === 0) this.wakeup.wake();
    } catch (error) {
      if (!session.lost) this.o.onError(`group ${this.groupId}: heartbeat failed`, error);
    } finally {
      this.beating = false;
    }
  }
}
