import { createDatabase } from '../db';
import { createLogger } from '../logging';
import { createTimerPoller, defaultTimerRetryDelay } from '.';

describe('timer retries and poller options', () => {
  it('backs off 1 s, 2 s, 4 s … and never waits more than an hour', () => {
    expect([1, 2, 3, 4, 10].map(defaultTimerRetryDelay)).toEqual([1_000, 2_000, 4_000, 8_000, 512_000]);
    expect(defaultTimerRetryDelay(13)).toBe(3_600_000);
    expect(defaultTimerRetryDelay(1_000)).toBe(3_600_000);
  });

  it('refuses sizes and intervals that are not positive integers', async () => {
    // No query is sent: the pools connect on first use.
    const db = createDatabase({ url: 'postgres://postgres@127.0.0.1:5432/postgres', schema: 'unit_timers' });
    const logger = createLogger({ service: 'unit', level: 'silent' });
    const make = (extra: Record<string, number>) =>
      createTimerPoller({ db, logger, service: 'unit', handlers: {}, ...extra });
    try {
      expect(() => make({ perOrgBatch: 0 })).toThrow(/perOrgBatch must be a positive integer/);
      expect(() => make({ batchSize: 2.5 })).toThrow(/batchSize/);
      expect(() => make({ maxAttempts: -1 })).toThrow(/maxAttempts/);
      expect(() => make({ leaseMs: 0 })).toThrow(/leaseMs/);
      expect(() => make({ concurrency: 4, perOrgBatch: 10 })).not.toThrow();
    } finally {
      await db.destroy();
    }
  });
});
