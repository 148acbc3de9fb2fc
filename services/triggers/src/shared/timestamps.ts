import { datetimeRegex, z } from 'zod';

export const DAY_MS = 24 * 60 * 60 * 1000;

// The `now` that timestamps of the parse under way are judged against (see parsedAt).
let parseNow: Date | undefined;

/**
 * Runs a synchronous parse whose `TimestampNotAhead` fields are judged against `now`. Schemas
 * are then built once rather than once per call for its receipt time; zod parses synchronously,
 * so no other parse can run in between.
 */
export function parsedAt<T>(now: Date, parse: () => T): T {
  const outer = parseNow;
  parseNow = now;
  try {
    return parse();
  } finally {
    parseNow = outer;
  }
}

/**
 * An ISO-8601 date-time with an offset, no more than a day ahead of the `now` of the parsedAt
 * under way, normalised to UTC (`…Z`). A clock a day fast is a bug upstream, not a fact worth
 * triggering on.
 */
export const TimestampNotAhead = z
  .string({ invalid_type_error: 'must be an ISO-8601 date-time string' })
  .datetime({ offset: true, message: 'must be an ISO-8601 date-time with a time zone offset' })
  .transform((value, ctx) => {
    if (parseNow === undefined) throw new Error('TimestampNotAhead parsed outside parsedAt()');
    const ms = Date.parse(value);
    if (Number.isNaN(ms)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'is not a real date-time' });
      return z.NEVER;
    }
    if (ms > parseNow.getTime() + DAY_MS) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'is more than a day in the future' });
      return z.NEVER;
    }
    return new Date(ms).toISOString();
  });

/** A hand-written check's answer when it is not sure: the value then goes through zod. */
export const UNSURE = Symbol('unsure');
export type Unsure = typeof UNSURE;

// zod's own regex for .datetime({ offset: true }) (precision unset, not local), built once.
const DATETIME = datetimeRegex({ precision: null, offset: true, local: false });

/**
 * TimestampNotAhead (optional, null as absent) by hand for the fast paths of ingest: the same
 * normalised value for what it accepts, UNSURE for anything else (zod then names the fault).
 */
export function fastTimestamp(value: unknown, receivedAt: Date): string | undefined | Unsure {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || !DATETIME.test(value)) return UNSURE;
  const ms = Date.parse(value);
  if (Number.isNaN(ms) || ms > receivedAt.getTime() + DAY_MS) return UNSURE;
  return new Date(ms).toISOString();
}
