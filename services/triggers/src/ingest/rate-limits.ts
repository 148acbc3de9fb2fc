import { TooManyRequestsError, type ServiceRuntime } from '@cmis/platform';

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

/** Per-source and per-org windows in Redis, counted in events (a batch spends one per call). */
export function createIngestAdmission(rt: ServiceRuntime, limits: IngestRateLimits) {
  const perOrg = rt.redis.rateLimiter({
    name: 'triggers-ingest-org',
    points: limits.orgEventsPerSecond,
    durationSeconds: 1,
  });
  const perSource = rt.redis.rateLimiter({
    name: 'triggers-ingest-source',
    points: limits.sourceEventsPerSecond,
    durationSeconds: 1,
  });
  return async function admit(principal: { orgId: string; sourceId: string }, events: number): Promise<void> {
    const points = Math.max(1, events);
    const [source, org] = await Promise.all([
      perSource.consume(principal.sourceId, points),
      perOrg.consume(principal.orgId, points),
    ]);
    if (!source.allowed) {
      throw new TooManyRequestsError(
        `The source is over its limit of ${limits.sourceEventsPerSecond} events per second`,
        source.retryAfterMs,
      );
    }
    if (!org.allowed) {
      throw new TooManyRequestsError(
        `The org is over its limit of ${limits.orgEventsPerSecond} events per second`,
        org.retryAfterMs,
      );
    }
  };
}
