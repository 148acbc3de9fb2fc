import type Redis from 'ioredis';
import { RateLimiterAbstract, RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { nonEmptyKey, rateLimiterSettings } from './arguments';
import type { RateLimitDecision, RateLimiter, RateLimiterOptions } from './types';

/** Where a limiter's counter for `key` lives (rate-limiter-flexible's layout, kept for running peers). */
export function limitKey(prefix: string, name: string, key: string): string {
  return `${prefix}:ratelimit:${name}:${nonEmptyKey(key)}`;
}

// rate-limiter-flexible's fixed window, as one script: the counter is created with the window as
// its expiry and every attempt, refused or not, is counted. ARGV: points, window (s).
// Returns {spent, ms until the window ends}.
const CONSUME = `
redis.call('SET', KEYS[1], 0, 'EX', ARGV[2], 'NX')
local spent = redis.call('INCRBY', KEYS[1], ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl == -1 then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  ttl = 1000 * tonumber(ARGV[2])
end
return {spent, ttl}`;

/** The name the limiter's script is defined under on the client. */
export const RATE_LIMIT_SCRIPT = 'cmisRateLimit';

type Consume = (key: string, points: number, windowSeconds: number) => Promise<[number, number]>;

/**
 * The Redis limiter: the same keys and counting as rate-limiter-flexible's RateLimiterRedis (so
 * replicas of either kind share budgets), without the transaction object it builds per call.
 */
export function redisRateLimiter(client: Redis, prefix: string, options: RateLimiterOptions): RateLimiter {
  const { name, points, durationSeconds } = rateLimiterSettings(options);
  const commands = client as unknown as Partial<Record<string, Consume>>;
  if (!commands[RATE_LIMIT_SCRIPT])
    client.defineCommand(RATE_LIMIT_SCRIPT, { numberOfKeys: 1, lua: CONSUME });
  return {
    async consume(key, spend = 1): Promise<RateLimitDecision> {
      if (!Number.isInteger(spend) || spend < 1) throw new RangeError('points must be a positive integer');
      const [spent, ttl] = await commands[RATE_LIMIT_SCRIPT]!.call(
        client,
        limitKey(prefix, name, key),
        spend,
        durationSeconds,
      );
      return spent > points
        ? { allowed: false, remaining: 0, retryAfterMs: Math.max(ttl, 0) }
        : { allowed: true, remaining: points - spent, retryAfterMs: 0 };
    },
  };
}

/** One RateLimiterMemory per name and settings, shared by every helpers instance of a prefix. */
export function memoryRateLimiter(
  shared: Map<string, RateLimiterMemory>,
  options: RateLimiterOptions,
): RateLimiter {
  return wrap(sharedMemoryLimiter(shared, options));
}

export function sharedMemoryLimiter(
  shared: Map<string, RateLimiterMemory>,
  options: RateLimiterOptions,
): RateLimiterMemory {
  const { name, points, durationSeconds } = rateLimiterSettings(options);
  const id = `${name}:${points}:${durationSeconds}`;
  let limiter = shared.get(id);
  if (!limiter) {
    limiter = new RateLimiterMemory({ keyPrefix: name, points, duration: durationSeconds });
    shared.set(id, limiter);
  }
  return limiter;
}

/** A memory limiter's verdict on spending `points` for `key`; the attempt counts either way. */
export async function consumeMemory(
  limiter: RateLimiterAbstract,
  key: string,
  points: number,
): Promise<RateLimitDecision> {
  if (!Number.isInteger(points) || points < 1) throw new RangeError('points must be a positive integer');
  try {
    const result = await limiter.consume(nonEmptyKey(key), points);
    return { allowed: true, remaining: result.remainingPoints, retryAfterMs: 0 };
  } catch (refusal) {
    // rate-limiter-flexible rejects with a RateLimiterRes when over the limit, an Error otherwise.
    if (refusal instanceof RateLimiterRes) {
      return { allowed: false, remaining: 0, retryAfterMs: Math.max(refusal.msBeforeNext, 0) };
    }
    throw refusal;
  }
}

function wrap(limiter: RateLimiterAbstract): RateLimiter {
  return { consume: (key, points = 1) => consumeMemory(limiter, key, points) };
}
