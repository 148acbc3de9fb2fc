import { EventEmitter } from 'node:events';
import type { RateLimiterMemory } from 'rate-limiter-flexible';

/**
 * The state in-memory helpers keep, one per prefix per process. Helpers created with the same
 * prefix share it, as processes on one Redis share keys: in the embedded default every service runs
 * in one process and must see the same cooldowns, limits and invalidations.
 */
export interface MemoryBackend {
  locks: Map<string, { token: string; expiresAt: number }>;
  /**
   * Executions per key, oldest first (time in ms, and the execution's id when it has one), with
   * the window they were last counted in.
   */
  windows: Map<string, { windowMs: number; stamps: Array<{ at: number; id?: string }> }>;
  rateLimiters: Map<string, RateLimiterMemory>;
  bus: EventEmitter;
}

const backends = new Map<string, { backend: MemoryBackend; users: number }>();

export function acquireMemoryBackend(prefix: string): { backend: MemoryBackend; release: () => void } {
  let entry = backends.get(prefix);
  if (!entry) {
    const bus = new EventEmitter();
    bus.setMaxListeners(0); // one listener per cache, any number of caches
    entry = { backend: { locks: new Map(), windows: new Map(), rateLimiters: new Map(), bus }, users: 0 };
    backends.set(prefix, entry);
  }
  entry.users += 1;
  const held = entry;
  let released = false;
  return {
    backend: held.backend,
    release: () => {
      if (released) return;
      released = true;
      held.users -= 1;
      if (held.users === 0 && backends.get(prefix) === held) backends.delete(prefix);
    },
  };
}
