// Pure: cron expressions in an IANA time zone. cron-parser walks wall-clock time in the zone, so
// daylight-saving changes are handled: a wall time that does not exist that day (spring forward)
// fires once at the shifted instant, a wall time that happens twice (fall back) fires once, at
// the first; every-hour style expressions keep firing every real hour.
import { CronExpressionParser } from 'cron-parser';

export function isTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
    return true;
  } catch {
    return false;
  }
}

/** Why the expression is unusable, or undefined when it is fine. */
export function cronProblem(cron: string, timeZone: string): string | undefined {
  const fields = cron.trim().split(/\s+/);
  if (fields.length < 5 || fields.length > 6) return 'must have 5 fields (or 6, with seconds first)';
  try {
    CronExpressionParser.parse(cron, { tz: timeZone, currentDate: new Date(0), strict: false }).next();
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/** The next `count` ticks strictly after `after`. */
export function nextFireTimes(cron: string, timeZone: string, after: Date, count: number): Date[] {
  const expression = CronExpressionParser.parse(cron, { tz: timeZone, currentDate: after });
  const ticks: Date[] = [];
  for (let i = 0; i < count && expression.hasNext(); i++) ticks.push(expression.next().toDate());
  return ticks;
}

/** The latest tick at or before `at`, or undefined when there is none. */
export function latestTickAtOrBefore(cron: string, timeZone: string, at: Date): Date | undefined {
  const expression = CronExpressionParser.parse(cron, {
    tz: timeZone,
    currentDate: new Date(at.getTime() + 1),
  });
  return expression.hasPrev() ? expression.prev().toDate() : undefined;
}
