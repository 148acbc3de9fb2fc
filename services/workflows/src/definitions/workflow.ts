// A workflow as its author writes it: an entry, a graph of steps from `start`, goals, exits and a
// re-entry policy. Conditions are the rules' condition language (@cmis/conditions); durations are
// written `90s`, `15m`, `1h`, `2d`, `1w`.
import { z } from 'zod';

export const DURATION_PATTERN = /^(-)?(\d{1,9})(ms|s|m|h|d|w)$/;
const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

/** `2d` → 172,800,000; `-1h` → -3,600,000 (offsets may be negative). */
export function durationMs(text: string): number {
  const m = DURATION_PATTERN.exec(text);
  if (!m) throw new Error(`not a duration: ${text}`);
  const ms = Number(m[2]) * UNIT_MS[m[3] as keyof typeof UNIT_MS];
  return m[1] ? -ms : ms;
}

const MAX_DURATION_MS = 366 * UNIT_MS.d;
const Duration = z
  .string()
  .regex(DURATION_PATTERN, 'a duration like 90s, 15m, 1h, 2d or 1w')
  .refine((d) => !DURATION_PATTERN.test(d) || Math.abs(durationMs(d)) <= MAX_DURATION_MS, 'at most 366 days');
const PositiveDuration = Duration.refine(
  (d) => !DURATION_PATTERN.test(d) || durationMs(d) > 0,
  'longer than zero',
);

const StepId = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ and -, at most 64')
  .describe('Unique within the workflow');
const Next = StepId.optional().describe('The next step; absent ends the instance (completed)');
const EventName = z.string().min(1).max(200);
/** Checked by @cmis/conditions at publish (types, fields, patterns); here only its shape. */
const ConditionInput = z.record(z.unknown());
const TimeOfDay = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'HH:MM, 24-hour');

const base = { id: StepId, name: z.string().max(200).optional() };

export const DelayStep = z
  .object({
    ...base,
    kind: z.literal('delay'),
    duration: PositiveDuration.optional(),
    /** Until the next HH:MM in the contact's time zone (else `timeZone`, else UTC). */
    untilTimeOfDay: z.object({ time: TimeOfDay, timeZone: z.string().optional() }).optional(),
    /** Until a date read from the entry event or the contact, plus an offset (e.g. -1d). */
    untilField: z.object({ field: z.string().min(1), offset: Duration.optional() }).optional(),
    next: Next,
  })
  .strict();

export const WaitEventStep = z
  .object({
    ...base,
    kind: z.literal('wait_event'),
    event: EventName.describe('The track event waited for, e.g. order_completed'),
    filter: ConditionInput.optional(),
    timeout: PositiveDuration,
    received: Next,
    timedOut: Next,
  })
  .strict();

export const ConditionStep = z
  .object({ ...base, kind: z.literal('condition'), condition: ConditionInput, then: Next, else: Next })
  .strict();

export const SplitStep = z
  .object({
    ...base,
    kind: z.literal('split'),
    branches: z
      .array(z.object({ name: z.string().min(1).max(64), condition: ConditionInput, next: Next }).strict())
      .min(1)
      .max(20),
    otherwise: Next,
  })
  .strict();

/** What a bandit split can optimise: what analytics counts per split pass (an instance converted on a goal). */
export const BANDIT_METRICS = ['conversion'] as const;
export type BanditMetric = (typeof BANDIT_METRICS)[number];

export const RandomSplitStep = z
  .object({
    ...base,
    kind: z.literal('random_split'),
    branches: z
      .array(
        z
          .object({
            name: z.string().min(1).max(64),
            weight: z.number().int().min(1).max(10_000),
            next: Next,
          })
          .strict(),
      )
      .min(1)
      .max(20),
    /** Percent of contacts held out: they take no branch and exit as `holdout`. */
    holdoutPercent: z.number().min(0).max(100).optional(),
    /**
     * `fixed` (absent): the branches' weights. `bandit`: the weights analytics publishes for this
     * split (Thompson sampling over `bandit.metric`), the branches' weights until the first one.
     */
    allocation: z.enum(['fixed', 'bandit']).optional(),
    bandit: z
      .object({
        metric: z.enum(BANDIT_METRICS).optional(),
        /** The least share each branch keeps (0 to 1/branches); default 10% spread evenly. */
        explorationShare: z.number().min(0).max(1).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export const SendEmailStep = z
  .object({
    ...base,
    kind: z.literal('send_email'),
    templateId: z.string().min(1).max(200),
    subscriptionTopic: z.string().min(1).max(100).optional(),
    transactional: z.boolean().optional(),
    /** Extra Liquid variables; the contact's traits and the entry event come with every request. */
    data: z.record(z.unknown()).optional(),
    next: Next,
  })
  .strict();

export const WebhookStep = z
  .object({
    ...base,
    kind: z.literal('webhook'),
    url: z.string().url().max(2_000),
    method: z.enum(['POST', 'PUT', 'PATCH']).default('POST'),
    headers: z.record(z.string().max(1_000)).optional(),
    body: z.record(z.unknown()).optional(),
    next: Next,
  })
  .strict();

export const UpdateContactStep = z
  .object({
    ...base,
    kind: z.literal('update_contact'),
    tags: z.array(z.string().min(1).max(100)).min(1).optional(),
    traits: z.record(z.unknown()).optional(),
    next: Next,
  })
  .strict()
  .refine(
    (s) => (s.tags === undefined) !== (s.traits === undefined),
    'either tags or traits (one action each)',
  );

export const EnrollDripStep = z
  .object({ ...base, kind: z.literal('enroll_drip'), dripId: z.string().min(1).max(200), next: Next })
  .strict();

export const CampaignActionStep = z
  .object({
    ...base,
    kind: z.literal('campaign_action'),
    platform: z.string().min(1).max(64).describe('The ad platform, e.g. google_ads, meta_ads'),
    campaignId: z.string().min(1).max(200),
    action: z.enum(['pause', 'resume', 'adjust_budget']),
    mode: z.enum(['set', 'increase_percent', 'decrease_percent']).optional(),
    amount: z.number().finite().nonnegative().optional(),
    minBudget: z.number().finite().nonnegative().optional(),
    maxBudget: z.number().finite().nonnegative().optional(),
    next: Next,
  })
  .strict()
  .refine((s) => s.action !== 'adjust_budget' || (s.mode !== undefined && s.amount !== undefined), {
    message: 'adjust_budget needs mode and amount',
  });

export const ExitStep = z
  .object({ ...base, kind: z.literal('exit'), reason: z.string().min(1).max(200).optional() })
  .strict();

export const STEP_KINDS = [
  'delay',
  'wait_event',
  'condition',
  'split',
  'random_split',
  'send_email',
  'webhook',
  'update_contact',
  'enroll_drip',
  'campaign_action',
  'exit',
] as const;
export type StepKind = (typeof STEP_KINDS)[number];

const STEP_SCHEMAS: Record<StepKind, z.ZodTypeAny> = {
  delay: DelayStep,
  wait_event: WaitEventStep,
  condition: ConditionStep,
  split: SplitStep,
  random_split: RandomSplitStep,
  send_email: SendEmailStep,
  webhook: WebhookStep,
  update_contact: UpdateContactStep,
  enroll_drip: EnrollDripStep,
  campaign_action: CampaignActionStep,
  exit: ExitStep,
};

export type DelayStep = z.infer<typeof DelayStep>;
export type WaitEventStep = z.infer<typeof WaitEventStep>;
export type ConditionStep = z.infer<typeof ConditionStep>;
export type SplitStep = z.infer<typeof SplitStep>;
export type RandomSplitStep = z.infer<typeof RandomSplitStep>;
export type SendEmailStep = z.infer<typeof SendEmailStep>;
export type WebhookStep = z.infer<typeof WebhookStep>;
export type UpdateContactStep = z.infer<typeof UpdateContactStep>;
export type EnrollDripStep = z.infer<typeof EnrollDripStep>;
export type CampaignActionStep = z.infer<typeof CampaignActionStep>;
export type ExitStep = z.infer<typeof ExitStep>;
export type Step =
  | DelayStep
  | WaitEventStep
  | ConditionStep
  | SplitStep
  | RandomSplitStep
  | SendEmailStep
  | WebhookStep
  | UpdateContactStep
  | EnrollDripStep
  | CampaignActionStep
  | ExitStep;

/** One step's shape, by its kind: an unknown kind is named as such rather than as 11 union misses. */
export const StepInput = z.unknown().superRefine((value, ctx) => {
  const kind = (value as { kind?: unknown } | null)?.kind;
  if (typeof kind !== 'string' || !(STEP_KINDS as readonly string[]).includes(kind)) {
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      path: ['kind'],
      message: `unknown step kind ${JSON.stringify(kind)}; one of ${STEP_KINDS.join(', ')}`,
    });
    return;
  }
  const parsed = STEP_SCHEMAS[kind as StepKind].safeParse(value);
  if (!parsed.success) for (const issue of parsed.error.issues) ctx.addIssue(issue);
}) as unknown as z.ZodType<Step>;

const Trigger = z
  .object({ event: EventName, filter: ConditionInput.optional(), name: z.string().max(100).optional() })
  .strict();

export const WorkflowInput = z
  .object({
    name: z.string().min(1).max(200),
    description: z.string().max(2_000).optional(),
    entry: z
      .object({
        /** Enter on a track event (with a filter); rules' enroll-in-workflow and the API always may. */
        event: EventName.optional(),
        filter: ConditionInput.optional(),
        segmentId: z.string().min(1).max(200).optional().describe('Enter on segment entered (analytics)'),
      })
      .strict()
      .default({}),
    start: StepId,
    steps: z.array(StepInput).min(1).max(500),
    goals: z.array(Trigger).max(20).default([]),
    exits: z.array(Trigger).max(20).default([]),
    reentry: z
      .object({
        policy: z.enum(['once', 'once_per_period', 'always']).default('once_per_period'),
        periodDays: z.number().int().min(1).max(3_650).optional(),
        /** At most one running instance per contact unless true. */
        concurrent: z.boolean().default(false),
      })
      .strict()
      .default({ policy: 'once', concurrent: false }),
    retry: z
      .object({
        maxAttempts: z.number().int().min(1).max(20).default(5),
        baseSeconds: z.number().min(0.01).max(3_600).default(30),
      })
      .strict()
      .default({ maxAttempts: 5, baseSeconds: 30 }),
    /** Fallback time zone of time-of-day delays when the contact has none. */
    timeZone: z.string().optional(),
  })
  .strict()
  .superRefine((w, ctx) => {
    if (w.reentry.policy === 'once_per_period' && w.reentry.periodDays === undefined)
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['reentry', 'periodDays'],
        message: 'once_per_period needs periodDays',
      });
  });
export type WorkflowDefinition = z.infer<typeof WorkflowInput>;
export type GoalOrExit = WorkflowDefinition['goals'][number];

/** The steps a step leads to, each with the outcome that takes it there. */
export function edgesOf(step: Step): { outcome: string; next: string | undefined }[] {
  switch (step.kind) {
    case 'wait_event':
      return [
        { outcome: 'received', next: step.received },
        { outcome: 'timed_out', next: step.timedOut },
      ];
    case 'condition':
      return [
        { outcome: 'then', next: step.then },
        { outcome: 'else', next: step.else },
      ];
    case 'split':
      return [
        ...step.branches.map((b) => ({ outcome: b.name, next: b.next })),
        { outcome: 'otherwise', next: step.otherwise },
      ];
    case 'random_split':
      return step.branches.map((b) => ({ outcome: b.name, next: b.next }));
    case 'exit':
      return [];
    default:
      return [{ outcome: 'next', next: step.next }];
  }
}

/** Steps where an instance waits for time or an event: the only places a cycle may pass. */
export const waitsHere = (step: Step) => step.kind === 'delay' || step.kind === 'wait_event';

export interface GraphFault {
  path: string;
  message: string;
}

/**
 * The graph's own faults: duplicate ids, a missing start, dangling edges, unreachable steps, a
 * cycle without a delay or wait (it would spin), delays with no or several kinds of end.
 */
export function checkGraph(w: WorkflowDefinition): GraphFault[] {
  const faults: GraphFault[] = [];
  const byId = new Map<string, { step: Step; index: number }>();
  w.steps.forEach((step, index) => {
    if (byId.has(step.id))
      faults.push({ path: `body.steps.${index}.id`, message: `step id ${step.id} is used twice` });
    else byId.set(step.id, { step, index });
  });
  if (!byId.has(w.start)) faults.push({ path: 'body.start', message: `start names no step: ${w.start}` });
  for (const [id, { step, index }] of byId) {
    for (const edge of edgesOf(step)) {
      if (edge.next !== undefined && !byId.has(edge.next))
        faults.push({
          path: `body.steps.${index}`,
          message: `step ${id}: its ${edge.outcome} edge leads to ${edge.next}, which is no step`,
        });
    }
    if (step.kind === 'delay') {
      const ends = [step.duration, step.untilTimeOfDay, step.untilField].filter((e) => e !== undefined);
      if (ends.length !== 1)
        faults.push({
          path: `body.steps.${index}`,
          message: `step ${id}: a delay has exactly one of duration, untilTimeOfDay, untilField`,
        });
    }
    if (step.kind === 'random_split' && (step.holdoutPercent ?? 0) >= 100)
      faults.push({ path: `body.steps.${index}.holdoutPercent`, message: `step ${id}: holds out everyone` });
    if (step.kind === 'random_split') faults.push(...banditFaults(step, `body.steps.${index}`));
  }
  if (faults.length > 0) return faults;

  const reached = new Set<string>();
  const queue = [w.start];
  while (queue.length > 0) {
    const id = queue.pop()!;
    if (reached.has(id)) continue;
    reached.add(id);
    for (const e of edgesOf(byId.get(id)!.step)) if (e.next !== undefined) queue.push(e.next);
  }
  for (const [id, { index }] of byId)
    if (!reached.has(id))
      faults.push({ path: `body.steps.${index}`, message: `step ${id} cannot be reached from ${w.start}` });

  // A cycle through no waiting step uses only edges leaving non-waiting steps: look for one there.
  const state = new Map<string, 'open' | 'done'>();
  const visit = (id: string, trail: string[]): string[] | undefined => {
    const s = state.get(id);
    if (s === 'done') return undefined;
    if (s === 'open') return [...trail.slice(trail.indexOf(id)), id];
    state.set(id, 'open');
    const { step } = byId.get(id)!;
    if (!waitsHere(step)) {
      for (const e of edgesOf(step)) {
        if (e.next === undefined) continue;
        const cycle = visit(e.next, [...trail, id]);
        if (cycle) return cycle;
      }
    }
    state.set(id, 'done');
    return undefined;
  };
  for (const id of byId.keys()) {
    const cycle = visit(id, []);
    if (cycle) {
      faults.push({
        path: `body.steps.${byId.get(cycle[0]!)!.index}`,
        message: `step ${cycle[0]}: the cycle ${cycle.join(' → ')} passes no delay or wait`,
      });
      break;
    }
  }
  return faults;
}

/** A bandit needs two branches to choose between and an exploration share each of them can keep. */
function banditFaults(step: RandomSplitStep, path: string): GraphFault[] {
  if (step.allocation !== 'bandit') {
    return step.bandit
      ? [{ path: `${path}.bandit`, message: `step ${step.id}: bandit options need allocation: bandit` }]
      : [];
  }
  const k = step.branches.length;
  if (k < 2)
    return [
      {
        path: `${path}.branches`,
        message: `step ${step.id}: a bandit split needs at least two branches, it has ${k}`,
      },
    ];
  const share = step.bandit?.explorationShare;
  if (share !== undefined && share * k > 1)
    return [
      {
        path: `${path}.bandit.explorationShare`,
        message: `step ${step.id}: explorationShare ${share} is above 1/${k} (${k} branches each keep it)`,
      },
    ];
  return [];
}

export const stepIndex = (w: WorkflowDefinition): Map<string, Step> => new Map(w.steps.map((s) => [s.id, s]));
