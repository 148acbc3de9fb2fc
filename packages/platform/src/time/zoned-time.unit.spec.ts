import { inWindow, nextTimeOfDay, nextWindowOpening, windowFault, type SendWindow } from './zoned-time';

describe('nextTimeOfDay', () => {
  it('is the same day when still ahead, else the next day', () => {
    expect(nextTimeOfDay(new Date('2026-12-06T07:00:00Z'), '09:00', 'Europe/Berlin').toISOString()).toBe(
      '2026-12-06T08:00:00.000Z',
    );
    expect(nextTimeOfDay(new Date('2026-12-06T08:00:01Z'), '09:00', 'Europe/Berlin').toISOString()).toBe(
      '2026-12-07T08:00:00.000Z',
    );
  });

  it('keeps the wall-clock time across daylight-saving changes', () => {
    // Berlin: CET (+1) until 2026-03-29 02:00, then CEST (+2); back on 2026-10-25 03:00.
    expect(nextTimeOfDay(new Date('2026-03-28T12:00:00Z'), '09:00', 'Europe/Berlin').toISOString()).toBe(
      '2026-03-29T07:00:00.000Z',
    );
    expect(nextTimeOfDay(new Date('2026-10-24T12:00:00Z'), '09:00', 'Europe/Berlin').toISOString()).toBe(
      '2026-10-25T08:00:00.000Z',
    );
    // 02:30 does not exist on 2026-03-29 in Berlin: the first instant after the gap.
    expect(nextTimeOfDay(new Date('2026-03-28T12:00:00Z'), '02:30', 'Europe/Berlin').toISOString()).toBe(
      '2026-03-29T01:30:00.000Z',
    );
  });
});

describe('send windows', () => {
  const berlin: SendWindow = {
    days: ['mon', 'tue', 'wed', 'thu', 'fri'],
    start: '09:00',
    end: '17:00',
    timeZone: 'Europe/Berlin',
  };
  const at = (iso: string) => new Date(iso);

  it('is open inside its hours on its days and the next opening otherwise', () => {
    // Monday 2026-12-07, 10:00 Berlin (09:00Z).
    expect(inWindow(at('2026-12-07T09:00:00Z'), berlin)).toBe(true);
    expect(nextWindowOpening(at('2026-12-07T09:00:00Z'), berlin).toISOString()).toBe(
      '2026-12-07T09:00:00.000Z',
    );
    // Monday 22:00 Berlin → Tuesday 09:00 Berlin (08:00Z).
    expect(nextWindowOpening(at('2026-12-07T21:00:00Z'), berlin).toISOString()).toBe(
      '2026-12-08T08:00:00.000Z',
    );
    // 17:00 is closed (end exclusive); Friday evening → Monday morning.
    expect(inWindow(at('2026-12-07T16:00:00Z'), berlin)).toBe(false);
    expect(nextWindowOpening(at('2026-12-11T17:30:00Z'), berlin).toISOString()).toBe(
      '2026-12-14T08:00:00.000Z',
    );
  });

  it('opens at 09:00 wall-clock time across daylight-saving changes', () => {
    // Saturday 2026-03-28 → Monday 2026-03-30, CEST (+2): 07:00Z.
    expect(nextWindowOpening(at('2026-03-28T12:00:00Z'), berlin).toISOString()).toBe(
      '2026-03-30T07:00:00.000Z',
    );
    // Saturday 2026-10-24 → Monday 2026-10-26, CET (+1): 08:00Z.
    expect(nextWindowOpening(at('2026-10-24T12:00:00Z'), berlin).toISOString()).toBe(
      '2026-10-26T08:00:00.000Z',
    );
  });

  it('names a window that never opens', () => {
    expect(windowFault({ ...berlin, days: [] })).toBe('the window has no day');
    expect(windowFault({ ...berlin, start: '17:00', end: '09:00' })).toMatch(/closes/);
    expect(windowFault({ ...berlin, timeZone: 'Nowhere/City' })).toBe('unknown time zone Nowhere/City');
    expect(() => nextWindowOpening(at('2026-12-07T09:00:00Z'), { ...berlin, days: [] })).toThrow(RangeError);
  });
});
