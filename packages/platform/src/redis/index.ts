export { createRedisHelpers } from './create-redis-helpers';
export type { RedisHelpersOptions } from './create-redis-helpers';
export type {
  CooldownLocks,
  InvalidatingCache,
  InvalidatingCacheOptions,
  RateLimitDecision,
  RateLimiter,
  RateLimiterOptions,
  RedisHelpers,
} from './types';
