import { randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { createRedisHelpers, RedisHelpers } from './index';
import { eventually, redisHelpersContract } from './redis-helpers.contract';

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `spec-${randomUUID()}`;

describe('Redis-backed redis helpers', () => {
  redisHelpersContract(() => createRedisHelpers({ url, prefix }));

  const admin = new Redis(url);
  const opened: RedisHelpers[] = [];
  const open = (options: { url?: string; prefix?: string } = {}) => {
    const helpers = createRedisHelpers({ url, prefix, ...options });
    opened.push(helpers);
    return helpers;
  };
  afterAll(async () => {
    await Promise.all(opened.map((helpers) => helpers.quit()));
    await admin.quit();
  });

  it('is picked when a url is given, and answers ping once connected', async () => {
    const helpers = open();
    expect(helpers.kind).toBe('redis');
    await eventually(async () => expect(await helpers.ping()).toBe(true));
  });

  it('ping is false, promptly, when Redis cannot be reached', async () => {
    const helpers = open({ url: 'redis://127.0.0.1:1' });
    const startedAt = Date.now();

    expect(await helpers.ping()).toBe(false);
    expect(Date.now() - startedAt).toBeLessThan(1_500);
  });

  it('keeps every key under the prefix, expiring', async () => {
    const ownPrefix = `spec-${randomUUID()}`;
    const helpers = open({ prefix: ownPrefix });
    await helpers.rateLimiter({ name: 'ingest', points: 5, durationSeconds: 60 }).consume('source-1');
    await helpers.cooldownLocks().tryAcquire('rule-1:contact-1', 60_000);
    await helpers.cooldownLocks().incrementInWindow('rule-1', 60_000);
    await helpers
      .admission({ limits: [{ name: 'batch', points: 5, durationSeconds: 60 }], claimTtlMs: 60_000 })
      .admit({ limitKeys: ['org-1'], points: 2, claimKeys: ['message:m-1'] });

    const keys = (await admin.keys(`${ownPrefix}:*`)).sort();

    expect(keys).toEqual([
      `${ownPrefix}:cooldown:message:m-1`,
      `${ownPrefix}:cooldown:rule-1:contact-1`,
      `${ownPrefix}:ratelimit:batch:org-1`,
      `${ownPrefix}:ratelimit:ingest:source-1`,
      `${ownPrefix}:window:rule-1`,
    ]);
    for (const key of keys) expect(await admin.pttl(key)).toBeGreaterThan(0);
  });

  it("shares rate limit counters with rate-limiter-flexible's RateLimiterRedis (replicas of the previous build)", async () => {
    const ownPrefix = `spec-${randomUUID()}`;
    const previous = new RateLimiterRedis({
      storeClient: admin,
      keyPrefix: `${ownPrefix}:ratelimit:ingest`,
      points: 5,
      duration: 60,
    });
    await previous.consume('source-1', 3);

    const limiter = open({ prefix: ownPrefix }).rateLimiter({
      name: 'ingest',
      points: 5,
      durationSeconds: 60,
    });

    expect(await limiter.consume('source-1')).toEqual({ allowed: true, remaining: 1, retryAfterMs: 0 });
    await expect(previous.consume('source-1', 2)).rejects.toMatchObject({ remainingPoints: 0 });
  });

  it('after its subscriber connection drops, a cache forgets everything it may have missed', async () => {
    const ownPrefix = `spec-${randomUUID()}`;
    const helpers = open({ prefix: ownPrefix });
    let loads = 0;
    const cache = helpers.invalidatingCache({ name: 'keys', loader: async () => ++loads });
    expect(await cache.get('a')).toBe(1);
    expect(await cache.get('a')).toBe(1);

    const clients = await admin.client('LIST');
    const subscriber = String(clients)
      .split('\n')
      .find((line) => line.includes(`name=${ownPrefix}:invalidations`));
    const id = /\bid=(\d+)/.exec(subscriber ?? '')?.[1];
    expect(id).toBeDefined();
    await admin.client('KILL', 'ID', String(id));

    await eventually(async () => expect(await cache.get('a')).toBe(2));
  });
});
