import { randomUUID } from 'node:crypto';
import { context } from '@opentelemetry/api';
import type { Knex } from 'knex';
import { backoffDelay, Wakeup } from '../bus';
import { withOrg, withOrgs, type Database } from '../db';
import type { Metrics } from '../http';
import type { Logger } from '../logging';
import { SpanKind, withSpanFrom } from '../telemetry';
import { FIRING_TIMER } from './schedule';
import { timerMetricsOf, type TimerMetrics } from './metrics';
import {
  deleteLeased,
  leaseTimers,
  lockLeased,
  measureBacklog,
  nextDueAt,
  recordFailure,
  walkOrgs,
  type DueTimer,
  type TimerBacklog,
} from './table';

export type { DueTimer, TimerBacklog } from './table';

/**
 * Fires one timer inside the transaction that deletes it, with the timer's org set (row-level
 * security on): what it appends with `trx` commits with the firing or not at all. Throwing rolls
 * its work back and the timer is retried later. `trx` is the firing's; keep no use of it past
 * the returned promise.
 */
export type TimerHandler = (trx: Knex.Transaction, timer: DueTimer) => Promise<void>;

export interface TimerPollerOptions {
  db: Database;
  logger: Logger;
  metrics?: Metrics;
  /** Label of the metrics and logs (the owning service). */
  service: string;
  /** By timer kind. A due timer of a kind with no handler fails like a throwing handler. */
  handlers: Record<string, TimerHandler>;
  /** What is due is decided by this clock (tests pass a virtual one). */
  now?: () => Date;
  /** Longest pause of an idle poller; it wakes earlier for the next due timer or wake(). */
  intervalMs?: number;
  /** Most timers a round leases and fires. */
  batchSize?: number;
  /** Most timers of one org a round fires; also the most timers fired in one transaction. */
  perOrgBatch?: number;
  /** Called after a round that fired something (e.g. the outbox relay's wake-up). */
  onFired?: () => void;
  /** Attempts after which a failing timer is parked (kept, not fired again until rescheduled). */
  maxAttempts?: number;
  /** Pause before the next attempt after `attempts` failures. */
  retryDelayMs?(attempts: number): number;
  /** Firing transactions of a round that run at the same time, each on its own connection. */
  concurrency?: number;
  /** How often start() measures backlog, oldest due age and parked count (with metrics). */
  gaugeIntervalMs?: number;
  /**
   * How long a round's lease keeps other replicas off its timers. Only a replica that died
   * between leasing and firing makes anyone wait for it; a firing takes far less.
   */
  leaseMs?: number;
}

export interface TimerPoller {
  start(): void;
  stop(): Promise<void>;
  /** One round; resolves to the timers fired (for tests and benchmarks). */
  runOnce(): Promise<number>;
  /** Wakes an idle poller at once, e.g. after scheduling a timer that is due now. */
  wake(): void;
  /** Measures what the gauges show (and sets them, with metrics). */
  backlog(): Promise<TimerBacklog>;
}

type Outcome = 'fired' | 'failed' | 'parked' | 'gone';

/** A handler of a batch failed: the batch rolled back and its timers go one at a time. */
class BatchFailed extends Error {
  constructor(
    readonly timer: DueTimer,
    readonly failure: unknown,
  ) {
    super(`timer ${timer.timerId} failed`);
  }
}

const RETRY_BASE_MS = 1_000;
const RETRY_CAP_MS = 60 * 60_000;
const MIN_IDLE_WAIT_MS = 20;
const ERROR_TEXT_LIMIT = 2_000;

/**
 * Runs a timer's handler in a span continuing the trace the timer was scheduled in, so what the
 * firing appends (and everything downstream) stays in the trace of what asked for the timer.
 */
function fireTraced(timer: DueTimer, fire: () => Promise<void>): Promise<void> {
  const carried: Record<string, string> = {};
  if (timer.traceparent !== undefined) carried.traceparent = timer.traceparent;
  if (timer.tracestate !== undefined) carried.tracestate = timer.tracestate;
  return withSpanFrom(
    `fire timer ${timer.kind}`,
    carried,
    SpanKind.INTERNAL,
    { 'cmis.org_id': timer.orgId, 'cmis.timer_id': timer.timerId, 'cmis.timer_kind': timer.kind },
    () =>
      context.with(
        context.active().setValue(FIRING_TIMER, { orgId: timer.orgId, timerId: timer.timerId }),
        fire,
      ),
  );
}

/** 1 s, 2 s, 4 s … doubling up to an hour. */
export function defaultTimerRetryDelay(attempts: number): number {
  return Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** Math.min(Math.max(attempts - 1, 0), 30));
}

/**
 * The durable timer poller. A round walks the orgs that have due timers, starting after the org
 * where its previous round stopped, and leases at most perOrgBatch of each org's earliest (FOR
 * UPDATE SKIP LOCKED, one statement for a chunk of orgs): one org's million due timers wait
 * their turn behind every other org's first ones, and replicas never lease the same timer. The
 * leased timers are then deleted (still under this lease) and fired in transactions of up to
 * perOrgBatch timers, each org's with its org set; the handlers append their events in them.
 * When a handler throws, its transaction rolls back and its timers are fired one at a time
 * instead, each with a savepoint, so only the failing one is retried later: attempts counted,
 * due_at pushed back, parked after maxAttempts.
 *
 * The timer row is deleted before its handler runs, so a handler may schedule the same timerId
 * again (a schedule's next tick) and that new timer survives the firing. Scheduling or
 * cancelling a leased timer takes it from the lease: the firing skips it.
 */
export function createTimerPoller(options: TimerPollerOptions): TimerPoller {
  const { db, logger, service, handlers } = options;
  const now = options.now ?? (() => new Date());
  const intervalMs = positive('intervalMs', options.intervalMs ?? 1_000);
  const batchSize = positive('batchSize', options.batchSize ?? 500);
  const perOrgBatch = positive('perOrgBatch', options.perOrgBatch ?? 20);
  const maxAttempts = positive('maxAttempts', options.maxAttempts ?? 10);
  const concurrency = positive('concurrency', options.concurrency ?? 1);
  const gaugeIntervalMs = positive('gaugeIntervalMs', options.gaugeIntervalMs ?? 10_000);
  const leaseMs = positive('leaseMs', options.leaseMs ?? 60_000);
  const retryDelayMs = options.retryDelayMs ?? defaultTimerRetryDelay;
  // Orgs are walked this many at a time: as many as a round needs when each fills perOrgBatch.
  const walkChunk = Math.max(1, Math.ceil(batchSize / perOrgBatch));
  const metrics: TimerMetrics | undefined = options.metrics ? timerMetricsOf(options.metrics) : undefined;
  // Replicas start their walks at different orgs, so they do not all crowd the same ones first.
  let cursor: string | undefined = randomUUID();
  let running = false;
  let loop: Promise<void> | undefined;
  let gauges: NodeJS.Timeout | undefined;
  const wakeup = new Wakeup();

  /**
   * Leased timers of a few orgs in one transaction (withOrgs: the org is set before each org's
   * statements, so every handler runs under its own org's row-level security); one at a time
   * instead if a handler throws. A transaction per org would cost an org with one due timer a
   * commit of its own, and many orgs with a timer or two each are the busy case of a real day.
   */
  const fireGroup = async (group: Array<[string, DueTimer[]]>, token: string): Promise<number> => {
    const taken: DueTimer[] = [];
    try {
      await withOrgs(db.app, async (trx, useOrg) => {
        for (const [orgId, leased] of group) {
          await useOrg(orgId);
          const ids = leased.map((t) => t.timerId);
          const still = await deleteLeased(trx, orgId, ids, token);
          // A timer rescheduled or cancelled since the lease is not this firing's any more.
          for (const timer of leased) {
            if (!still.has(timer.timerId)) continue;
            taken.push(timer);
            const handler = handlers[timer.kind];
            if (!handler) throw new BatchFailed(timer, noHandler(timer.kind));
            try {
              await fireTraced(timer, () => handler(trx, timer));
            } catch (error) {
              throw new BatchFailed(timer, error);
            }
          }
        }
      });
    } catch (error) {
      if (!(error instanceof BatchFailed)) throw error;
      // Nothing of the group committed. The failing timer's attempt is spent (its handler is
      // not run twice); the others, and those the group did not reach, go again one at a time.
      let fired = 0;
      for (const [, leased] of group) {
        for (const timer of leased) {
          const known = timer === error.timer ? { failure: error.failure } : undefined;
          if ((await fireAlone(timer, token, known)) === 'fired') fired += 1;
        }
      }
      return fired;
    }
    firedNow(taken);
    return taken.length;
  };

  /**
   * One leased timer in its own transaction: handler under a savepoint, its failure recorded
   * beside it. With `known`, the handler already failed in its batch: only the failure is recorded.
   */
  const fireAlone = async (
    leased: DueTimer,
    token: string,
    known?: { failure: unknown },
  ): Promise<Outcome> => {
    let timer: DueTimer | undefined;
    let failure: unknown;
    const outcome = await withOrg(db.app, leased.orgId, async (trx): Promise<Outcome> => {
      timer = await lockLeased(trx, leased.orgId, leased.timerId, token);
      if (!timer) return 'gone'; // rescheduled, cancelled or its lease taken over meanwhile
      const current = timer;
      if (known) {
        failure = known.failure;
        return failed(trx, current, known.failure);
      }
      try {
        await trx.transaction(async (savepoint) => {
          await deleteLeased(savepoint, current.orgId, [current.timerId], token);
          const handler = handlers[current.kind];
          if (!handler) throw noHandler(current.kind);
          await fireTraced(current, () => handler(savepoint, current));
        });
        return 'fired';
      } catch (error) {
        failure = error;
        return failed(trx, current, error);
      }
    });
    if (!timer) return outcome;
    if (outcome === 'fired') firedNow([timer]);
    else {
      const fields = { service, orgId: timer.orgId, timerId: timer.timerId, kind: timer.kind };
      const attempts = timer.attempts + 1;
      metrics?.failed.inc({ service, kind: timer.kind });
      if (outcome === 'parked') {
        metrics?.parked.inc({ service, kind: timer.kind });
        logger.error(
          { ...fields, attempts, err: failure },
          `timer parked after ${maxAttempts} failed attempts; it stays until rescheduled`,
        );
      } else {
        logger.warn({ ...fields, attempts, err: failure }, 'timer handler failed; retrying later');
      }
    }
    return outcome;
  };

  const failed = async (trx: Knex.Transaction, timer: DueTimer, error: unknown): Promise<Outcome> => {
    const attempts = timer.attempts + 1;
    const parked = attempts >= maxAttempts;
    const failedAt = now();
    await recordFailure(trx, timer, {
      attempts,
      reason: errorText(error),
      retryAt: parked ? null : new Date(failedAt.getTime() + retryDelayMs(attempts)),
      parkedAt: parked ? failedAt : null,
    });
    return parked ? 'parked' : 'failed';
  };

  const firedNow = (timers: DueTimer[]) => {
    if (!metrics || timers.length === 0) return;
    const firedAt = now().getTime();
    for (const timer of timers) {
      metrics.fired.inc({ service, kind: timer.kind });
      metrics.lateness.observe(
        { service, kind: timer.kind },
        Math.max(0, firedAt - timer.dueAt.getTime()) / 1000,
      );
    }
  };

  /**
   * Leases the chunk's timers (at most perOrgBatch of each org, `budget` in all), then fires them
   * in transactions of a few orgs each (see fireGroup), `concurrency` transactions at a time.
   */
  const fireOrgs = async (orgs: string[], at: Date, budget: number) => {
    const token = randomUUID();
    const leased = await leaseTimers(db, orgs, at, {
      perOrg: perOrgBatch,
      limit: budget,
      token,
      until: new Date(at.getTime() + leaseMs),
    });
    const byOrg = new Map<string, DueTimer[]>();
    for (const timer of leased) {
      let list = byOrg.get(timer.orgId);
      if (!list) byOrg.set(timer.orgId, (list = []));
      list.push(timer);
    }
    const queue = orgs.filter((orgId) => byOrg.has(orgId));
    // Consecutive orgs share a transaction up to perOrgBatch timers, fewer when that leaves the
    // round's concurrency unused; an org's share is never split.
    const groupSize = Math.min(perOrgBatch, Math.ceil(leased.length / concurrency));
    const groups: Array<Array<[string, DueTimer[]]>> = [];
    let size = Infinity;
    for (const orgId of queue) {
      const timers = byOrg.get(orgId)!;
      if (size + timers.length > groupSize) {
        groups.push([]);
        size = 0;
      }
      groups[groups.length - 1]!.push([orgId, timers]);
      size += timers.length;
    }
    let fired = 0;
    let next = 0;
    let error: unknown;
    const worker = async () => {
      while (next < groups.length) {
        const group = groups[next++]!;
        try {
          const n = await fireGroup(group, token);
          fired += n; // not `fired += await …`: that reads `fired` before another worker adds to it
        } catch (failure) {
          error ??= failure; // its timers stay leased until the lease runs out, then go again
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, groups.length) }, worker));
    // Where the next round goes on: after the last org served (the budget may end mid-chunk).
    const served = leased.length >= budget ? queue[queue.length - 1] : orgs[orgs.length - 1];
    return { fired, leased: leased.length, served, error };
  };

  /**
   * A round: the orgs with due timers in org id order, from the one after the previous round's
   * last to the end and on from the start, walked a chunk at a time, until batchSize timers
   * fired or every org had its turn. An org with few due timers costs the round few, so when
   * many orgs each have a few, one round reaches them all.
   */
  const runOnce = async (): Promise<number> => {
    const at = now();
    const start = cursor;
    let after = start;
    let wrapped = false;
    let fired = 0;
    let error: unknown;
    let leased = 0;
    while (leased < batchSize) {
      const orgs = await walkOrgs(db, at, walkChunk, after, wrapped ? start : undefined);
      if (orgs.length > 0) {
        const round = await fireOrgs(orgs, at, batchSize - leased);
        leased += round.leased;
        fired += round.fired;
        error ??= round.error;
        cursor = after = round.served ?? orgs[orgs.length - 1];
      }
      if (orgs.length < walkChunk) {
        // The end of the orgs: go on from the start, up to where the round began.
        if (wrapped || start === undefined) break;
        wrapped = true;
        after = undefined;
      }
    }
    if (fired > 0) options.onFired?.();
    if (error !== undefined) throw error;
    return fired;
  };

  /** How long an idle poller sleeps: until the next timer is due, at most intervalMs. */
  const idleWaitMs = async (): Promise<number> => {
    const next = await nextDueAt(db);
    if (!next) return intervalMs;
    return Math.min(intervalMs, Math.max(MIN_IDLE_WAIT_MS, next.getTime() - now().getTime()));
  };

  const backlog = async (): Promise<TimerBacklog> => {
    const measured = await measureBacklog(db, now());
    metrics?.backlog.set(measured.due);
    metrics?.oldestDueAge.set({ service }, measured.oldestDueAgeSeconds);
    metrics?.parkedNow.set({ service }, measured.parked);
    return measured;
  };

  return {
    start() {
      if (running) return;
      running = true;
      if (metrics) {
        gauges = setInterval(() => {
          backlog().catch((error: unknown) => logger.debug({ err: error }, 'timer gauges failed'));
        }, gaugeIntervalMs);
        gauges.unref();
      }
      loop = (async () => {
        let failures = 0;
        while (running) {
          wakeup.reset();
          try {
            const fired = await runOnce();
            failures = 0;
            if (fired === 0 && running) await wakeup.wait(await idleWaitMs());
          } catch (error) {
            failures += 1;
            logger.error({ err: error, service }, 'timer poller round failed; retrying with backoff');
            if (running) await wakeup.wait(backoffDelay(failures, { maxMs: 30_000 }));
          }
        }
      })();
    },
    async stop() {
      running = false;
      if (gauges) clearInterval(gauges);
      gauges = undefined;
      wakeup.wake();
      await loop;
      loop = undefined;
    },
    runOnce,
    wake: () => wakeup.wake(),
    backlog,
  };
}

function noHandler(kind: string): Error {
  return new Error(`no handler for kind ${kind}`);
}

function errorText(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  // Postgres text cannot hold NUL.
  return text.split('\u0000').join('').slice(0, ERROR_TEXT_LIMIT);
}

function positive(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`timer poller ${name} must be a positive integer, got ${value}`);
  }
  return value;
}
