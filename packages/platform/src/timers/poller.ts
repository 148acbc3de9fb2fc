import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { backoffDelay, Wakeup } from '../bus';
import { withOrg, type Database } from '../db';
import type { Metrics } from '../http';
import type { Logger } from '../logging';
import { timerMetricsOf, type TimerMetrics } from './metrics';

export interface DueTimer {
  orgId: string;
  timerId: string;
  kind: string;
  dueAt: Date;
  payload: Record<string, unknown>;
  /** Failed attempts before this one. */
  attempts: number;
}

/**
 * Fires one timer inside the transaction that deletes it (withOrg, row-level security on): what
 * it appends with `trx` commits with the firing or not at all. Throwing rolls its work back and
 * the timer is retried later.
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
  /** Most timers a round fires (over ceil(batchSize / perOrgBatch) orgs). */
  batchSize?: number;
  /** Most timers of one org a round fires, in one transaction. */
  perOrgBatch?: number;
  /** Called after a round that fired something (e.g. the outbox relay's wake-up). */
  onFired?: () => void;
  /** Attempts after which a failing timer is parked (kept, not fired again until rescheduled). */
  maxAttempts?: number;
  /** Pause before the next attempt after `attempts` failures. */
  retryDelayMs?(attempts: number): number;
  /** Orgs of a round fired at the same time, each in its own transaction and connection. */
  concurrency?: number;
  /** How often start() measures backlog, oldest due age and parked count (with metrics). */
  gaugeIntervalMs?: number;
}

export interface TimerBacklog {
  /** Timers due (not parked) and not yet fired. */
  due: number;
  /** Age of the oldest due timer; 0 when none is due. */
  oldestDueAgeSeconds: number;
  parked: number;
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

type TimerRow = {
  timer_id: string;
  kind: string;
  due_at: Date;
  payload: Record<string, unknown>;
  attempts: number;
};

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

/** 1 s, 2 s, 4 s … doubling up to an hour. */
export function defaultTimerRetryDelay(attempts: number): number {
  return Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** Math.min(Math.max(attempts - 1, 0), 30));
}

/**
 * The durable timer poller. A round walks the orgs that have due timers, starting after the org
 * where its previous round stopped, and takes at most perOrgBatch of each org's earliest: one
 * org's million due timers wait their turn behind every other org's first ones. Each org's share
 * is taken (FOR UPDATE SKIP LOCKED, so replicas never take the same timer), deleted and fired in
 * one transaction with the org set; the handlers append their events in it. When a handler
 * throws, that transaction rolls back and its timers are fired one at a time instead, each with a
 * savepoint, so only the failing one is retried later: attempts counted, due_at pushed back,
 * parked after maxAttempts.
 *
 * The timer row is deleted before its handler runs, so a handler may schedule the same timerId
 * again (a schedule's next tick) and that new timer survives the firing.
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
   * Up to `limit` orgs with due timers, in org id order after `after` (exclusive) and up to
   * `upTo` (inclusive). A skip scan: one index probe per org with pending timers, never a pass
   * over the due timers themselves; nothing at all (one probe) when nothing is due.
   */
  const walkOrgs = async (at: Date, limit: number, after?: string, upTo?: string): Promise<string[]> => {
    const bounds = (alias: string) =>
      `${after ? ` and ${alias}.org_id > ?::uuid` : ''}${upTo ? ` and ${alias}.org_id <= ?::uuid` : ''}`;
    const boundValues = [...(after ? [after] : []), ...(upTo ? [upTo] : [])];
    const { rows } = await db.owner.raw<{ rows: Array<{ org_id: string }> }>(
      `with recursive orgs(org_id) as (
         (select t.org_id from timers t
           where t.parked_at is null${bounds('t')}
             and exists (select 1 from timers any_due where any_due.parked_at is null and any_due.due_at <= ?)
           order by t.org_id limit 1)
         union all
         select (select t.org_id from timers t
                  where t.parked_at is null and t.org_id > orgs.org_id${upTo ? ' and t.org_id <= ?::uuid' : ''}
                  order by t.org_id limit 1)
           from orgs where orgs.org_id is not null
       )
       select orgs.org_id from orgs
        where orgs.org_id is not null
          and exists (select 1 from timers d
                       where d.org_id = orgs.org_id and d.parked_at is null and d.due_at <= ?)
        limit ?`,
      [...boundValues, at, ...(upTo ? [upTo] : []), at, limit],
    );
    return rows.map((row) => row.org_id);
  };

  /** The org's earliest due timers, locked and deleted (the firing transaction's first statement). */
  const takeDue = async (trx: Knex.Transaction, orgId: string, at: Date): Promise<DueTimer[]> => {
    const { rows } = await trx.raw<{ rows: TimerRow[] }>(
      `delete from timers t
        using (select d.timer_id from timers d
                where d.org_id = ?::uuid and d.parked_at is null and d.due_at <= ?
                order by d.due_at
                limit ?
                for update skip locked) due
        where t.org_id = ?::uuid and t.timer_id = due.timer_id
       returning t.timer_id, t.kind, t.due_at, t.payload, t.attempts`,
      [orgId, at, perOrgBatch, orgId],
    );
    return rows
      .map((row) => dueTimer(orgId, row))
      .sort((a, b) => a.dueAt.getTime() - b.dueAt.getTime() || (a.timerId < b.timerId ? -1 : 1));
  };

  /** One org's share of a round in one transaction; one at a time instead if a handler throws. */
  const fireOrg = async (orgId: string, at: Date): Promise<number> => {
    let taken: DueTimer[] = [];
    try {
      await withOrg(db.app, orgId, async (trx) => {
        taken = await takeDue(trx, orgId, at);
        for (const timer of taken) {
          const handler = handlers[timer.kind];
          if (!handler) throw new BatchFailed(timer, noHandler(timer.kind));
          try {
            await handler(trx, timer);
          } catch (error) {
            throw new BatchFailed(timer, error);
          }
        }
      });
    } catch (error) {
      if (!(error instanceof BatchFailed)) throw error;
      // The failing timer's attempt is spent (its handler is not run twice); the others go again.
      let fired = 0;
      for (const timer of taken) {
        const known = timer === error.timer ? { failure: error.failure } : undefined;
        if ((await fireAlone(timer, at, known)) === 'fired') fired += 1;
      }
      return fired;
    }
    firedNow(taken);
    return taken.length;
  };

  /**
   * One timer in its own transaction: handler under a savepoint, its failure recorded beside it.
   * With `known`, the handler already failed in its batch: only the failure is recorded.
   */
  const fireAlone = async (taken: DueTimer, at: Date, known?: { failure: unknown }): Promise<Outcome> => {
    const { orgId, timerId } = taken;
    let timer: DueTimer | undefined;
    let failure: unknown;
    const outcome = await withOrg(db.app, orgId, async (trx): Promise<Outcome> => {
      const { rows } = await trx.raw<{ rows: TimerRow[] }>(
        `select timer_id, kind, due_at, payload, attempts from timers
          where org_id = ?::uuid and timer_id = ? and parked_at is null and due_at <= ?
          for update skip locked`,
        [orgId, timerId, at],
      );
      if (!rows[0]) return 'gone'; // another replica fired it meanwhile, or it was rescheduled
      timer = dueTimer(orgId, rows[0]);
      const current = timer;
      if (known) {
        failure = known.failure;
        return recordFailure(trx, current, known.failure);
      }
      try {
        await trx.transaction(async (savepoint) => {
          await savepoint.raw('delete from timers where org_id = ?::uuid and timer_id = ?', [orgId, timerId]);
          const handler = handlers[current.kind];
          if (!handler) throw noHandler(current.kind);
          await handler(savepoint, current);
        });
        return 'fired';
      } catch (error) {
        failure = error;
        return recordFailure(trx, current, error);
      }
    });
    if (!timer) return outcome;
    if (outcome === 'fired') firedNow([timer]);
    else {
      const fields = {
        service,
        orgId,
        timerId,
        kind: timer.kind,
        attempts: timer.attempts + 1,
        err: failure,
      };
      metrics?.failed.inc({ service, kind: timer.kind });
      if (outcome === 'parked') {
        metrics?.parked.inc({ service, kind: timer.kind });
        logger.error(fields, `timer parked after ${maxAttempts} failed attempts; it stays until rescheduled`);
      } else {
        logger.warn(fields, 'timer handler failed; retrying later');
      }
    }
    return outcome;
  };

  const recordFailure = async (trx: Knex.Transaction, timer: DueTimer, error: unknown): Promise<Outcome> => {
    const attempts = timer.attempts + 1;
    const parked = attempts >= maxAttempts;
    const failedAt = now();
    await trx.raw(
      `update timers set attempts = ?, last_error = ?, due_at = ?, parked_at = ?
        where org_id = ?::uuid and timer_id = ?`,
      [
        attempts,
        errorText(error),
        parked ? timer.dueAt : new Date(failedAt.getTime() + retryDelayMs(attempts)),
        parked ? failedAt : null,
        timer.orgId,
        timer.timerId,
      ],
    );
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

  /** Fires the orgs in order, `concurrency` at a time, until the round's budget is spent. */
  const fireOrgs = async (orgs: string[], at: Date, budget: number) => {
    let fired = 0;
    let next = 0;
    let error: unknown;
    const worker = async () => {
      while (next < orgs.length && fired < budget) {
        const orgId = orgs[next++]!;
        try {
          const n = await fireOrg(orgId, at);
          fired += n; // not `fired += await …`: that reads `fired` before another worker adds to it
        } catch (failure) {
          error ??= failure;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, orgs.length) }, worker));
    return { fired, last: orgs[next - 1], error };
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
    while (fired < batchSize) {
      const orgs = await walkOrgs(at, walkChunk, after, wrapped ? start : undefined);
      if (orgs.length > 0) {
        const round = await fireOrgs(orgs, at, batchSize - fired);
        fired += round.fired;
        error ??= round.error;
        cursor = after = round.last;
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
    const { rows } = await db.owner.raw<{ rows: Array<{ next: Date | null }> }>(
      'select min(due_at) as next from timers where parked_at is null',
    );
    const next = rows[0]?.next;
    if (!next) return intervalMs;
    return Math.min(intervalMs, Math.max(MIN_IDLE_WAIT_MS, next.getTime() - now().getTime()));
  };

  const backlog = async (): Promise<TimerBacklog> => {
    const at = now();
    const { rows } = await db.owner.raw<{
      rows: Array<{ due: string; oldest: Date | null; parked: string }>;
    }>(
      `select (select count(*) from timers where parked_at is null and due_at <= ?) as due,
              (select min(due_at) from timers where parked_at is null) as oldest,
              (select count(*) from timers where parked_at is not null) as parked`,
      [at],
    );
    const row = rows[0];
    const oldest = row?.oldest ? at.getTime() - row.oldest.getTime() : 0;
    const measured = {
      due: Number(row?.due ?? 0),
      oldestDueAgeSeconds: Math.max(0, oldest) / 1000,
      parked: Number(row?.parked ?? 0),
    };
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

function dueTimer(orgId: string, row: TimerRow): DueTimer {
  return {
    orgId,
    timerId: row.timer_id,
    kind: row.kind,
    dueAt: row.due_at,
    payload: row.payload ?? {},
    attempts: row.attempts,
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
