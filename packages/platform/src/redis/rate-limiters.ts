import type Redis from 'ioredis';
import {
  RateLimiterAbstract,
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
} from 'rate-limiter-flexible';
import { nonEmptyKey, rateLimiterSettings } from './arguments';
import type { RateLimitDecision, RateLimiter, RateLimiterOptions } from './types';

export function redisRateLimiter(client: Redis, prefix: string, options: RateLimiterOptions): RateLimiter {
  const { name, points, durationSeconds } = rateLimiterSettings(options);
  return wrap(
    new RateLimiterRedis({
      storeClient: client,
      keyPrefix: `${prefix}:ratelimit:${name}`,
      points,
      duration: durationSeconds,
    }),
  );
}

/** One RateLimiterMemory per name and settings, shared by every helpers instance of a prefix. */
export function memoryRateLimiter(
  shared: Map<string, RateLimiterMemory>,
  options: RateLimiterOptions,
): RateLimiter {
  const { name, points, durationSeconds } = rateLimiterSettings(options);
  const id = `${name}:${points}:${durationSeconds}`;
  let limiter = shared.get(id);
  if (!limiter) {
    limiter = new RateLimiterMemory({ keyPrefix: name, points, duration: durationSeconds });
    shared.set(id, limiter);
  }
  return wrap(limiter);
}

function wrap(limiter: RateLimiterAbstract): RateLimiter {
  return {
    async consume(key, points = 1): Promise<RateLimitDecision> {
      if (!Number.isInteger(points) || points < 1) throw new RangeError('points must be a positive integer');
      try {
        const result = await limiter.consume(nonEmptyKey(key), points);
        return { allowed: true, remaining: result.remainingPoints, retryAfterMs: 0 };
      } catch (refusal) {
        // rate-limiter-flexible rejects with a RateLimiterRes when over the limit, an Error when the store fails.
        if (refusal instanceof RateLimiterRes) {
          return { allowed: false, remaining: 0, retryAfterMs: Math.max(refusal.msBeforeNext, 0) };
        }
        throw refusal;
      }
    },
  };
}
