import { z } from 'zod';

export const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * An ISO-8601 date-time with an offset, no more than a day ahead of `now`, normalised to UTC
 * (`…Z`). A clock a day fast is a bug upstream, not a fact worth triggering on.
 */
export function timestampNoLaterThanTomorrow(now: Date) {
  return z
    .string({ invalid_type_error: 'must be an ISO-8601 date-time string' })
    .datetime({ offset: true, message: 'must be an ISO-8601 date-time with a time zone offset' })
    .transform((value, ctx) => {
      const ms = Date.parse(value);
      if (Number.isNaN(ms)) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'is not a real date-time' });
        return z.NEVER;
      }
      if (ms > now.getTime() + DAY_MS) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'is more than a day in the future' });
        return z.NEVER;
      }
      return new Date(ms).toISOString();
    });
}
