import { planFiring, ScheduleDefinition } from './schedule';

const at = (s: string) => new Date(s);

describe('firing a due schedule', () => {
  const hourly = { cron: '0 * * * *', timeZone: 'UTC' } as const;

  it('fires the due tick and moves to the next one', () => {
    expect(
      planFiring(
        { ...hourly, catchUp: 'skip', nextFireAt: at('2024-05-01T10:00:00Z') },
        at('2024-05-01T10:00:00.200Z'),
      ),
    ).toEqual({ fire: at('2024-05-01T10:00:00Z'), missed: 0, nextFireAt: at('2024-05-01T11:00:00Z') });
  });

  it('after downtime, fire-once fires one tick (the latest) for all the missed ones', () => {
    expect(
      planFiring(
        { ...hourly, catchUp: 'fire-once', nextFireAt: at('2024-05-01T10:00:00Z') },
        at('2024-05-01T13:20:00Z'),
      ),
    ).toEqual({ fire: at('2024-05-01T13:00:00Z'), missed: 3, nextFireAt: at('2024-05-01T14:00:00Z') });
  });

  it('after downtime, skip fires nothing and moves to the next future tick', () => {
    expect(
      planFiring(
        { ...hourly, catchUp: 'skip', nextFireAt: at('2024-05-01T10:00:00Z') },
        at('2024-05-01T13:20:00Z'),
      ),
    ).toEqual({ fire: null, missed: 4, nextFireAt: at('2024-05-01T14:00:00Z') });
  });

  it('skip still fires a tick reached within a minute (poller latency is not downtime)', () => {
    expect(
      planFiring(
        { ...hourly, catchUp: 'skip', nextFireAt: at('2024-05-01T12:00:00Z') },
        at('2024-05-01T13:00:30Z'),
      ),
    ).toEqual({ fire: at('2024-05-01T13:00:00Z'), missed: 1, nextFireAt: at('2024-05-01T14:00:00Z') });
  });

  it('validates the zone and the expression with field paths', () => {
    const bad = ScheduleDefinition.safeParse({ name: 'x', cron: '* * * * *', timeZone: 'Mars/Olympus' });
    expect(bad.success || bad.error.issues.map((i) => i.path.join('.'))).toEqual(['timeZone']);
    const badCron = ScheduleDefinition.safeParse({ name: 'x', cron: '99 * * * *', timeZone: 'UTC' });
    expect(badCron.success || badCron.error.issues.map((i) => i.path.join('.'))).toEqual(['cron']);
    expect(ScheduleDefinition.parse({ name: 'x', cron: '0 9 * * 1-5', timeZone: 'Europe/Berlin' })).toEqual({
      name: 'x',
      cron: '0 9 * * 1-5',
      timeZone: 'Europe/Berlin',
      catchUp: 'fire-once',
    });
  });
});
