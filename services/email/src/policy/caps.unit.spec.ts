import { capExceeded } from './caps';

describe('capExceeded', () => {
  it('is undefined without caps or below them', () => {
    expect(capExceeded({}, { lastDay: 100, lastWeek: 1000 })).toBeUndefined();
    expect(capExceeded({ perDay: 3, perWeek: 10 }, { lastDay: 2, lastWeek: 9 })).toBeUndefined();
  });

  it('names the daily cap once the day has reached it', () => {
    expect(capExceeded({ perDay: 3 }, { lastDay: 3, lastWeek: 3 })).toBe('frequency cap: 3 per day');
    expect(capExceeded({ perDay: 3 }, { lastDay: 4, lastWeek: 4 })).toBe('frequency cap: 3 per day');
  });

  it('names the weekly cap once the week has reached it', () => {
    expect(capExceeded({ perDay: 3, perWeek: 10 }, { lastDay: 1, lastWeek: 10 })).toBe(
      'frequency cap: 10 per week',
    );
  });

  it('names the daily cap first when both are reached', () => {
    expect(capExceeded({ perDay: 1, perWeek: 1 }, { lastDay: 1, lastWeek: 1 })).toBe(
      'frequency cap: 1 per day',
    );
  });
});
