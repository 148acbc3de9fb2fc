import { QuietHoursError, quietUntil } from './quiet-hours';

const night = { start: '21:00', end: '08:00' };
const utc = (iso: string) => new Date(iso);
const until = (at: string, tz: string, quiet = night, fallback?: string) =>
  quietUntil(utc(at), tz, quiet, fallback)?.toISOString();

describe('quietUntil', () => {
  it('is undefined outside quiet hours, in the recipient’s zone', () => {
    expect(until('2026-01-15T12:00:00Z', 'Europe/Berlin')).toBeUndefined();
    // 19:59 in Berlin is still before 21:00 there, though it is 20:59 nowhere near.
    expect(until('2026-01-15T19:59:00Z', 'Europe/Berlin')).toBeUndefined();
  });

  it('ends a window that wraps midnight the next morning, or the same morning after midnight', () => {
    expect(until('2026-01-15T22:00:00Z', 'Europe/Berlin')).toBe('2026-01-16T07:00:00.000Z');
    expect(until('2026-01-16T03:00:00Z', 'Europe/Berlin')).toBe('2026-01-16T07:00:00.000Z');
  });

  it('counts the start as inside and the end as outside', () => {
    expect(until('2026-01-15T20:00:00Z', 'Europe/Berlin')).toBe('2026-01-16T07:00:00.000Z');
    expect(until('2026-01-16T06:59:59Z', 'Europe/Berlin')).toBe('2026-01-16T07:00:00.000Z');
    expect(until('2026-01-16T07:00:00Z', 'Europe/Berlin')).toBeUndefined();
  });

  it('handles a window within one day, and a zone at +05:45', () => {
    const lunch = { start: '12:00', end: '14:00' };
    expect(until('2026-05-01T07:00:00Z', 'Asia/Kathmandu', lunch)).toBe('2026-05-01T08:15:00.000Z');
    expect(until('2026-05-01T08:15:00Z', 'Asia/Kathmandu', lunch)).toBeUndefined();
    expect(until('2026-05-01T06:14:00Z', 'Asia/Kathmandu', lunch)).toBeUndefined();
  });

  it('ends at 08:00 summer time on the night Berlin springs forward (2026-03-29)', () => {
    // 22:00 CET on the 28th; 08:00 CEST on the 29th is 06:00Z, not 07:00Z.
    expect(until('2026-03-28T21:00:00Z', 'Europe/Berlin')).toBe('2026-03-29T06:00:00.000Z');
  });

  it('ends at 08:00 winter time on the night Berlin falls back (2026-10-25)', () => {
    expect(until('2026-10-24T20:00:00Z', 'Europe/Berlin')).toBe('2026-10-25T07:00:00.000Z');
  });

  it('does the same in New York (2026-03-08 and 2026-11-01)', () => {
    expect(until('2026-03-08T04:00:00Z', 'America/New_York')).toBe('2026-03-08T12:00:00.000Z');
    expect(until('2026-11-01T03:00:00Z', 'America/New_York')).toBe('2026-11-01T13:00:00.000Z');
  });

  it('resolves an end the clock skips to the moment of the jump', () => {
    // 02:30 does not exist in Berlin on 2026-03-29: the clock goes from 02:00 CET to 03:00 CEST at 01:00Z.
    const toSkipped = { start: '22:00', end: '02:30' };
    expect(until('2026-03-28T22:00:00Z', 'Europe/Berlin', toSkipped)).toBe('2026-03-29T01:00:00.000Z');
    expect(until('2026-03-08T04:00:00Z', 'America/New_York', toSkipped)).toBe('2026-03-08T07:00:00.000Z');
  });

  it('resolves an end the clock shows twice to its first time after now', () => {
    // 02:30 is 00:30Z (CEST) and again 01:30Z (CET) in Berlin on 2026-10-25.
    const toRepeated = { start: '22:00', end: '02:30' };
    expect(until('2026-10-24T21:00:00Z', 'Europe/Berlin', toRepeated)).toBe('2026-10-25T00:30:00.000Z');
    // 02:10 CET, the second time round: the first 02:30 has passed, the second has not.
    expect(until('2026-10-25T01:10:00Z', 'Europe/Berlin', toRepeated)).toBe('2026-10-25T01:30:00.000Z');
  });

  it('falls back to the given zone, then to UTC, for a zone Intl does not know, without throwing', () => {
    expect(until('2026-01-16T03:00:00Z', 'Mars/Olympus', night, 'America/New_York')).toBe(
      '2026-01-16T13:00:00.000Z',
    );
    expect(until('2026-01-15T22:00:00Z', 'Mars/Olympus', night, 'Nowhere/Else')).toBe(
      '2026-01-16T08:00:00.000Z',
    );
    expect(until('2026-01-15T22:00:00Z', '')).toBe('2026-01-16T08:00:00.000Z');
    // Not the process's own zone, which is what Intl uses for an undefined one.
    expect(
      until('2026-01-15T03:00:00Z', undefined as unknown as string, night, 'Asia/Tokyo'),
    ).toBeUndefined();
    expect(until('2026-01-15T13:00:00Z', undefined as unknown as string, night, 'Asia/Tokyo')).toBe(
      '2026-01-15T23:00:00.000Z',
    );
  });

  it('has no quiet hours when start and end are the same', () => {
    expect(until('2026-01-15T22:00:00Z', 'UTC', { start: '22:00', end: '22:00' })).toBeUndefined();
  });

  it.each(['8:00', '24:00', '08:60', 'noon', ''])('refuses the time %j', (bad) => {
    expect(() => quietUntil(new Date(), 'UTC', { start: bad, end: '08:00' })).toThrow(QuietHoursError);
  });
});
