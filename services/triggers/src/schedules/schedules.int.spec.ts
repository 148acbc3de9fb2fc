import { scheduleFiredTopic } from '@cmis/contracts';
import type { RunningServiceProcess } from '@cmis/platform';
import { waitForMessages } from '@cmis/testkit';
import { client, createOrgWithSource, startTriggers, type TestOrg } from '../testing/support';

describe('schedules through the API', () => {
  let proc: RunningServiceProcess;
  let org: TestOrg;

  beforeAll(async () => {
    proc = await startTriggers({ schedulePollMs: 100 });
    org = await createOrgWithSource(proc.url);
  });
  afterAll(() => proc?.shutdown());

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
    const preview = await call('GET', `/v1/schedules/${schedule.scheduleId}/preview?count=3`);
    expect(((await preview.json()) as { fireTimes: string[] }).fireTimes).toHaveLength(3);
    const resumed = await call('POST', `/v1/schedules/${schedule.scheduleId}/resume`);
    expect(await resumed.json()).toMatchObject({ status: 'active' });
    expect((await call('DELETE', `/v1/schedules/${schedule.scheduleId}`)).status).toBe(204);
    expect((await call('GET', `/v1/schedules/${schedule.scheduleId}`)).status).toBe(404);
  });
});
