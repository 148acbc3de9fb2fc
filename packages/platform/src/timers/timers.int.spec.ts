import { randomUUID } from 'node:crypto';
import { testEnv, throwawayOrg, uniqueSchema } from '@cmis/testkit';
import type { Knex } from 'knex';
import { createDatabase, withOrg, withSystem, type Database } from '../db';
import { dropDatabase } from '../db/testing';
import { createEventStore } from '../eventstore';
import { createMetrics } from '../http';
import { createLogger } from '../logging';
import { platformMigrations } from '../runtime';
import {
  cancelTimer,
  createTimerPoller,
  InvalidTimerError,
  scheduleTimer,
  timerMigrations,
  type DueTimer,
  type TimerHandler,
  type TimerPollerOptions,
} from '.';

const logger = createLogger({ service: 'timers-spec', level: 'silent' });
const T0 = new Date('2031-03-01T12:00:00Z');
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

/** A clock the test moves by hand. */
function virtualClock(start = T0) {
  let current = start;
  return {
    now: () => current,
    set: (to: Date) => void (current = to),
  };
}

/** Each test gets its own schema: a poller fires every org's timers in the schema it polls. */
describe('durable timers (real Postgres)', () => {
  const opened: Database[] = [];
  afterAll(async () => {
    for (const db of opened) await dropDatabase(db);
  });

  async function freshSchema(): Promise<Database> {
    const db = createDatabase({ url: testEnv().databaseUrl, schema: uniqueSchema('timers') });
    opened.push(db);
    await db.migrate([...platformMigrations, ...timerMigrations]);
    return db;
  }

  /** A second process on the same schema (its own pools). */
  function replicaOf(db: Database): Database {
    const replica = createDatabase({ url: testEnv().databaseUrl, schema: db.schema });
    opened.push(replica);
    return replica;
  }

  /** The handler every test uses: one event on the timer's stream, appended in the firing trx. */
  const appendFired =
    (db: Database): TimerHandler =>
    async (trx, timer) => {
      await createEventStore(db).append(trx, {
        orgId: timer.orgId,
        streamType: 'timer-spec',
        streamId: timer.timerId,
        expectedVersion: 'any',
        events: [
          {
            id: randomUUID(),
            type: 'TimerFired',
            data: { payload: timer.payload, attempts: timer.attempts },
            metadata: {},
            occurredAt: timer.dueAt,
          },
        ],
      });
    };

  const poller = (db: Database, clock: { now: () => Date }, extra: Partial<TimerPollerOptions> = {}) =>
    createTimerPoller({
      db,
      logger,
      service: 'spec',
      handlers: { reminder: appendFired(db) },
      now: clock.now,
      ...extra,
    });

  const schedule = (db: Database, orgId: string, timerId: string, dueAt: Date, extra = {}) =>
    withOrg(db.app, orgId, (trx) =>
      scheduleTimer(trx, { orgId, timerId, kind: 'reminder', dueAt, payload: { timerId }, ...extra }),
    );

  const firedEvents = (db: Database, orgId: string) =>
    withOrg(db.app, orgId, (trx) =>
      trx('events').where({ stream_type: 'timer-spec' }).orderBy('position').select('stream_id', 'data'),
    ) as Promise<Array<{ stream_id: string; data: { payload: Record<string, unknown>; attempts: number } }>>;

  const timerRow = (db: Database, orgId: string, timerId: string) =>
    withSystem(db.owner, (trx) => trx('timers').where({ org_id: orgId, timer_id: timerId }).first());

  /** Bulk insert straight into the table (not through scheduleTimer), like a big backlog. */
  const insertMany = (db: Database, orgId: string, count: number, dueAt: Date) =>
    withSystem(db.owner, (trx) =>
      trx.raw(
        `insert into timers (org_id, timer_id, kind, due_at, payload)
         select ?::uuid, 'bulk-' || i, 'reminder', ?::timestamptz + (i || ' ms')::interval, '{}'::jsonb
           from generate_series(1, ?) i`,
        [orgId, dueAt, count],
      ),
    );

  it('fires a due timer once, with its payload, and not before it is due', async () => {
    const db = await freshSchema();
    const clock = virtualClock();
    const { orgId } = throwawayOrg();
    await schedule(db, orgId, 'wait-1', at(60), { payload: { step: 'send-email' } });
    const timers = poller(db, clock);

    expect(await timers.runOnce()).toBe(0);
    clock.set(at(59.999));
    expect(await timers.runOnce()).toBe(0);
    expect(await firedEvents(db, orgId)).toEqual([]);

    clock.set(at(60));
    expect(await timers.runOnce()).toBe(1);
    expect(await timers.runOnce()).toBe(0);
    clock.set(at(3600));
    expect(await timers.runOnce()).toBe(0);
    expect(await firedEvents(db, orgId)).toEqual([
      { stream_id: 'wait-1', data: { payload: { step: 'send-email' }, attempts: 0 } },
    ]);
    expect(await timerRow(db, orgId, 'wait-1')).toBeUndefined();
  });

  it('commits a timer with the events of the transaction that scheduled it, or neither', async () => {
    const db = await freshSchema();
    const { orgId } = throwawayOrg();
    const appendAndSchedule = (timerId: string, fail: boolean) =>
      withOrg(db.app, orgId, async (trx) => {
        await createEventStore(db).append(trx, {
          orgId,
          streamType: 'instance',
          streamId: timerId,
          expectedVersion: 0,
          events: [{ id: randomUUID(), type: 'WaitStarted', data: {}, metadata: {}, occurredAt: T0 }],
        });
        await scheduleTimer(trx, { orgId, timerId, kind: 'reminder', dueAt: at(10) });
        if (fail) throw new Error('the command failed after scheduling');
      });

    await expect(appendAndSchedule('rolled-back', true)).rejects.toThrow('the command failed');
    await appendAndSchedule('committed', false);

    const streams = await withOrg(db.app, orgId, (trx) => trx('events').pluck('stream_id'));
    expect(streams).toEqual(['committed']);
    expect(await timerRow(db, orgId, 'rolled-back')).toBeUndefined();
    expect(await timerRow(db, orgId, 'committed')).toMatchObject({ kind: 'reminder', due_at: at(10) });
  });

  it('keeps nothing of a failing handler, retries it later with backoff, and parks it after maxAttempts', async () => {
    const db = await freshSchema();
    const clock = virtualClock();
    const metrics = createMetrics({ service: 'spec', defaultMetrics: false });
    const { orgId } = throwawayOrg();
    let calls = 0;
    const flaky: TimerHandler = async (trx, timer) => {
      calls += 1;
      await appendFired(db)(trx, timer); // appended, then rolled back with the failure
      throw new Error(`provider down (call ${calls})`);
    };
    const timers = poller(db, clock, {
      handlers: { reminder: flaky },
      maxAttempts: 3,
      retryDelayMs: (attempts) => attempts * 10_000,
      metrics,
    });
    await schedule(db, orgId, 'flaky', at(0));

    expect(await timers.runOnce()).toBe(0);
    expect(await timerRow(db, orgId, 'flaky')).toMatchObject({
      attempts: 1,
      last_error: 'Error: provider down (call 1)',
      due_at: at(10),
      parked_at: null,
    });
    expect(await firedEvents(db, orgId)).toEqual([]);

    clock.set(at(9));
    expect(await timers.runOnce()).toBe(0);
    expect(calls).toBe(1); // not due again before its retry delay: no hot loop

    clock.set(at(10));
    await timers.runOnce();
    expect(await timerRow(db, orgId, 'flaky')).toMatchObject({ attempts: 2, due_at: at(30) });
    clock.set(at(30));
    await timers.runOnce();
    const parked = await timerRow(db, orgId, 'flaky');
    expect(parked).toMatchObject({ attempts: 3, due_at: at(30), parked_at: at(30) });

    clock.set(at(100_000));
    const callsWhenParked = calls;
    expect(await timers.runOnce()).toBe(0);
    expect(calls).toBe(callsWhenParked);
    expect(await firedEvents(db, orgId)).toEqual([]);
    expect(await timers.backlog()).toEqual({ due: 0, oldestDueAgeSeconds: 0, parked: 1 });

    const text = await metrics.registry.metrics();
    expect(text).toContain('timers_failed_total{service="spec",kind="reminder"} 3');
    expect(text).toContain('timers_parked_total{service="spec",kind="reminder"} 1');
    expect(text).toContain('timers_parked{service="spec"} 1');

    // Scheduled again, a parked timer is live again with a clean slate.
    await schedule(db, orgId, 'flaky', at(100_000));
    expect(await timerRow(db, orgId, 'flaky')).toMatchObject({
      attempts: 0,
      last_error: null,
      parked_at: null,
    });
  });

  it('fires the rest of a batch when one of its handlers fails, retrying only that one', async () => {
    const db = await freshSchema();
    const clock = virtualClock(at(100));
    const { orgId } = throwawayOrg();
    const sometimes: TimerHandler = async (trx, timer) => {
      await appendFired(db)(trx, timer);
      if (timer.timerId === 'bad') throw new Error('bad payload');
    };
    for (const id of ['a', 'b', 'bad', 'c']) await schedule(db, orgId, id, at(id === 'bad' ? 2 : 1));

    expect(await poller(db, clock, { handlers: { reminder: sometimes } }).runOnce()).toBe(3);
    expect((await firedEvents(db, orgId)).map((e) => e.stream_id).sort()).toEqual(['a', 'b', 'c']);
    expect(await timerRow(db, orgId, 'bad')).toMatchObject({ attempts: 1, last_error: 'Error: bad payload' });
  });

  it('treats a timer of a kind with no handler as a failure, naming the kind', async () => {
    const db = await freshSchema();
    const clock = virtualClock(at(10));
    const { orgId } = throwawayOrg();
    await schedule(db, orgId, 'mystery', at(0), { kind: 'no-such-kind' });
    await schedule(db, orgId, 'known', at(0));

    expect(await poller(db, clock).runOnce()).toBe(1);
    expect(await timerRow(db, orgId, 'mystery')).toMatchObject({
      attempts: 1,
      last_error: 'Error: no handler for kind no-such-kind',
      due_at: new Date(at(10).getTime() + 1_000),
    });
    expect((await firedEvents(db, orgId)).map((e) => e.stream_id)).toEqual(['known']);
  });

  it('fires each timer exactly once while two replicas race over the same table', async () => {
    const db = await freshSchema();
    const replica = replicaOf(db);
    const clock = virtualClock(at(10_000));
    const orgs = Array.from({ length: 5 }, () => throwawayOrg().orgId);
    for (const orgId of orgs) await insertMany(db, orgId, 400, at(0));
    const pollers = [db, replica].map((d) =>
      poller(d, clock, { perOrgBatch: 7, batchSize: 21, concurrency: 2 }),
    );

    const firedBy = [0, 0];
    await Promise.all(
      pollers.map(async (p, i) => {
        for (;;) {
          const n = await p.runOnce();
          if (n === 0) return;
          firedBy[i] = firedBy[i]! + n;
        }
      }),
    );

    expect(firedBy[0]! + firedBy[1]!).toBe(2_000);
    expect(firedBy.every((n) => n > 0)).toBe(true); // both took part
    for (const orgId of orgs) {
      const streams = (await firedEvents(db, orgId)).map((e) => e.stream_id);
      expect(streams).toHaveLength(400);
      expect(new Set(streams).size).toBe(400);
    }
    expect(await pollers[0]!.backlog()).toMatchObject({ due: 0, parked: 0 });
  });

  it('is fair across orgs: an org with one due timer is not held up behind one with 5,000', async () => {
    const db = await freshSchema();
    const clock = virtualClock(at(10_000));
    const busy = throwawayOrg().orgId;
    const quiet = throwawayOrg().orgId;
    await insertMany(db, busy, 5_000, at(0)); // all older than the quiet org's timer
    await schedule(db, quiet, 'only-one', at(5_000));
    const timers = poller(db, clock, { perOrgBatch: 50, batchSize: 100 });

    expect(await timers.runOnce()).toBe(51);
    expect((await firedEvents(db, quiet)).map((e) => e.stream_id)).toEqual(['only-one']);
    expect(await firedEvents(db, busy)).toHaveLength(50);
    expect(await timers.backlog()).toMatchObject({ due: 4_950, oldestDueAgeSeconds: expect.any(Number) });
  });

  it('reaches every org with a few due timers in one round, and stops a round at batchSize', async () => {
    const db = await freshSchema();
    const clock = virtualClock(at(10_000));
    const fewEach = Array.from({ length: 30 }, () => throwawayOrg().orgId);
    for (const orgId of fewEach) await insertMany(db, orgId, 2, at(0));
    const timers = poller(db, clock, { perOrgBatch: 10, batchSize: 100 });
    expect(await timers.runOnce()).toBe(60);

    const manyEach = Array.from({ length: 10 }, () => throwawayOrg().orgId);
    for (const orgId of manyEach) await insertMany(db, orgId, 10, at(0));
    const smallRounds = poller(db, clock, { perOrgBatch: 10, batchSize: 50 });
    const rounds: number[] = [];
    for (let n = await smallRounds.runOnce(); n > 0; n = await smallRounds.runOnce()) rounds.push(n);
    // 50 a round (five orgs' 10 each); the next round goes on with the orgs after them.
    expect(rounds).toEqual([50, 50]);
  });

  it('fires a timer leased by a replica that died once its lease runs out, and a rescheduled one at its new time', async () => {
    const db = await freshSchema();
    const clock = virtualClock(at(100));
    const { orgId } = throwawayOrg();
    await schedule(db, orgId, 'orphaned', at(0));
    await schedule(db, orgId, 'moved', at(0));
    // As a round of a replica that died after leasing, before firing, left them.
    await withSystem(db.owner, (trx) =>
      trx('timers')
        .where({ org_id: orgId })
        .update({ lease_token: randomUUID(), leased_until: at(160) }),
    );
    await schedule(db, orgId, 'moved', at(120)); // scheduling again frees it from the lease
    const timers = poller(db, clock, { leaseMs: 30_000 });

    expect(await timers.runOnce()).toBe(0);
    clock.set(at(120));
    expect(await timers.runOnce()).toBe(1);
    clock.set(at(159));
    expect(await timers.runOnce()).toBe(0);
    clock.set(at(160));
    expect(await timers.runOnce()).toBe(1);
    expect((await firedEvents(db, orgId)).map((e) => e.stream_id)).toEqual(['moved', 'orphaned']);
  });

  it('runs every handler under its own org, also when several orgs share a firing transaction', async () => {
    const db = await freshSchema();
    const clock = virtualClock(at(100));
    const orgs = Array.from({ length: 6 }, () => throwawayOrg().orgId);
    for (const orgId of orgs) await insertMany(db, orgId, 2, at(0));
    const seen: Array<{ orgId: string; current: string; visibleOrgs: string[] }> = [];
    const checking: TimerHandler = async (trx, timer) => {
      const { rows } = await trx.raw(`select current_setting('app.current_org_id') as current`);
      const visibleOrgs = await trx('timers').distinct('org_id').pluck('org_id');
      seen.push({ orgId: timer.orgId, current: rows[0].current, visibleOrgs });
      await appendFired(db)(trx, timer);
    };

    expect(await poller(db, clock, { handlers: { reminder: checking }, perOrgBatch: 10 }).runOnce()).toBe(12);
    expect(seen).toHaveLength(12);
    for (const s of seen) {
      expect(s.current).toBe(s.orgId);
      expect(s.visibleOrgs.every((o) => o === s.orgId)).toBe(true);
    }
    for (const orgId of orgs) expect(await firedEvents(db, orgId)).toHaveLength(2);
  });

  it('cancels a pending timer; cancelling again, or one that fired, says false', async () => {
    const db = await freshSchema();
    const clock = virtualClock(at(100));
    const { orgId } = throwawayOrg();
    await schedule(db, orgId, 'cancel-me', at(50));
    await schedule(db, orgId, 'fire-me', at(50));
    const cancel = (timerId: string) => withOrg(db.app, orgId, (trx) => cancelTimer(trx, orgId, timerId));

    expect(await cancel('cancel-me')).toBe(true);
    expect(await cancel('cancel-me')).toBe(false);
    // Another org cannot cancel it (row-level security), even naming the right org id.
    expect(await withOrg(db.app, randomUUID(), (trx) => cancelTimer(trx, orgId, 'fire-me'))).toBe(false);
    expect(await poller(db, clock).runOnce()).toBe(1);
    expect(await cancel('fire-me')).toBe(false);
    expect((await firedEvents(db, orgId)).map((e) => e.stream_id)).toEqual(['fire-me']);
  });

  it('replaces a timer scheduled again under the same id (due time and payload)', async () => {
    const db = await freshSchema();
    const clock = virtualClock();
    const { orgId } = throwawayOrg();
    await schedule(db, orgId, 'window', at(10), { payload: { v: 1 } });
    await schedule(db, orgId, 'window', at(20), { payload: { v: 2 } });
    const timers = poller(db, clock);

    clock.set(at(15));
    expect(await timers.runOnce()).toBe(0);
    clock.set(at(20));
    expect(await timers.runOnce()).toBe(1);
    expect(await firedEvents(db, orgId)).toEqual([
      { stream_id: 'window', data: { payload: { v: 2 }, attempts: 0 } },
    ]);
  });

  it('lets a handler schedule its own timer id again (a recurring tick) without the firing deleting it', async () => {
    const db = await freshSchema();
    const clock = virtualClock();
    const { orgId } = throwawayOrg();
    const ticks: DueTimer[] = [];
    const recurring: TimerHandler = async (trx: Knex.Transaction, timer) => {
      ticks.push(timer);
      await scheduleTimer(trx, { ...timer, dueAt: new Date(timer.dueAt.getTime() + 60_000) });
    };
    await schedule(db, orgId, 'tick', at(0), { kind: 'tick' });
    const timers = poller(db, clock, { handlers: { tick: recurring } });

    for (const second of [0, 30, 60, 120]) {
      clock.set(at(second));
      await timers.runOnce();
    }
    expect(ticks.map((t) => t.dueAt)).toEqual([at(0), at(60), at(120)]);
    expect(await timerRow(db, orgId, 'tick')).toMatchObject({ due_at: at(180) });
  });

  it('measures fired counts, lateness and backlog for /metrics', async () => {
    const db = await freshSchema();
    const clock = virtualClock(at(0));
    const metrics = createMetrics({ service: 'spec', defaultMetrics: false });
    const { orgId } = throwawayOrg();
    await schedule(db, orgId, 'late', at(0));
    await schedule(db, orgId, 'later', at(5));
    const timers = poller(db, clock, { metrics });

    clock.set(at(12));
    expect(await timers.backlog()).toEqual({ due: 2, oldestDueAgeSeconds: 12, parked: 0 });
    expect(await timers.runOnce()).toBe(2);
    await timers.backlog();

    const text = await metrics.registry.metrics();
    expect(text).toContain('timers_fired_total{service="spec",kind="reminder"} 2');
    expect(text).toContain('timer_lateness_seconds_bucket{le="10",service="spec",kind="reminder"} 1');
    expect(text).toContain('timer_lateness_seconds_sum{service="spec",kind="reminder"} 19');
    expect(text).toMatch(/timer_backlog\{service="spec"\} 0/);
    expect(text).toContain('timer_oldest_due_age_seconds{service="spec"} 0');
  });

  it('wakes when told and fires by itself once started, on the real clock', async () => {
    const db = await freshSchema();
    const { orgId } = throwawayOrg();
    let fired!: () => void;
    const firedOnce = new Promise<void>((resolve) => (fired = resolve));
    const timers = createTimerPoller({
      db,
      logger,
      service: 'spec',
      intervalMs: 60_000,
      handlers: { reminder: async () => fired() },
    });
    timers.start();
    try {
      await new Promise((resolve) => setTimeout(resolve, 100)); // idle, waiting its interval
      await schedule(db, orgId, 'now', new Date());
      timers.wake();
      await firedOnce;
    } finally {
      await timers.stop();
    }
    expect(await timerRow(db, orgId, 'now')).toBeUndefined();
  });

  it('refuses a timer it could not fire, before writing anything', async () => {
    const db = await freshSchema();
    const { orgId } = throwawayOrg();
    const bad = (spec: Record<string, unknown>) =>
      withOrg(db.app, orgId, (trx) =>
        scheduleTimer(trx, { orgId, timerId: 't', kind: 'reminder', dueAt: T0, ...spec } as never),
      );
    await expect(bad({ timerId: '' })).rejects.toBeInstanceOf(InvalidTimerError);
    await expect(bad({ dueAt: new Date('nope') })).rejects.toThrow(/dueAt must be a valid Date/);
    await expect(bad({ orgId: 'not-a-uuid' })).rejects.toThrow(/orgId must be a uuid/);
  });
});
