// Pure: what a due schedule does when the poller reaches it.
import { z } from 'zod';
import { cronProblem, isTimeZone, latestTickAtOrBefore, nextFireTimes } from './cron';

export const CATCH_UP_POLICIES = ['fire-once', 'skip'] as const;
export type CatchUpPolicy = (typeof CATCH_UP_POLICIES)[number];

/** A tick is "on time" within this much of its instant; older ones were missed (downtime). */
export const ON_TIME_MS = 60_000;

/** Cron and zone must agree: the zone must exist and the expression must have a tick in it. */
export function checkCron(value: { cron: string; timeZone: string }, ctx: z.RefinementCtx): void {
  if (!isTimeZone(value.timeZone)) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['timeZone'], message: 'is not an IANA time zone' });
    return;
  }
  const problem = cronProblem(value.cron, value.timeZone);
  if (problem) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['cron'], message: problem });
}

export const CronSpec = {
  cron: z.string().min(1).max(200),
  timeZone: z.string().min(1).max(100).default('UTC'),
};

export const ScheduleDefinition = z
  .object({
    name: z.string().min(1).max(200),
    ...CronSpec,
    /** After downtime: fire once for all missed ticks, or skip them. */
    catchUp: z.enum(CATCH_UP_POLICIES).default('fire-once'),
  })
  .strict()
  .superRefine(checkCron);
export type ScheduleDefinition = z.infer<typeof ScheduleDefinition>;

export interface DueSchedule {
  cron: string;
  timeZone: string;
  catchUp: CatchUpPolicy;
  nextFireAt: Date;
}

export interface FiringPlan {
  /** The tick to publish as scheduledFor, or null when the policy skips. */
  fire: Date | null;
  /** Ticks that came due and are not published. */
  missed: number;
  /** The first tick after `now`; null when the expression has no future tick. */
  nextFireAt: Date | null;
}

export function planFiring(schedule: DueSchedule, now: Date): FiringPlan {
  const latest = latestTickAtOrBefore(schedule.cron, schedule.timeZone, now);
  const next = nextFireTimes(schedule.cron, schedule.timeZone, now, 1)[0] ?? null;
  if (!latest || latest < schedule.nextFireAt) return { fire: null, missed: 0, nextFireAt: next };
  const due = countTicks(schedule, latest);
  const onTime = now.getTime() - latest.getTime() <= ON_TIME_MS;
  switch (schedule.catchUp) {
    case 'fire-once':
      return { fire: latest, missed: due - 1, nextFireAt: next };
    case 'skip':
      return onTime
        ? { fire: latest, missed: due - 1, nextFireAt: next }
        : { fire: null, missed: due, nextFireAt: next };
    default: {
      const unhandled: never = schedule.catchUp;
      throw new Error(`unknown catch-up policy ${String(unhandled)}`);
    }
  }
}

// Counts due ticks from nextFireAt to latest (capped: it only feeds a log line and the plan).
function countTicks(schedule: DueSchedule, latest: Date): number {
  let count = 1;
  let cursor = schedule.nextFireAt;
  while (count < 1000) {
    const next = nextFireTimes(schedule.cron, schedule.timeZone, cursor, 1)[0];
    if (!next || next > latest) break;
    count += 1;
    cursor = next;
  }
  return count;
}
