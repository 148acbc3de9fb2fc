import { randomUUID } from 'node:crypto';
import {
  createDatabase,
  createEventStore,
  createLogger,
  platformMigrations,
  withOrg,
  withSystem,
  type Database,
} from '@cmis/platform';
import { testEnv, uniqueSchema } from '@cmis/testkit';
import { triggersMigrations } from '../db/migrations';
import { createSchedulePoller } from './poller';
import { SCHEDULE_TICK, scheduleTickTimerId, syncScheduleTick } from './ticks';

const logger = createLogger({ service: 'poller-spec', level: 'silent' });

type Schedule = {
  scheduleId: string;
  catchUp: 'fire-once' | 'skip';
  status: 'active' | 'paused';
  nextFireAt: Date;
};

const scheduleRow = (orgId: string, s: Schedule) => ({
  org_id: orgId,
  schedule_id: s.scheduleId,
  name: `hourly ${s.scheduleId}`,
  cron: '0 * * * *',
  time_zone: 'Europe/Berlin',
  catch_up: s.catchUp,
  status: s.status,
  next_fire_at: s.status === 'active' ? s.nextFireAt : null,
  created_at: new Date(s.nextFireAt.getTime() - 3_600_000),
});

// Two replicas = two pollers on two connection pools over one schema, racing on the same ticks.
describe('schedule ticks on durable timers: exactly once across replicas', () => {
  const schema = uniqueSchema('trg');
  let replicaA: Database;
  let replicaB: Database;
  const opened: Database[] = [];

  beforeAll(async () => {
    replicaA = createDatabase({ url: testEnv().databaseUrl, schema });
    await replicaA.migrate([...platformMigrations, ...triggersMigrations]);
    replicaB = createDatabase({ url: testEnv().databaseUrl, schema });
  });
  afterAll(async () => {
    await replicaA?.destroy();
    await replicaB?.destroy();
    for (const db of opened) await db.destroy();
  });

  /** Schedules as the API writes them: the row and its pending tick in one transaction. */
  const insertSchedules = (orgId: string, db: Database, schedules: Schedule[]) =>
    withOrg(db.app, orgId, async (trx) => {
      await trx('schedules').insert(schedules.map((s) => scheduleRow(orgId, s)));
      for (const s of schedules) {
        await syncScheduleTick(trx, {
          orgId,
          scheduleId: s.scheduleId,
          status: s.status,
          nextFireAt: s.nextFireAt,
        });
      }
    });
  const many = (count: number, catchUp: Schedule['catchUp'], nextFireAt: Date): Schedule[] =>
    Array.from({ length: count }, (_, i) => ({
      scheduleId: `sch_${catchUp}_${i}`,
      catchUp,
      status: 'active',
      nextFireAt,
    }));
  const firedEvents = (orgId: string, db = replicaA) =>
    withSystem(db.owner, (trx) =>
      trx('events')
        .where({ org_id: orgId, type: 'cmis.triggers.schedule-fired' })
        .select('stream_id', 'data', 'topic', 'key'),
    );
  const ticksOf = (orgId: string, db = replicaA) =>
    withOrg(db.app, orgId, (trx) => trx('timers').orderBy('timer_id').select('timer_id', 'kind', 'due_at'));

  it('fires each due tick once while two pollers race, and follows each catch-up policy', async () => {
    const orgId = randomUUID();
    const now = new Date('2030-01-15T10:20:00Z');
    // Down since 06:00: four ticks (07:00…10:00 UTC is 08:00…11:00 in Berlin) were missed.
    await insertSchedules(orgId, replicaA, [
      ...many(30, 'fire-once', new Date('2030-01-15T07:00:00Z')),
      ...many(10, 'skip', new Date('2030-01-15T07:00:00Z')),
    ]);
    const pollers = [replicaA, replicaB].map((db) =>
      createSchedulePoller({
        db,
        eventStore: createEventStore(db),
        logger,
        batchSize: 3,
        perOrgBatch: 3,
        now: () => now,
      }),
    );

    const firedBy = [0, 0];
    await Promise.all(
      pollers.map(async (poller, i) => {
        for (let round = 0; round < 20; round++) firedBy[i] = firedBy[i]! + (await poller.runOnce());
      }),
    );

    // Every tick timer fired (skip ones too: they fire nothing and move on), once.
    expect(firedBy[0]! + firedBy[1]!).toBe(40);
    expect(firedBy.every((n) => n > 0)).toBe(true); // both replicas took part in the race
    const events = await firedEvents(orgId);
    expect(events).toHaveLength(30);
    expect(new Set(events.map((e) => e.stream_id)).size).toBe(30);
    expect(events.every((e) => e.stream_id.startsWith('sch_fire-once_'))).toBe(true);
    expect(events[0]).toMatchObject({
      topic: 'cmis.triggers.schedule-fired.v1',
      key: `${orgId}:${events[0]!.stream_id}`,
      data: { scheduledFor: '2030-01-15T10:00:00.000Z', firedAt: now.toISOString() },
    });

    const rows = await withOrg(replicaA.app, orgId, (trx) => trx('schedules').select('next_fire_at'));
    expect(new Set(rows.map((r) => (r.next_fire_at as Date).toISOString()))).toEqual(
      new Set(['2030-01-15T11:00:00.000Z']),
    );
    // The next tick of every schedule is pending, one timer each.
    const ticks = await ticksOf(orgId);
    expect(ticks).toHaveLength(40);
    expect(ticks.every((t) => t.kind === SCHEDULE_TICK)).toBe(true);
    expect(new Set(ticks.map((t) => (t.due_at as Date).toISOString()))).toEqual(
      new Set(['2030-01-15T11:00:00.000Z']),
    );
    expect(await pollers[0]!.runOnce()).toBe(0);
  });

  it('fires the next tick when it comes due, and nothing for a tick whose schedule is paused or gone', async () => {
    // A schema of its own: the poller fires every due tick of its schema, the first test's too.
    const db = createDatabase({ url: testEnv().databaseUrl, schema: uniqueSchema('trg') });
    opened.push(db);
    await db.migrate([...platformMigrations, ...triggersMigrations]);
    const orgId = randomUUID();
    let now = new Date('2030-02-01T08:00:00Z');
    await insertSchedules(orgId, db, [
      { scheduleId: 'sch_on', catchUp: 'skip', status: 'active', nextFireAt: now },
      { scheduleId: 'sch_paused', catchUp: 'skip', status: 'active', nextFireAt: now },
      { scheduleId: 'sch_deleted', catchUp: 'skip', status: 'active', nextFireAt: now },
    ]);
    // Ticks left behind by changes that did not go through the API: they fire nothing.
    await withOrg(db.app, orgId, async (trx) => {
      await trx('schedules')
        .where({ schedule_id: 'sch_paused' })
        .update({ status: 'paused', next_fire_at: null });
      await trx('schedules').where({ schedule_id: 'sch_deleted' }).delete();
    });
    const poller = createSchedulePoller({
      db,
      eventStore: createEventStore(db),
      logger,
      now: () => now,
    });

    expect(await poller.runOnce()).toBe(3);
    now = new Date('2030-02-01T09:00:00Z');
    expect(await poller.runOnce()).toBe(1);
    const events = await firedEvents(orgId, db);
    expect(events.map((e) => [e.stream_id, e.data.scheduledFor])).toEqual([
      ['sch_on', '2030-02-01T08:00:00.000Z'],
      ['sch_on', '2030-02-01T09:00:00.000Z'],
    ]);
    expect(await ticksOf(orgId, db)).toEqual([
      {
        timer_id: scheduleTickTimerId('sch_on'),
        kind: SCHEDULE_TICK,
        due_at: new Date('2030-02-01T10:00:00Z'),
      },
    ]);
  });
  it('gives way to a pause in progress: the firing fails at once, the pause cancels the tick', async () => {
    const db = createDatabase({ url: testEnv().databaseUrl, schema: uniqueSchema('trg') });
    opened.push(db);
    await db.migrate([...platformMigrations, ...triggersMigrations]);
    const orgId = randomUUID();
    const now = new Date('2030-04-01T08:00:00Z');
    await insertSchedules(orgId, db, [
      { scheduleId: 'sch_busy', catchUp: 'skip', status: 'active', nextFireAt: now },
    ]);
    const poller = createSchedulePoller({ db, eventStore: createEventStore(db), logger, now: () => now });

    // The API's order: the schedule row first (held here mid-transaction), then its tick.
    let pauseRowLocked!: () => void;
    const rowLocked = new Promise<void>((resolve) => (pauseRowLocked = resolve));
    let finishPause!: () => void;
    const pauseMayFinish = new Promise<void>((resolve) => (finishPause = resolve));
    const pause = withOrg(db.app, orgId, async (trx) => {
      await trx('schedules')
        .where({ schedule_id: 'sch_busy' })
        .update({ status: 'paused', next_fire_at: null });
      pauseRowLocked();
      await pauseMayFinish;
      await syncScheduleTick(trx, { orgId, scheduleId: 'sch_busy', status: 'paused', nextFireAt: null });
    });
    await rowLocked;
    expect(await poller.runOnce()).toBe(0); // neither waits for the other
    finishPause();
    await pause;

    expect(await firedEvents(orgId, db)).toEqual([]);
    expect(await ticksOf(orgId, db)).toEqual([]);
  });
});

describe('triggers_0003: schedules created before timers get their tick', () => {
  it('backfills a tick for every active schedule, none for paused ones', async () => {
    const db = createDatabase({ url: testEnv().databaseUrl, schema: uniqueSchema('trg') });
    try {
      const before = triggersMigrations.findIndex((m) => m.name === 'triggers_0002_schedules') + 1;
      await db.migrate([...platformMigrations, ...triggersMigrations.slice(0, before)]);
      const orgId = randomUUID();
      const nextFireAt = new Date('2030-03-01T00:00:00Z');
      await withOrg(db.app, orgId, (trx) =>
        trx('schedules').insert([
          scheduleRow(orgId, {
            scheduleId: 'sch_active',
            catchUp: 'fire-once',
            status: 'active',
            nextFireAt,
          }),
          scheduleRow(orgId, {
            scheduleId: 'sch_paused',
            catchUp: 'fire-once',
            status: 'paused',
            nextFireAt,
          }),
        ]),
      );

      await db.migrate([...platformMigrations, ...triggersMigrations]);

      const ticks = await withOrg(db.app, orgId, (trx) =>
        trx('timers').select('timer_id', 'kind', 'due_at', 'payload'),
      );
      expect(ticks).toEqual([
        {
          timer_id: scheduleTickTimerId('sch_active'),
          kind: SCHEDULE_TICK,
          due_at: nextFireAt,
          payload: { scheduleId: 'sch_active' },
        },
      ]);
    } finally {
      await db.destroy();
    }
  });
});
