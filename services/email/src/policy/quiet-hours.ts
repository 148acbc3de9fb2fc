// Quiet hours in the recipient's time zone: a marketing email that falls due inside them waits
// for their end, the wall-clock time `end` on the recipient's clock (see instantOfWallTime for the
// days the clock changes: a skipped end resolves to the moment of the jump, a repeated one to its
// first occurrence after now).
import { instantOfWallTime, knownZone, wallTimeAt } from './zoned-time';

export interface QuietHours {
  /** 'HH:MM', local time; may wrap midnight (21:00–08:00). Start is inside, end is not. */
  start: string;
  end: string;
}

/** Quiet hours whose times are not 'HH:MM' (settings validate them; this is a programming error). */
export class QuietHoursError extends Error {
  override readonly name = 'QuietHoursError';
}

const HH_MM = /^([01]\d|2[0-3]):([0-5]\d)$/;

function minutesOf(hhmm: string): number {
  const m = HH_MM.exec(hhmm);
  if (!m) throw new QuietHoursError(`quiet hours need HH:MM, not ${JSON.stringify(hhmm)}`);
  return Number(m[1]) * 60 + Number(m[2]);
}

/**
 * The instant the quiet hours that `at` falls in end, in `timeZone`, or undefined when `at` is
 * outside them (or start equals end: no quiet hours). An unknown zone falls back to `fallbackZone`,
 * then to UTC; a zone never makes this throw.
 */
export function quietUntil(
  at: Date,
  timeZone: string,
  quiet: QuietHours,
  fallbackZone = 'UTC',
): Date | undefined {
  const start = minutesOf(quiet.start);
  const end = minutesOf(quiet.end);
  if (start === end) return undefined;
  const tz = knownZone(timeZone, fallbackZone);
  const local = wallTimeAt(at, tz);
  const now = local.minutes;
  const wraps = start > end;
  const inside = wraps ? now >= start || now < end : now >= start && now < end;
  if (!inside) return undefined;
  // The end is today, or tomorrow when the window wraps midnight and we are before midnight.
  const day = new Date(Date.UTC(local.year, local.month - 1, local.day + (wraps && now >= start ? 1 : 0)));
  return instantOfWallTime(
    { year: day.getUTCFullYear(), month: day.getUTCMonth() + 1, day: day.getUTCDate(), minutes: end },
    tz,
    at,
  );
}
