import { cronProblem, latestTickAtOrBefore, nextFireTimes } from './cron';

const iso = (dates: Date[]) => dates.map((d) => d.toISOString());

describe('cron in an IANA time zone', () => {
  it('fires at local wall time, moving with the UTC offset across the year', () => {
    expect(iso(nextFireTimes('0 9 * * *', 'Europe/Berlin', new Date('2024-01-15T00:00:00Z'), 1))).toEqual([
      '2024-01-15T08:00:00.000Z',
    ]);
    expect(iso(nextFireTimes('0 9 * * *', 'Europe/Berlin', new Date('2024-07-15T00:00:00Z'), 1))).toEqual([
      '2024-07-15T07:00:00.000Z',
    ]);
  });

  it('Europe/Berlin spring forward: a skipped 02:30 fires once, at 03:30 CEST', () => {
    expect(iso(nextFireTimes('30 2 * * *', 'Europe/Berlin', new Date('2024-03-30T12:00:00Z'), 3))).toEqual([
      '2024-03-31T01:30:00.000Z',
      '2024-04-01T00:30:00.000Z',
      '2024-04-02T00:30:00.000Z',
    ]);
  });

  it('Europe/Berlin fall back: a repeated 02:30 fires once; hourly fires every real hour', () => {
    expect(iso(nextFireTimes('30 2 * * *', 'Europe/Berlin', new Date('2024-10-26T12:00:00Z'), 2))).toEqual([
      '2024-10-27T00:30:00.000Z',
      '2024-10-28T01:30:00.000Z',
    ]);
    expect(iso(nextFireTimes('0 * * * *', 'Europe/Berlin', new Date('2024-10-26T23:30:00Z'), 3))).toEqual([
      '2024-10-27T00:00:00.000Z',
      '2024-10-27T01:00:00.000Z',
      '2024-10-27T02:00:00.000Z',
    ]);
  });

  it('America/New_York: 09:00 keeps local time across spring forward; 01:30 fires once at fall back', () => {
    expect(iso(nextFireTimes('0 9 * * *', 'America/New_York', new Date('2024-03-09T00:00:00Z'), 2))).toEqual([
      '2024-03-09T14:00:00.000Z',
      '2024-03-10T13:00:00.000Z',
    ]);
    expect(iso(nextFireTimes('30 1 * * *', 'America/New_York', new Date('2024-11-02T12:00:00Z'), 2))).toEqual(
      ['2024-11-03T05:30:00.000Z', '2024-11-04T06:30:00.000Z'],
    );
    expect(iso(nextFireTimes('30 2 * * *', 'America/New_York', new Date('2024-03-09T12:00:00Z'), 1))).toEqual(
      ['2024-03-10T07:30:00.000Z'],
    );
  });

  it('finds the latest tick at or before an instant', () => {
    expect(latestTickAtOrBefore('*/15 * * * *', 'UTC', new Date('2024-05-01T10:44:59Z'))?.toISOString()).toBe(
      '2024-05-01T10:30:00.000Z',
    );
    expect(latestTickAtOrBefore('*/15 * * * *', 'UTC', new Date('2024-05-01T10:45:00Z'))?.toISOString()).toBe(
      '2024-05-01T10:45:00.000Z',
    );
  });

  it('explains a bad expression', () => {
    expect(cronProblem('61 * * * *', 'UTC')).toMatch(/0-59/);
    expect(cronProblem('* * *', 'UTC')).toMatch(/5 fields/);
    expect(cronProblem('*/5 * * * *', 'Europe/Berlin')).toBeUndefined();
  });
});
