// Wall-clock time in an IANA zone with Intl only: what a clock there reads at an instant, and the
// instant at which it reads a given time. The offset is read from Intl at the instant in question,
// never assumed, so daylight-saving changes and odd offsets (+05:45) come out right.

export interface WallTime {
  year: number;
  month: number;
  day: number;
  /** Minutes since local midnight. */
  minutes: number;
}

/** `timeZone` when Intl knows it, else `fallback` (UTC when that is no zone either). Never throws. */
export function knownZone(timeZone: unknown, fallback: unknown = 'UTC'): string {
  for (const tz of [timeZone, fallback]) {
    if (typeof tz !== 'string' || tz === '') continue;
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: tz });
      return tz;
    } catch {
      // not a zone: try the next
    }
  }
  return 'UTC';
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(tz, f);
  }
  return f;
}

function partsAt(at: number, tz: string) {
  const parts: Record<string, number> = {};
  for (const p of formatter(tz).formatToParts(at)) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  // Some ICU versions print midnight as 24 even with h23.
  return { ...parts, hour: parts.hour! % 24 } as Record<
    'year' | 'month' | 'day' | 'hour' | 'minute' | 'second',
    number
  >;
}

export function wallTimeAt(at: Date, tz: string): WallTime {
  const p = partsAt(at.getTime(), tz);
  return { year: p.year, month: p.month, day: p.day, minutes: p.hour * 60 + p.minute };
}

/** The zone's offset from UTC at instant `at` (ms since the epoch), in ms. */
function offsetAt(at: number, tz: string): number {
  const p = partsAt(at, tz);
  const wall = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  return wall - (at - (((at % 1000) + 1000) % 1000));
}

const DAY = 86_400_000;

/**
 * The first instant after `after` at which the zone's clock reads `wall`, or has just jumped past
 * it. A time that exists twice (the clock set back) is the first of its instants after `after`; a
 * time that does not exist (the clock set forward over it) resolves to the next existing instant,
 * the moment of the jump (Berlin 2026-03-29 02:30 → 03:00 CEST).
 */
export function instantOfWallTime(wall: WallTime, tz: string, after: Date): Date {
  const naive = Date.UTC(wall.year, wall.month - 1, wall.day, 0, wall.minutes);
  // Real zones change their offset at most once in any two days around a given time.
  const before = offsetAt(naive - DAY, tz);
  const later = offsetAt(naive + DAY, tz);
  const candidates = [...new Set([naive - before, naive - later])].sort((a, b) => a - b);
  const exact = candidates.filter((c) => offsetAt(c, tz) === naive - c);
  if (exact.length > 0) return new Date(exact.find((c) => c > after.getTime()) ?? exact[exact.length - 1]!);
  return new Date(transition(candidates[0]!, candidates[candidates.length - 1]!, tz));
}

/** The first second in (lo, hi] whose offset is not lo's (zones change offset on whole seconds). */
function transition(lo: number, hi: number, tz: string): number {
  const from = offsetAt(lo, tz);
  let low = Math.floor(lo / 1000);
  let high = Math.ceil(hi / 1000);
  while (high - low > 1) {
    const mid = Math.floor((low + high) / 2);
    if (offsetAt(mid * 1000, tz) === from) low = mid;
    else high = mid;
  }
  return high * 1000;
}
