import { randomUUID } from 'node:crypto';
import { createRedisHelpers } from './index';
import { redisHelpersContract } from './redis-helpers.contract';

describe('in-memory redis helpers', () => {
  const prefix = `spec-${randomUUID()}`;
  redisHelpersContract(() => createRedisHelpers({ prefix }));

  it('is picked when no url is given', async () => {
    const helpers = createRedisHelpers({ prefix });
    expect(helpers.kind).toBe('memory');
    expect(await helpers.ping()).toBe(true);
    await helpers.quit();
  });

  it('keeps different prefixes apart', async () => {
    const one = createRedisHelpers({ prefix: `spec-${randomUUID()}` });
    const two = createRedisHelpers({ prefix: `spec-${randomUUID()}` });
    try {
      expect(await one.cooldownLocks().tryAcquire('rule-1', 60_000)).toBe(true);
      expect(await two.cooldownLocks().tryAcquire('rule-1', 60_000)).toBe(true);
    } finally {
      await Promise.all([one.quit(), two.quit()]);
    }
  });

  it('refuses a prefix that could collide with key separators or spaces', () => {
    expect(() => createRedisHelpers({ prefix: '' })).toThrow(RangeError);
    expect(() => createRedisHelpers({ prefix: 'cmis prod' })).toThrow(RangeError);
  });
});
