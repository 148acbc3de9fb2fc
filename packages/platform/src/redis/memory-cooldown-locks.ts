import { randomUUID } from 'node:crypto';
import { maxCount, nonEmptyKey, wholeMs } from './arguments';
import type { MemoryBackend } from './memory-backend';
import type { CooldownLocks } from './types';

/** How many writes pass between sweeps of expired entries. */
export const SWEEP_EVERY = 1_000;

/** Drops expired locks and windows: keys nobody asks about again would otherwise stay forever. */
export function sweepExpired(backend: MemoryBackend, now: number): void {
  for (const [key, lock] of backend.locks) if (lock.expiresAt <= now) backend.locks.delete(key);
  for (const [key, { windowMs, stamps }] of backend.windows) {
    if ((stamps[stamps.length - 1]?.at ?? 0) <= now - windowMs) backend.windows.delete(key);
  }
}

/** A lock still held at `now` (an expired one is dropped on the way). */
export function liveLock(backend: MemoryBackend, key: string, now: number) {
  const lock = backend.locks.get(key);
  if (lock && lock.expiresAt <= now) {
    backend.locks.delete(key);
    return undefined;
  }
  return lock;
}

/** Same contract as the Redis locks, on the process's memory; expiry is checked on access. */
export function memoryCooldownLocks(backend: MemoryBackend): CooldownLocks {
  // One token per instance, as in the Redis locks: nothing is kept per key.
  const token = randomUUID();
  let writes = 0;

  const liveWindow = (key: string, windowMs: number, now: number) => {
    const stamps = (backend.windows.get(key)?.stamps ?? []).filter((stamp) => stamp.at > now - windowMs);
    if (stamps.length === 0) backend.windows.delete(key);
    else backend.windows.set(key, { windowMs, stamps });
    return stamps;
  };
  const maybeSweep = (now: number) => {
    if (++writes % SWEEP_EVERY === 0) sweepExpired(backend, now);
  };
  const record = (key: string, windowMs: number, now: number, id?: string) => {
    const stamps = liveWindow(key, windowMs, now);
    maybeSweep(now);
    stamps.push({ at: now, id });
    backend.windows.set(key, { windowMs, stamps });
    return stamps.length;
  };

  return {
    async tryAcquire(key, ttlMs, holder) {
      const ttl = wholeMs('ttlMs', ttlMs);
      const now = Date.now();
      const as = holder === undefined ? token : nonEmptyKey(holder);
      maybeSweep(now);
      const held = liveLock(backend, nonEmptyKey(key), now);
      if (held) return held.token === as && holder !== undefined;
      backend.locks.set(key, { token: as, expiresAt: now + ttl });
      return true;
    },
    async release(key, holder) {
      const lock = liveLock(backend, key, Date.now());
      if (lock?.token !== (holder ?? token)) return false;
      backend.locks.delete(key);
      return true;
    },
    async countInWindow(key, windowMs) {
      return liveWindow(nonEmptyKey(key), wholeMs('windowMs', windowMs), Date.now()).length;
    },
    async incrementInWindow(key, windowMs) {
      return record(nonEmptyKey(key), wholeMs('windowMs', windowMs), Date.now());
    },
    async tryIncrementInWindow(key, windowMs, max, execution) {
      const window = wholeMs('windowMs', windowMs);
      const now = Date.now();
      const live = liveWindow(nonEmptyKey(key), window, now);
      const id = execution === undefined ? undefined : nonEmptyKey(execution);
      if (id !== undefined && live.some((stamp) => stamp.id === id))
        return { allowed: true, count: live.length };
      if (live.length >= maxCount(max)) return { allowed: false, count: live.length };
      return { allowed: true, count: record(key, window, now, id) };
    },
  };
}
