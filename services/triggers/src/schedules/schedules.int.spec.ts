import { scheduleFiredTopic } from '@cmis/contracts';
import { createDatabase, withSystem, type Database, type RunningServiceProcess } from '@cmis/platform';
import { testEnv, uniqueName, waitForMessages } from '@cmis/testkit';
import { client, createOrgWithSource, startTriggers, type TestOrg } from '../testing/support';
import { scheduleTickTimerId } from './ticks';

describe('schedules through the API', () => {
  let proc: RunningServiceProcess;
  let org: TestOrg;
  let db: Database; // the service's schema, to look at its pending ticks
  const service = uniqueName('trg');

  beforeAll(async () => {
    proc = await startTriggers({ schedulePollMs: 100 }, service);
    org = await createOrgWithSource(proc.url);
    db = createDatabase({ url: testEnv().databaseUrl, schema: service.replace(/-/g, '_') });
  });
  afterAll(async () => {
    await proc?.shutdown();
    await db?.destroy();
  });

  const pendingTick = (scheduleId: string) =>
    withSystem(db.owner, (trx) =>
      trx('timers')
        .where({ org_id: org.orgId, timer_id: scheduleTickTimerId(scheduleId) })
        .first('due_at'),
    );

  const call = (method: string, path: string, body?: unknown) =>
    client(proc.url)(method, path, { bearer: org.apiKey, body });

  it('previews the next fire times in a zone, across a DST change', async () => {
    const preview = await call('POST', '/v1/schedules/preview', {
      cron: '30 2 * * *',
      timeZone: 'Europe/Berlin',
      count: 2,
      from: '2024-03-30T12:00:00Z',
    });
    expect(await preview.json()).toEqual({
      fireTimes: ['2024-03-31T01:30:00.000Z', '2024-04-01T00:30:00.000Z'],
    });
    const bad = await call('POST', '/v1/schedules', {
      name: 'x',
      cron: '0 9 * * *',
      timeZone: 'Europe/Atlantis',
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { errors: Array<{ path: string }> }).errors.map((e) => e.path)).toEqual([
      'body.timeZone',
    ]);
  });

  it('fires a schedule-fired event per tick, pauses, resumes and deletes', async () => {
    const created = await call('POST', '/v1/schedules', {
      name: 'every second',
      cron: '* * * * * *',
      timeZone: 'America/New_York',
    });
    expect(created.status).toBe(201);
    const schedule = (await created.json()) as { scheduleId: string; status: string; nextFireAt: string };
    expect(schedule.status).toBe('active');

    const key = `${org.orgId}:${schedule.scheduleId}`;
    const fired = await waitForMessages({
      topic: scheduleFiredTopic.name,
      count: 2,
      predicate: (m) => m.key === key,
    });
    expect(fired).toHaveLength(2);

    const paused = await call('POST', `/v1/schedules/${schedule.scheduleId}/pause`);
    expect(await paused.json()).toMatchObject({ status: 'paused', nextFireAt: null });
    expect(await pendingTick(schedule.scheduleId)).toBeUndefined();
    const preview = await call('GET', `/v1/schedules/${schedule.scheduleId}/preview?count=3`);
    expect(((await preview.json()) as { fireTimes: string[] }).fireTimes).toHaveLength(3);
    const resumed = (await (await call('POST', `/v1/schedules/${schedule.scheduleId}/resume`)).json()) as {
      status: string;
      nextFireAt: string;
    };
    expect(resumed.status).toBe('active');
    // The pending tick is the schedule's next fire time (or the one after, if it fired meanwhile).
    const tick = await pendingTick(schedule.scheduleId);
    expect((tick?.due_at as Date).getTime()).toBeGreaterThanOrEqual(Date.parse(resumed.nextFireAt));
    expect((await call('DELETE', `/v1/schedules/${schedule.scheduleId}`)).status).toBe(204);
    expect((await call('GET', `/v1/schedules/${schedule.scheduleId}`)).status).toBe(404);
    expect(await pendingTick(schedule.scheduleId)).toBeUndefined();
  });
});
