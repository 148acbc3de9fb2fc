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

// Two replicas = two pollers on two connection pools over one schema, racing on the same due rows.
describe('schedule poller: exactly once across replicas', () => {
  const schema = uniqueSchema('trg');
  let replicaA: Database;
  let replicaB: Database;
  const logger = createLogger({ service: 'poller-spec', level: 'silent' });

  beforeAll(async () => {
    replicaA = createDatabase({ url: testEnv().databaseUrl, schema });
    await replicaA.migrate([...platformMigrations, ...triggersMigrations]);
    replicaB = createDatabase({ url: testEnv().databaseUrl, schema });
  });
  afterAll(async () => {
    await replicaA?.destroy();
    await replicaB?.destroy();
  });

  const insertDue = (orgId: string, count: number, catchUp: 'fire-once' | 'skip', nextFireAt: Date) =>
    withOrg(replicaA.app, orgId, (trx) =>
      trx('schedules').insert(
        Array.from({ length: count }, (_, i) => ({
          org_id: orgId,
          schedule_id: `sch_${catchUp}_${i}`,
          name: `hourly ${i}`,
          cron: '0 * * * *',
          time_zone: 'Europe/Berlin',
          catch_up: catchUp,
          status: 'active',
          next_fire_at: nextFireAt,
          created_at: new Date(nextFireAt.getTime() - 3_600_000),
        })),
      ),
    );

  it('fires each due tick once while two pollers race, and follows each catch-up policy', async () => {
    const orgId = randomUUID();
    const now = new Date('2030-01-15T10:20:00Z');
    // Down since 06:00: four ticks (07:00…10:00 UTC is 08:00…11:00 in Berlin) were missed.
    await insertDue(orgId, 30, 'fire-once', new Date('2030-01-15T07:00:00Z'));
    await insertDue(orgId, 10, 'skip', new Date('2030-01-15T07:00:00Z'));
    const pollers = [replicaA, replicaB].map((db) =>
      createSchedulePoller({ db, eventStore: createEventStore(db), logger, batchSize: 3, now: () => now }),
    );

    const firedBy = [0, 0];
    await Promise.all(
      pollers.map(async (poller, i) => {
        for (let round = 0; round < 20; round++) firedBy[i] = firedBy[i]! + (await poller.runOnce());
      }),
    );

    expect(firedBy[0]! + firedBy[1]!).toBe(30);
    expect(firedBy.every((n) => n > 0)).toBe(true); // both replicas took part in the race
    const events = await withSystem(replicaA.owner, (trx) =>
      trx('events')
        .where({ org_id: orgId, type: 'cmis.triggers.schedule-fired' })
        .select('stream_id', 'data', 'topic', 'key'),
    );
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
    expect(await pollers[0]!.runOnce()).toBe(0);
  });
});
