import { randomUUID } from 'node:crypto';
import type Redis from 'ioredis';
import { maxCount, nonEmptyKey, wholeMs } from './arguments';
import type { CooldownLocks } from './types';

// Deletes the lock only while it still carries our token: after our TTL lapsed someone else may hold it.
const RELEASE_IF_OURS = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

// Free, or already held by the same holder (ARGV[1]): acquired. ARGV[2]: ttl ms.
const ACQUIRE_AS = `
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then return 1 end
if holder then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`;

// Sliding window as a sorted set of execution times, on the Redis server's clock so every process
// agrees. ARGV: windowMs, member (the execution's id), max (-1: no limit). Returns {recorded 0|1,
// count}; a member already in the window is allowed again and not counted twice.
const RECORD_IN_WINDOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if redis.call('ZSCORE', KEYS[1], ARGV[2]) then return {1, count} end
local max = tonumber(ARGV[3])
if max >= 0 and count >= max then return {0, count} end
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('PEXPIRE', KEYS[1], window)
return {1, count + 1}`;

const COUNT_IN_WINDOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZCOUNT', KEYS[1], '(' .. (now - tonumber(ARGV[1])), '+inf')`;

/** Where a cooldown lock (or an admission's claim) of `key` lives. */
export function lockKey(prefix: string, key: string): string {
  return `${prefix}:cooldown:${nonEmptyKey(key)}`;
}

export function redisCooldownLocks(client: Redis, prefix: string): CooldownLocks {
  // One token per instance: release only deletes a lock this instance took, and nothing is kept
  // per key (ingest takes one lock per message id; a map of them would grow without bound).
  const token = randomUUID();
  const windowKey = (key: string) => `${prefix}:window:${nonEmptyKey(key)}`;

  const record = async (key: string, windowMs: number, max: number, execution?: string) => {
    const [recorded, count] = (await client.eval(
      RECORD_IN_WINDOW,
      1,
      windowKey(key),
      wholeMs('windowMs', windowMs),
      execution === undefined ? randomUUID() : nonEmptyKey(execution),
      max,
    )) as [number, number];
    return { allowed: recorded === 1, count };
  };

  return {
    async tryAcquire(key, ttlMs, holder) {
      if (holder !== undefined) {
        const ttl = wholeMs('ttlMs', ttlMs);
        return (await client.eval(ACQUIRE_AS, 1, lockKey(prefix, key), nonEmptyKey(holder), ttl)) === 1;
      }
      const result = await client.set(lockKey(prefix, key), token, 'PX', wholeMs('ttlMs', ttlMs), 'NX');
      return result === 'OK';
    },
    async release(key, holder) {
      return (await client.eval(RELEASE_IF_OURS, 1, lockKey(prefix, key), holder ?? token)) === 1;
    },
    async countInWindow(key, windowMs) {
      return (await client.eval(COUNT_IN_WINDOW, 1, windowKey(key), wholeMs('windowMs', windowMs))) as number;
    },
    async incrementInWindow(key, windowMs) {
      return (await record(key, windowMs, -1)).count;
    },
    async tryIncrementInWindow(key, windowMs, max, execution) {
      return record(key, windowMs, maxCount(max), execution);
    },
  };
}
