export { createRedisHelpers } from './create-redis-helpers';
export type { RedisHelpersOptions } from './create-redis-helpers';
export type {
  Admission,
  AdmissionDecision,
  AdmissionOptions,
  AdmissionRequest,
  ClaimOutcome,
  CooldownLocks,
  InvalidatingCache,
  InvalidatingCacheOptions,
  RateLimitDecision,
  RateLimiter,
  RateLimiterOptions,
  RedisHelpers,
} from './types';
