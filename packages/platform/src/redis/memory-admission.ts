import { randomUUID } from 'node:crypto';
import { nonEmptyKey, wholeMs } from './arguments';
import type { MemoryBackend } from './memory-backend';
import { liveLock, sweepExpired, SWEEP_EVERY } from './memory-cooldown-locks';
import { consumeMemory, sharedMemoryLimiter } from './rate-limiters';
import type { Admission, AdmissionOptions, ClaimOutcome, RateLimitDecision } from './types';

/**
 * Same contract as the Redis admission, on the process's memory: the limiters and locks that
 * memory rate limiters and cooldown locks of the prefix use. Claims are taken without yielding
 * once the limits have answered, so no other request can come between check and claim.
 */
export function memoryAdmission(backend: MemoryBackend, options: AdmissionOptions): Admission {
  const limiters = options.limits.map((limit) => sharedMemoryLimiter(backend.rateLimiters, limit));
  const claimTtl = wholeMs('claimTtlMs', options.claimTtlMs);
  const pendingTtl =
    options.pendingTtlMs === undefined ? undefined : wholeMs('pendingTtlMs', options.pendingTtlMs);
  // As in Redis: a pending claim's value says so, a done one is 'done'.
  const token = `${pendingTtl === undefined ? '' : 'pending:'}${randomUUID()}`;
  let writes = 0;
  const take = (claimKeys: readonly string[]): ClaimOutcome => {
    const now = Date.now();
    const pending = new Array<boolean>(claimKeys.length).fill(false);
    const claimed = claimKeys.map((key, i) => {
      if (++writes % SWEEP_EVERY === 0) sweepExpired(backend, now);
      const held = liveLock(backend, nonEmptyKey(key), now);
      if (held) {
        pending[i] = held.token.startsWith('pending:');
        return false;
      }
      backend.locks.set(key, { token, expiresAt: now + (pendingTtl ?? claimTtl) });
      return true;
    });
    return { claimed, pending };
  };

  return {
    async admit({ limitKeys, points, claimKeys }) {
      if (limitKeys.length !== limiters.length) throw new RangeError('one limit key per limit is required');
      // Every limit is spent, as in Redis, before any verdict is read.
      const decisions: RateLimitDecision[] = await Promise.all(
        limiters.map((limiter, i) => consumeMemory(limiter, limitKeys[i]!, points)),
      );
      const refusedBy = decisions.findIndex((d) => !d.allowed);
      if (refusedBy >= 0)
        return { allowed: false, refusedBy, retryAfterMs: decisions[refusedBy]!.retryAfterMs };
      return { allowed: true, ...take(claimKeys) };
    },
    async claim(claimKeys) {
      return take(claimKeys);
    },
    async release(claimKeys) {
      const now = Date.now();
      let released = 0;
      for (const key of claimKeys) {
        if (liveLock(backend, key, now)?.token !== token) continue;
        backend.locks.delete(key);
        released += 1;
      }
      return released;
    },
    async confirm(claimKeys) {
      if (pendingTtl === undefined) return;
      const now = Date.now();
      for (const key of claimKeys)
        backend.locks.set(nonEmptyKey(key), { token: 'done', expiresAt: now + claimTtl });
    },
  };
}
