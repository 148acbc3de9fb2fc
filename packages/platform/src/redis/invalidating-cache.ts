import { randomUUID } from 'node:crypto';
import type { InvalidationBus } from './invalidation-bus';
import type { InvalidatingCache, InvalidatingCacheOptions } from './types';

interface Entry<T> {
  value: Promise<T>;
  expiresAt: number;
}

/**
 * A local cache whose invalidations travel over a bus. Both implementations use this one cache;
 * only the bus differs, so they cannot drift apart.
 */
export function createInvalidatingCache<T>(
  bus: InvalidationBus,
  channel: string,
  options: InvalidatingCacheOptions<T>,
): InvalidatingCache<T> {
  const origin = randomUUID();
  const maxEntries = options.maxEntries ?? 10_000;
  const ttlMs = options.ttlMs ?? Number.POSITIVE_INFINITY;
  const entries = new Map<string, Entry<T>>();

  const onMessage = (message: string) => {
    const parsed = parseMessage(message);
    // Something we cannot read asked for an invalidation: drop everything rather than keep stale values.
    if (!parsed) entries.clear();
    else if (parsed.origin !== origin) entries.delete(parsed.key);
  };
  // Nothing is cached before the subscription is live, or an early invalidation could be missed.
  const subscribed = bus.subscribe(channel, onMessage);
  subscribed.catch(() => undefined); // surfaced by get(), not as an unhandled rejection
  const stopGapWatch = bus.onGap(() => entries.clear());

  const load = (key: string): Promise<T> => {
    const value = subscribed.then(() => options.loader(key));
    const entry = { value, expiresAt: Date.now() + ttlMs };
    entries.set(key, entry);
    if (entries.size > maxEntries) {
      const oldest = entries.keys().next().value;
      if (oldest !== undefined) entries.delete(oldest);
    }
    // A failed load is not cached. An invalidation during the load removed the entry already,
    // so the next get loads afresh.
    value.catch(() => {
      if (entries.get(key) === entry) entries.delete(key);
    });
    return value;
  };

  return {
    get(key) {
      const entry = entries.get(key);
      if (!entry || entry.expiresAt <= Date.now()) return load(key);
      // Re-insert to keep the map in least-recently-used order for eviction.
      entries.delete(key);
      entries.set(key, entry);
      return entry.value;
    },
    async invalidate(key) {
      entries.delete(key);
      await bus.publish(channel, JSON.stringify({ origin, key }));
    },
    async close() {
      stopGapWatch();
      const unsubscribe = await subscribed.catch(() => undefined);
      await unsubscribe?.();
    },
  };
}

function parseMessage(message: string): { origin: string; key: string } | undefined {
  try {
    const parsed = JSON.parse(message) as { origin?: unknown; key?: unknown };
    if (typeof parsed.origin === 'string' && typeof parsed.key === 'string') {
      return { origin: parsed.origin, key: parsed.key };
    }
  } catch {
    return undefined;
  }
  return undefined;
}
