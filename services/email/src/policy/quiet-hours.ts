// Quiet hours in the recipient's time zone: a marketing email that falls due inside them waits
// for their end. Computed with Intl only, correct across daylight-saving changes: the end is a
// wall-clock time, and the instant it names is found by correcting for the zone's offset there.

export interface QuietHours {
  /** 'HH:MM', local time; may wrap midnight (21:00–08:00). */
  start: string;
  end: string;
}

const minutesOf = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

function validZone(tz: string, fallback: string): string {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return tz;
  } catch {
    return fallback;
  }
}

interface Local {
  year: number;
  month: number;
  day: number;
  minutes: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(tz, f);
  }
  return f;
}

function localOf(at: Date, tz: string): Local & { seconds: number } {
  const parts = Object.fromEntries(
    formatter(tz)
      .formatToParts(at)
      .map((p) => [p.type, p.value]),
  );
  return {
    year: Number(parts.year),
    month: Number(parts.month),
    day: Number(parts.day),
    minutes: Number(parts.hour) * 60 + Number(parts.minute),
    seconds: Number(parts.second),
  };
}

/** The zone's offset from UTC at `at`, in minutes. */
function offsetAt(at: Date, tz: string): number {
  const l = localOf(at, tz);
  const asUtc = Date.UTC(l.year, l.month - 1, l.day, 0, l.minutes, l.seconds);
  return Math.round((asUtc - Math.floor(at.getTime() / 1000) * 1000) / 60_000);
}

/**
 * The instant of a local wall-clock time. A time that does not exist (skipped by a spring-forward
 * change) resolves to the first instant after the gap; a time that exists twice (fall back) to
 * the earlier one.
 */
function instantOf(local: Local, tz: string): Date {
  const naive = Date.UTC(local.year, local.month - 1, local.day, 0, local.minutes);
  const candidates = [naive - offsetAt(new Date(naive), tz) * 60_000];
  candidates.push(naive - offsetAt(new Date(candidates[0]!), tz) * 60_000);
  const exact = candidates
    .filter((c) => {
      const l = localOf(new Date(c), tz);
      return (
        l.year === local.year && l.month === local.month && l.day === local.day && l.minutes === local.minutes
      );
    })
    .sort((a, b) => a - b);
  if (exact.length > 0) return new Date(exact[0]!);
  // In a gap: the wall clock jumped over it; the first instant after is where the jump lands.
  return new Date(Math.max(...candidates));
}

/**
 * When the quiet hours that `at` falls in end, in `timeZone` (an invalid zone falls back to
 * `fallbackZone`); undefined when `at` is outside them.
 */
export function quietUntil(
  at: Date,
  timeZone: string,
  quiet: QuietHours,
  fallbackZone = 'UTC',
): Date | undefined {
  const tz = validZone(timeZone, validZone(fallbackZone, 'UTC'));
  const start = minutesOf(quiet.start);
  const end = minutesOf(quiet.end);
  if (start === end) return undefined;
  const local = localOf(at, tz);
  const now = local.minutes;
  const wraps = start > end;
  const inside = wraps ? now >= start || now < end : now >= start && now < end;
  if (!inside) return undefined;
  // The end is today, or tomorrow when the window wrapped past midnight and we are before it.
  const day = new Date(Date.UTC(local.year, local.month - 1, local.day));
  if (wraps && now >= start) day.setUTCDate(day.getUTCDate() + 1);
  return instantOf(
    { year: day.getUTCFullYear(), month: day.getUTCMonth() + 1, day: day.getUTCDate(), minutes: end },
    tz,
  );
}
