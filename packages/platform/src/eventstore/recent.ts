/**
 * An event the relay can publish as it is: what an append stored, kept in memory by the
 * appending process so the relay need not read the row back from Postgres and parse it again.
 */
export interface PublishableEvent {
  orgId: string;
  streamId: string;
  eventId: string;
  type: string;
  /** The payload exactly as stored (the event store's own copy; nobody changes it). */
  data: unknown;
  topic: string;
  key: string;
  /** occurred_at, ISO 8601. */
  time: string;
  correlationId?: string;
  causationId?: string;
  traceparent?: string;
  tracestate?: string;
}

/**
 * The events this process appended lately, by position, for its outbox relay. Only an
 * optimization: the relay still takes its work from outbox_pending (committed events only, under
 * its locks) and reads from the events table every position it does not find here (after a
 * restart, appended by another replica, evicted). Events are immutable, so a position's entry is
 * its row. An entry of an append that rolled back is never asked for (its position never
 * commits) and leaves with the oldest entries; published entries are dropped by the relay.
 */
export interface RecentAppends {
  add(position: string, event: PublishableEvent): void;
  get(position: string): PublishableEvent | undefined;
  forget(positions: readonly string[]): void;
  readonly size: number;
}

/** Enough for seconds of appends at thousands a second; a relay further behind reads the table. */
export const RECENT_APPENDS_CAPACITY = 20_000;

export function createRecentAppends(capacity = RECENT_APPENDS_CAPACITY): RecentAppends {
  const entries = new Map<number | string, PublishableEvent>();
  // The positions in the order added, in a ring: the slot a new one takes holds the oldest, which
  // leaves (a no-op once published). Evicting through the Map's own order would walk over the
  // holes its deletions leave, for every eviction.
  const ring: Array<number | string | undefined> = new Array<number | string | undefined>(capacity);
  let next = 0;
  return {
    add(position, event) {
      const key = keyOf(position);
      const oldest = ring[next];
      if (oldest !== undefined) entries.delete(oldest);
      ring[next] = key;
      next = next + 1 === capacity ? 0 : next + 1;
      entries.set(key, event);
    },
    get: (position) => entries.get(keyOf(position)),
    forget(positions) {
      for (const position of positions) entries.delete(keyOf(position));
    },
    get size() {
      return entries.size;
    },
  };
}

/**
 * Positions (bigints as text, each a fresh string from pg) hash and compare faster as numbers;
 * exact up to 15 digits, beyond which the text itself is the key.
 */
const keyOf = (position: string): number | string => (position.length <= 15 ? Number(position) : position);

// One per database (service schema): its event store adds, its relay reads. Keyed by the
// Database object both are built with, so wiring them needs nothing more than that.
const byDatabase = new WeakMap<object, RecentAppends>();

/** The recent appends shared by the event store and the relay of one database. */
export function recentAppendsOf(db: object): RecentAppends {
  let recent = byDatabase.get(db);
  if (!recent) {
    recent = createRecentAppends();
    byDatabase.set(db, recent);
  }
  return recent;
}
