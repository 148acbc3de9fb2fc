// The next moment a wall clock in a time zone shows HH:MM, across daylight-saving changes: a time
// that does not exist that day (the spring-forward gap) becomes the first instant after the gap.
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** Throws a RangeError for an unknown zone (checked at publish, so instances never see one). */
export function assertTimeZone(timeZone: string): void {
  formatter(timeZone);
}

/** The wall-clock fields of `at` in `timeZone`. */
export function localParts(at: Date, timeZone: string) {
  const parts: Record<string, number> = {};
  for (const p of formatter(timeZone).formatToParts(at))
    if (p.type !== 'literal') parts[p.type] = Number(p.value);
  return {
    year: parts.year!,
    month: parts.month!,
    day: parts.day!,
    hour: parts.hour!,
    minute: parts.minute!,
    second: parts.second!,
  };
}

/** Milliseconds the zone is ahead of UTC at `at`. */
export function zoneOffsetMs(at: Date, timeZone: string): number {
  const p = localParts(at, timeZone);
  return (
    Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - Math.floor(at.getTime() / 1000) * 1000
  );
}

/** The instant a wall clock in `timeZone` shows the given local date and time. */
export function zonedInstant(
  local: { year: number; month: number; day: number; hour: number; minute: number },
  timeZone: string,
): Date {
  const naive = Date.UTC(local.year, local.month - 1, local.day, local.hour, local.minute);
  let guess = naive - zoneOffsetMs(new Date(naive), timeZone);
  // Once more at the guess: the offset there is the one that applies (DST changes between).
  const second = naive - zoneOffsetMs(new Date(guess), timeZone);
  if (second !== guess) guess = Math.max(guess, second);
  return new Date(guess);
}

export function nextTimeOfDay(from: Date, time: string, timeZone: string): Date {
  const [hour, minute] = time.split(':').map(Number) as [number, number];
  const today = localParts(from, timeZone);
  for (let days = 0; days < 3; days++) {
    const date = new Date(Date.UTC(today.year, today.month - 1, today.day + days));
    const candidate = zonedInstant(
      { year: date.getUTCFullYear(), month: date.getUTCMonth() + 1, day: date.getUTCDate(), hour, minute },
      timeZone,
    );
    if (candidate.getTime() >= from.getTime()) return candidate;
  }
  throw new Error(`no ${time} in ${timeZone} after ${from.toISOString()}`);
}

export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

/** Open on these weekdays from `start` to `end` (HH:MM, end exclusive) on the zone's wall clock. */
export interface SendWindow {
  days: readonly Weekday[];
  start: string;
  end: string;
  timeZone: string;
}

const minutesOf = (hhmm: string) => {
  const [h, m] = hhmm.split(':').map(Number) as [number, number];
  return h * 60 + m;
};

/** Why a window can never open, or undefined when it can. */
export function windowFault(window: SendWindow): string | undefined {
  if (window.days.length === 0) return 'the window has no day';
  if (minutesOf(window.end) <= minutesOf(window.start))
    return `the window closes (${window.end}) before it opens (${window.start})`;
  try {
    assertTimeZone(window.timeZone);
  } catch {
    return `unknown time zone ${window.timeZone}`;
  }
  return undefined;
}

/** Whether `at` falls inside the window (the zone's weekday and wall-clock time). */
export function inWindow(at: Date, window: SendWindow): boolean {
  const p = localParts(at, window.timeZone);
  const weekday = WEEKDAYS[new Date(Date.UTC(p.year, p.month - 1, p.day)).getUTCDay()]!;
  const minutes = p.hour * 60 + p.minute;
  return (
    window.days.includes(weekday) && minutes >= minutesOf(window.start) && minutes < minutesOf(window.end)
  );
}

/**
 * `at` itself when the window is open then, else the window's next opening: the first listed
 * weekday's start time on the zone's wall clock, computed per day so daylight-saving changes keep
 * 09:00 at 09:00. Throws for a window that never opens (check it with windowFault first).
 */
export function nextWindowOpening(at: Date, window: SendWindow): Date {
  const fault = windowFault(window);
  if (fault) throw new RangeError(fault);
  if (inWindow(at, window)) return at;
  const today = localParts(at, window.timeZone);
  const [hour, minute] = window.start.split(':').map(Number) as [number, number];
  for (let days = 0; days <= 8; days++) {
    const date = new Date(Date.UTC(today.year, today.month - 1, today.day + days));
    if (!window.days.includes(WEEKDAYS[date.getUTCDay()]!)) continue;
    const opening = zonedInstant(
      { year: date.getUTCFullYear(), month: date.getUTCMonth() + 1, day: date.getUTCDate(), hour, minute },
      window.timeZone,
    );
    if (opening.getTime() > at.getTime()) return opening;
  }
  throw new RangeError('the window does not open within a week');
}
