// A drip campaign as its author writes it: ordered email steps with delays and skip conditions,
// how contacts enter, what ends a subscription, a goal, a send window, and how a resume catches up.
import { checkCondition, type ConditionBudget, type FieldTyping } from '@cmis/conditions';
import { WEEKDAYS, assertTimeZone, windowFault, type FieldError } from '@cmis/platform';
import { z, type ZodIssue } from 'zod';

const DURATION = /^(\d{1,9})(s|m|h|d|w)$/;
const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;
/** Longest delay of one step. */
export const MAX_DELAY_MS = 365 * UNIT_MS.d;

export function delayMs(text: string): number {
  const m = DURATION.exec(text);
  if (!m) throw new Error(`not a delay: ${text}`);
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}

const Delay = z
  .string()
  .regex(DURATION, 'a delay like 0s, 90m, 2d or 1w')
  .refine((d) => !DURATION.test(d) || delayMs(d) <= MAX_DELAY_MS, 'at most 365 days');
const TimeOfDay = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'HH:MM, 24-hour');
const EventName = z.string().min(1).max(200);
const ConditionInput = z.record(z.unknown());
const Trigger = z.object({ event: EventName, filter: ConditionInput.optional() }).strict();

export const StepInput = z
  .object({
    id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ and -, at most 64'),
    templateId: z.string().min(1).max(200),
    /** After the previous step (or the enrollment, for the first). */
    delay: Delay,
    /** Skip this step for subscribers it holds for (contact.*, event.* of the enrollment). */
    skipIf: ConditionInput.optional(),
  })
  .strict();
export type DripStep = z.infer<typeof StepInput>;

export const CampaignInput = z
  .object({
    name: z.string().min(1).max(200),
    description: z.string().max(2_000).optional(),
    steps: z.array(StepInput).min(1, 'a drip needs at least one step').max(100),
    entry: z
      .object({
        /** Enroll on this track event; rules' and workflows' enroll actions and the API always may. */
        event: EventName.optional(),
        /** Enroll when a contact is identified (Segment identify). */
        identified: z.boolean().optional(),
        /** Enroll when a contact enters this analytics segment (segment-entered). */
        segmentId: z.string().min(1).max(200).optional(),
        filter: ConditionInput.optional(),
      })
      .strict()
      .default({}),
    exits: z.array(Trigger).max(20).default([]),
    /** Segment ids: a contact leaving any of them exits (optional: campaigns stored before it lack it). */
    exitOnSegmentExit: z.array(z.string().min(1).max(200)).max(20).optional(),
    goal: Trigger.optional(),
    /** The campaign's time zone: the window's when the contact has none. */
    timeZone: z.string().default('UTC'),
    window: z
      .object({
        days: z
          .array(z.enum(WEEKDAYS))
          .max(7)
          .default([...WEEKDAYS]),
        start: TimeOfDay,
        end: TimeOfDay,
      })
      .strict()
      .optional(),
    /** What a resume does with steps that fell due while paused. */
    resume: z
      .object({
        mode: z.enum(['next_window', 'spread', 'skip']).default('next_window'),
        spreadMinutes: z
          .number()
          .int()
          .min(1)
          .max(7 * 24 * 60)
          .optional(),
      })
      .strict()
      .default({ mode: 'next_window' }),
    reentry: z
      .object({
        policy: z.enum(['never', 'after_days', 'always']).default('never'),
        days: z.number().int().min(1).max(3_650).optional(),
      })
      .strict()
      .default({ policy: 'never' }),
    subscriptionTopic: z.string().min(1).max(100).optional(),
  })
  .strict();
export type DripCampaign = z.infer<typeof CampaignInput>;

const fieldTyping = (field: string): FieldTyping | undefined => {
  const [root, first] = field.split('.');
  if ((root === 'event' || root === 'contact') && first) return { type: 'any' };
  return { error: `${field}: a drip reads event.* (the enrollment's event) and contact.*` };
};

/** Checks a campaign whole and names each fault's place. */
export function checkCampaign(
  body: unknown,
  base = 'body',
): { ok: true; campaign: DripCampaign } | { ok: false; errors: FieldError[] } {
  const parsed = CampaignInput.safeParse(body);
  const at = (issue: ZodIssue) => [base, ...issue.path].join('.');
  if (!parsed.success)
    return { ok: false, errors: parsed.error.issues.map((i) => ({ path: at(i), message: i.message })) };
  const c = parsed.data;
  const errors: FieldError[] = [];
  const ids = new Set<string>();
  c.steps.forEach((s, i) => {
    if (ids.has(s.id))
      errors.push({ path: `${base}.steps.${i}.id`, message: `step id ${s.id} is used twice` });
    ids.add(s.id);
  });
  const budget: ConditionBudget = { nodes: 0, owner: 'a drip', max: 500 };
  const conditions: [string, unknown][] = [
    ...(c.entry.filter ? ([[`${base}.entry.filter`, c.entry.filter]] as [string, unknown][]) : []),
    ...c.exits.flatMap((e, i) =>
      e.filter ? ([[`${base}.exits.${i}.filter`, e.filter]] as [string, unknown][]) : [],
    ),
    ...(c.goal?.filter ? ([[`${base}.goal.filter`, c.goal.filter]] as [string, unknown][]) : []),
    ...c.steps.flatMap((s, i) =>
      s.skipIf ? ([[`${base}.steps.${i}.skipIf`, s.skipIf]] as [string, unknown][]) : [],
    ),
  ];
  for (const [path, raw] of conditions) {
    const checked = checkCondition(raw, { fieldType: fieldTyping, path, budget });
    if (!checked.ok) errors.push(...checked.errors);
  }
  try {
    assertTimeZone(c.timeZone);
  } catch {
    errors.push({ path: `${base}.timeZone`, message: `unknown time zone ${c.timeZone}` });
  }
  if (c.window) {
    const fault = windowFault({ ...c.window, timeZone: 'UTC' });
    if (fault) errors.push({ path: `${base}.window`, message: fault });
  }
  if (c.resume.mode === 'spread' && c.resume.spreadMinutes === undefined)
    errors.push({ path: `${base}.resume.spreadMinutes`, message: 'spread needs spreadMinutes' });
  if (c.reentry.policy === 'after_days' && c.reentry.days === undefined)
    errors.push({ path: `${base}.reentry.days`, message: 'after_days needs days' });
  if ([c.entry.event, c.entry.identified, c.entry.segmentId].filter(Boolean).length > 1)
    errors.push({
      path: `${base}.entry`,
      message: 'enter on one of an event, identify or a segment, not several',
    });
  return errors.length > 0 ? { ok: false, errors } : { ok: true, campaign: c };
}
