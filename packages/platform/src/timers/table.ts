// The poller's statements on the timers table. Leasing and the walk run on the owner connection
// (they span orgs, through the table's system_access policy); everything a firing does runs in
// the org's own transaction on the app connection.
import type { Knex } from 'knex';
import type { Database } from '../db';

/** A timer as the poller hands it to a handler. */
export interface DueTimer {
  orgId: string;
  timerId: string;
  kind: string;
  dueAt: Date;
  payload: Record<string, unknown>;
  /** Failed attempts before this one. */
  attempts: number;
  /** The trace context it was scheduled in (its firing continues that trace). */
  traceparent?: string;
  tracestate?: string;
}

type TimerRow = {
  org_id: string;
  timer_id: string;
  kind: string;
  due_at: Date;
  payload: Record<string, unknown> | null;
  attempts: number;
  traceparent: string | null;
  tracestate: string | null;
};

const RETURNED = 't.org_id, t.timer_id, t.kind, t.due_at, t.payload, t.attempts, t.traceparent, t.tracestate';

// A timer is up for leasing when it is due, not parked and not leased by a replica right now.
const LEASABLE = (alias: string) =>
  `${alias}.parked_at is null and ${alias}.due_at <= ? and (${alias}.leased_until is null or ${alias}.leased_until <= ?)`;

/**
 * Up to `limit` orgs with leasable timers, in org id order after `after` (exclusive) and up to
 * `upTo` (inclusive). A skip scan over the due index: one probe per org with pending timers,
 * never a pass over the due timers themselves, and a single probe when nothing is due at all.
 */
export async function walkOrgs(
  db: Database,
  at: Date,
  limit: number,
  after?: string,
  upTo?: string,
): Promise<string[]> {
  const below = upTo ? ' and t.org_id <= ?::uuid' : '';
  const { rows } = await db.owner.raw<{ rows: Array<{ org_id: string }> }>(
    `with recursive orgs(org_id) as (
       (select t.org_id from timers t
         where t.parked_at is null${after ? ' and t.org_id > ?::uuid' : ''}${below}
           and exists (select 1 from timers any_due where any_due.parked_at is null and any_due.due_at <= ?)
         order by t.org_id limit 1)
       union all
       select (select t.org_id from timers t
                where t.parked_at is null and t.org_id > orgs.org_id${below}
                order by t.org_id limit 1)
         from orgs where orgs.org_id is not null
     )
     select orgs.org_id from orgs
      where orgs.org_id is not null
        and exists (select 1 from timers d where d.org_id = orgs.org_id and ${LEASABLE('d')})
      limit ?`,
    [...(after ? [after] : []), ...(upTo ? [upTo] : []), at, ...(upTo ? [upTo] : []), at, at, limit],
  );
  return rows.map((row) => row.org_id);
}

/**
 * Leases the earliest leasable timers of each org, at most `perOrg` of each and `limit` in all,
 * in one statement: FOR UPDATE SKIP LOCKED, so replicas leasing at the same moment take
 * different timers, and each leased row carries this lease's token until `until`. A lease only
 * keeps other replicas off; the firing deletes the row under the same token.
 */
export async function leaseTimers(
  db: Database,
  orgs: string[],
  at: Date,
  options: { perOrg: number; limit: number; token: string; until: Date },
): Promise<DueTimer[]> {
  // One statement, so no transaction around it: the leases are committed when it returns.
  const { rows } = await db.owner.raw<{ rows: TimerRow[] }>(
    `with leasable as (
       select d.org_id, d.timer_id
         from unnest(?::uuid[]) with ordinality as o(org_id, ord)
        cross join lateral (
          select t.org_id, t.timer_id from timers t
           where t.org_id = o.org_id and ${LEASABLE('t')}
           order by t.due_at
           limit ?
           for update skip locked) d
        limit ?)
     update timers t set lease_token = ?::uuid, leased_until = ?
       from leasable l
      where t.org_id = l.org_id and t.timer_id = l.timer_id
     returning ${RETURNED}`,
    [orgs, at, at, options.perOrg, options.limit, options.token, options.until],
  );
  return rows.map(dueTimer).sort(byDueTime);
}

/** Deletes the leased timers still under `token` (in the firing's transaction); their ids. */
export async function deleteLeased(
  trx: Knex.Transaction,
  orgId: string,
  timerIds: string[],
  token: string,
): Promise<Set<string>> {
  const { rows } = await trx.raw<{ rows: Array<{ timer_id: string }> }>(
    `delete from timers where org_id = ?::uuid and timer_id = any(?::text[]) and lease_token = ?::uuid
     returning timer_id`,
    [orgId, timerIds, token],
  );
  return new Set(rows.map((row) => row.timer_id));
}

/** Locks one leased timer still under `token`, as it is now; undefined when the lease was lost. */
export async function lockLeased(
  trx: Knex.Transaction,
  orgId: string,
  timerId: string,
  token: string,
): Promise<DueTimer | undefined> {
  const { rows } = await trx.raw<{ rows: TimerRow[] }>(
    `select ${RETURNED} from timers t
      where t.org_id = ?::uuid and t.timer_id = ? and t.lease_token = ?::uuid
      for update`,
    [orgId, timerId, token],
  );
  return rows[0] ? dueTimer(rows[0]) : undefined;
}

/** A failed attempt: counted, the reason kept, due again at `retryAt` or parked; lease released. */
export async function recordFailure(
  trx: Knex.Transaction,
  timer: DueTimer,
  failure: { attempts: number; reason: string; retryAt: Date | null; parkedAt: Date | null },
): Promise<void> {
  await trx.raw(
    `update timers set attempts = ?, last_error = ?, due_at = coalesce(?, due_at), parked_at = ?,
            lease_token = null, leased_until = null
      where org_id = ?::uuid and timer_id = ?`,
    [failure.attempts, failure.reason, failure.retryAt, failure.parkedAt, timer.orgId, timer.timerId],
  );
}

/** The earliest due time of any live timer (the idle poller sleeps until then). */
export async function nextDueAt(db: Database): Promise<Date | null> {
  const { rows } = await db.owner.raw<{ rows: Array<{ next: Date | null }> }>(
    'select min(due_at) as next from timers where parked_at is null',
  );
  return rows[0]?.next ?? null;
}

export interface TimerBacklog {
  /** Timers due (not parked) and not yet fired. */
  due: number;
  /** Age of the oldest due timer; 0 when none is due. */
  oldestDueAgeSeconds: number;
  parked: number;
}

export async function measureBacklog(db: Database, at: Date): Promise<TimerBacklog> {
  const { rows } = await db.owner.raw<{ rows: Array<{ due: string; oldest: Date | null; parked: string }> }>(
    `select (select count(*) from timers where parked_at is null and due_at <= ?) as due,
            (select min(due_at) from timers where parked_at is null) as oldest,
            (select count(*) from timers where parked_at is not null) as parked`,
    [at],
  );
  const row = rows[0];
  const oldestMs = row?.oldest ? at.getTime() - row.oldest.getTime() : 0;
  return {
    due: Number(row?.due ?? 0),
    oldestDueAgeSeconds: Math.max(0, oldestMs) / 1000,
    parked: Number(row?.parked ?? 0),
  };
}

function dueTimer(row: TimerRow): DueTimer {
  return {
    orgId: row.org_id,
    timerId: row.timer_id,
    kind: row.kind,
    dueAt: row.due_at,
    payload: row.payload ?? {},
    attempts: row.attempts,
    ...(row.traceparent !== null ? { traceparent: row.traceparent } : {}),
    ...(row.tracestate !== null ? { tracestate: row.tracestate } : {}),
  };
}

function byDueTime(a: DueTimer, b: DueTimer): number {
  return (
    a.dueAt.getTime() - b.dueAt.getTime() || (a.timerId < b.timerId ? -1 : a.timerId > b.timerId ? 1 : 0)
  );
}
