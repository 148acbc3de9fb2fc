import { TooManyRequestsError, type ServiceRuntime } from '@cmis/platform';
import type { WriteKeyPrincipal } from './write-keys';

export interface IngestRateLimits {
  /** Events per second one org may send across its sources. */
  orgEventsPerSecond: number;
  /** Events per second one source may send. */
  sourceEventsPerSecond: number;
}

export const DEFAULT_RATE_LIMITS: IngestRateLimits = {
  orgEventsPerSecond: 20_000,
  sourceEventsPerSecond: 10_000,
};

export interface IngestAdmission {
  /**
   * Spends `events` of the source's and the org's windows (a refused request spends them too) and,
   * only when both allow, claims `claimKeys`; one Redis round trip. Over a limit: 429 with
   * Retry-After, nothing claimed. Resolves to whether each key was claimed now.
   */
  admit(
    principal: WriteKeyPrincipal,
    events: number,
    claimKeys: readonly string[],
  ): Promise<{ claimed: boolean[]; pending: boolean[] }>;
  /** Takes claims without spending the limits (a second look at claims that were pending). */
  claim(claimKeys: readonly string[]): Promise<{ claimed: boolean[]; pending: boolean[] }>;
  /** Gives claims back (the publish failed, so the sender's retry must go through); how many. */
  release(claimKeys: readonly string[]): Promise<number>;
  /** The claims' events are stored: held as done for the idempotency window. */
  confirm(claimKeys: readonly string[]): Promise<void>;
}

/** How long a messageId is claimed while its publish is under way (a crash leaves no more). */
export const PENDING_CLAIM_MS = 30_000;

/** Per-source and per-org windows in Redis, counted in events (a batch spends one per call). */
export function createIngestAdmission(
  rt: ServiceRuntime,
  limits: IngestRateLimits,
  options: { claimTtlMs: number; pendingTtlMs?: number },
): IngestAdmission {
  // The names are the Redis keyspaces the limits have always used: replicas share budgets.
  const admission = rt.redis.admission({
    limits: [
      { name: 'triggers-ingest-source', points: limits.sourceEventsPerSecond, durationSeconds: 1 },
      { name: 'triggers-ingest-org', points: limits.orgEventsPerSecond, durationSeconds: 1 },
    ],
    claimTtlMs: options.claimTtlMs,
    pendingTtlMs: options.pendingTtlMs ?? PENDING_CLAIM_MS,
  });
  return {
    async admit(principal, events, claimKeys) {
      const decision = await admission.admit({
        limitKeys: [principal.sourceId, principal.orgId],
        points: Math.max(1, events),
        claimKeys,
      });
      if (decision.allowed) return decision;
      throw new TooManyRequestsError(
        decision.refusedBy === 0
          ? `The source is over its limit of ${limits.sourceEventsPerSecond} events per second`
          : `The org is over its limit of ${limits.orgEventsPerSecond} events per second`,
        decision.retryAfterMs,
      );
    },
    claim: (claimKeys) => admission.claim(claimKeys),
    release: (claimKeys) => admission.release(claimKeys),
    confirm: (claimKeys) => admission.confirm(claimKeys),
  };
}
