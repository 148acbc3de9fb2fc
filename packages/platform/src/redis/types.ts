/** What a rate limiter decided for one attempt. */
export interface RateLimitDecision {
  allowed: boolean;
  /** Points left in the current window after this attempt (0 when refused). */
  remaining: number;
  /** When refused, how long until the window frees points; 0 when allowed. */
  retryAfterMs: number;
}

export interface RateLimiter {
  /** Spends `points` (default 1) for `key`; a refused attempt still counts against the window. */
  consume(key: string, points?: number): Promise<RateLimitDecision>;
}

export interface RateLimiterOptions {
  /** Names the limiter's keyspace, e.g. `ingest-per-source`. */
  name: string;
  /** Points each key may spend per window. */
  points: number;
  /** Window length in whole seconds (the Redis store counts in seconds). */
  durationSeconds: number;
}

/**
 * Short-lived exclusive markers (a rule's cooldown per contact, one sender per drip step) and
 * execution counts per window (a rule's max executions per hour).
 *
 * Windows are SLIDING: a count covers the `windowMs` before now, so a burst cannot double up
 * across a fixed-window boundary. Redis keeps one sorted set of timestamps per key, stamped by the
 * Redis server's clock so every process agrees.
 */
export interface CooldownLocks {
  /**
   * Takes `key` for `ttlMs` if nobody holds it; false while it is held by another. With `holder`
   * (a stable id of the work claiming it, e.g. a rule firing's), a key already held by that same
   * holder counts as acquired (its TTL unchanged): a retry of work whose transaction rolled back
   * after the claim finds its own claim, not a cooldown. Without it the holder is this instance.
   */
  tryAcquire(key: string, ttlMs: number, holder?: string): Promise<boolean>;
  /**
   * Gives `key` back early, only if `holder` (default: this instance) still holds it (it may have
   * expired and been taken by someone else). Returns whether it released.
   */
  release(key: string, holder?: string): Promise<boolean>;
  /** Executions recorded for `key` within the last `windowMs`. */
  countInWindow(key: string, windowMs: number): Promise<number>;
  /** Records one execution for `key` now; returns the count within the last `windowMs`, this one included. */
  incrementInWindow(key: string, windowMs: number): Promise<number>;
  /**
   * Records an execution only if fewer than `max` fall within the last `windowMs`, atomically, so
   * concurrent processes cannot overshoot the way count-then-increment can.
   */
  tryIncrementInWindow(
    key: string,
    windowMs: number,
    max: number,
    /**
     * The execution's stable id: one already recorded in the window is allowed again without
     * counting twice (a retry of the same firing). Entries leave the window as it slides, and the
     * window's key expires with its newest entry.
     */
    execution?: string,
  ): Promise<{ allowed: boolean; count: number }>;
}

export interface InvalidatingCache<T> {
  /** The cached value, or the loader's (concurrent gets for one key share a single load). */
  get(key: string): Promise<T>;
  /** Drops `key` here and in every other process's cache of the same name. */
  invalidate(key: string): Promise<void>;
  /** Stops listening for invalidations; the cache keeps working locally. */
  close(): Promise<void>;
}

export interface InvalidatingCacheOptions<T> {
  /** Caches with the same name (and prefix) invalidate each other. */
  name: string;
  loader: (key: string) => Promise<T>;
  /** A backstop against missed invalidations; values never expire when unset. */
  ttlMs?: number;
  /** Oldest entries are evicted beyond this many; default 10 000. */
  maxEntries?: number;
}

/**
 * Rate limits and idempotency claims decided together: every limit is spent (as
 * `RateLimiter.consume`, a refused attempt still counts) and only when all of them allow are the
 * claims taken (as `CooldownLocks.tryAcquire`), atomically and in one round trip. A refused
 * request therefore claims nothing, and its retry is not mistaken for a duplicate.
 */
export interface Admission {
  admit(request: AdmissionRequest): Promise<AdmissionDecision>;
  /**
   * Takes the claims without spending any limit: for a request that was admitted already and
   * met claims still pending, looking again once their holder may have finished.
   */
  claim(claimKeys: readonly string[]): Promise<ClaimOutcome>;
  /**
   * Gives claims back early (e.g. after a failed publish), each only if this instance holds it.
   * Returns how many it gave back.
   */
  release(claimKeys: readonly string[]): Promise<number>;
  /**
   * With `pendingTtlMs`: the work the claims stood for is done (e.g. the broker acked), so each
   * is held as done for `claimTtlMs` from now. Without it, claims are held as done from the start.
   */
  confirm(claimKeys: readonly string[]): Promise<void>;
}

export interface AdmissionOptions {
  /** Checked in this order; the first that refuses is the one reported. */
  limits: readonly RateLimiterOptions[];
  /** How long a claim is held once done (from the start when there is no `pendingTtlMs`). */
  claimTtlMs: number;
  /**
   * When set, a claim is first pending for this long: held while its work is under way (a retry
   * meanwhile is told it is pending, not done), and lapses by itself if the process dies before
   * `confirm`, so a crash leaves a short claim rather than a false "done" for `claimTtlMs`.
   */
  pendingTtlMs?: number;
}

export interface AdmissionRequest {
  /** The key spent in each limit, in the order of `AdmissionOptions.limits`. */
  limitKeys: readonly string[];
  /** Points spent in every limit. */
  points: number;
  /** Keys to claim when admitted (may be empty). */
  claimKeys: readonly string[];
}

export interface ClaimOutcome {
  /** Per claim key: true when taken now, false when someone holds it. */ claimed: boolean[];
  /** Per claim key not taken: true when its holder's claim is still pending (not yet done). */
  pending: boolean[];
}

export type AdmissionDecision =
  | ({ allowed: true } & ClaimOutcome)
  | {
      allowed: false;
      /** Index in `limits` of the limit that refused. */ refusedBy: number;
      retryAfterMs: number;
    };

export interface RedisHelpers {
  /** Which implementation `createRedisHelpers` picked. */
  readonly kind: 'redis' | 'memory';
  rateLimiter(options: RateLimiterOptions): RateLimiter;
  cooldownLocks(): CooldownLocks;
  admission(options: AdmissionOptions): Admission;
  invalidatingCache<T>(options: InvalidatingCacheOptions<T>): InvalidatingCache<T>;
  /** For readiness checks: true when the store answers. */
  ping(): Promise<boolean>;
  /** Closes connections and subscriptions. */
  quit(): Promise<void>;
}
