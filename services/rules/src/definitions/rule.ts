// A rule as a marketer writes it: the shape the API accepts (zod) and the checked form it is stored in.
import { z } from 'zod';
import type { Condition } from '@cmis/conditions';
import { EVENT_TRIGGER_TYPES } from './fields';

const Name = z.string().trim().min(1).max(200);
const Ref = z.string().trim().min(1).max(200);
/** Text shown to people; `{{metrics.cpa}}`-style placeholders are filled in when the rule fires. */
const Text = z.string().trim().min(1).max(2000);

export const EventTrigger = z
  .object({
    kind: z.literal('event'),
    eventType: z.enum(EVENT_TRIGGER_TYPES),
    filter: z.unknown().optional(),
  })
  .strict();
export const MetricsTrigger = z.object({ kind: z.literal('metrics') }).strict();
export const ScheduleTrigger = z
  .object({ kind: z.literal('schedule'), scheduleId: Ref.optional(), scheduleName: Ref.optional() })
  .strict();
export const Trigger = z.discriminatedUnion('kind', [EventTrigger, MetricsTrigger, ScheduleTrigger]);
export type Trigger = z.infer<typeof Trigger>;

const campaignTarget = { campaignId: Ref.optional() };
const contactTarget = { contactId: Ref.optional() };
// Headers the signature and the transport own; a rule cannot set them.
const RESERVED_HEADERS =
  /^(webhook-(id|timestamp|signature)|host|content-length|content-type|connection|transfer-encoding|te|upgrade|proxy-.*)$/i;

export const ActionTemplate = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('pause_campaign'), ...campaignTarget }).strict(),
  z.object({ kind: z.literal('resume_campaign'), ...campaignTarget }).strict(),
  z
    .object({
      kind: z.literal('adjust_budget'),
      campaignId: Ref.optional(),
      mode: z.enum(['set', 'increase_percent', 'decrease_percent']),
      amount: z.number().finite().nonnegative(),
      minBudget: z.number().finite().nonnegative().optional(),
      maxBudget: z.number().finite().nonnegative().optional(),
      maxDailyChangePercent: z.number().finite().positive().max(1000).optional(),
    })
    .strict(),
  z
    .object({
      kind: z.literal('send_notification'),
      channel: z.enum(['email', 'slack', 'in_app']).default('email'),
      recipients: z.array(Ref).min(1).max(50),
      title: Text.optional(),
      message: Text.optional(),
    })
    .strict(),
  z.object({ kind: z.literal('tag_contact'), ...contactTarget, tags: z.array(Ref).min(1).max(50) }).strict(),
  z.object({ kind: z.literal('enroll_workflow'), ...contactTarget, workflowId: Ref }).strict(),
  z.object({ kind: z.literal('enroll_drip'), ...contactTarget, dripId: Ref }).strict(),
  z
    .object({
      kind: z.literal('webhook'),
      url: z.string().max(2000),
      method: z.enum(['POST', 'PUT', 'PATCH']).default('POST'),
      headers: z
        .record(
          z
            .string()
            .regex(/^[A-Za-z0-9-]{1,100}$/, 'is not a header name')
            .refine((h) => !RESERVED_HEADERS.test(h), 'is set by the webhook sender'),
          z.string().max(2000),
        )
        .default({}),
      body: z.record(z.unknown()).default({}),
    })
    .strict(),
]);
export type ActionTemplate = z.infer<typeof ActionTemplate>;

export const PRIORITIES = ['low', 'normal', 'high', 'critical'] as const;
export type Priority = (typeof PRIORITIES)[number];
export const priorityRank = (p: Priority): number => PRIORITIES.indexOf(p);

/** The body of POST /v1/rules and PUT /v1/rules/:id. `conditions` is checked by type-check.ts. */
export const RuleInput = z
  .object({
    name: Name,
    description: z.string().max(2000).default(''),
    ruleType: z.string().trim().min(1).max(100).default('custom'),
    entityType: z.string().regex(/^[a-z][a-z0-9_]{0,49}$/, 'is a lowercase name such as campaign or contact'),
    priority: z.enum(PRIORITIES).default('normal'),
    status: z.enum(['active', 'dry_run']).default('active'),
    enabled: z.boolean().default(true),
    cooldownSeconds: z
      .number()
      .int()
      .min(0)
      .max(30 * 86_400)
      .default(0),
    maxExecutionsPerHour: z.number().int().min(1).max(1_000_000).optional(),
    // A/B testing of the rule: this share of subjects (sticky by rule and subject) is matched and
    // recorded but not acted on, so analytics can compare them with the acted-on ones.
    holdoutPercent: z
      .number({ invalid_type_error: 'holdoutPercent must be a number' })
      .finite()
      .min(0, 'holdoutPercent must be between 0 and 50')
      .max(50, 'holdoutPercent must be between 0 and 50')
      .optional(),
    trigger: Trigger,
    conditions: z.unknown().refine((v) => v !== undefined, 'Required'),
    actions: z.array(ActionTemplate).min(1).max(20),
  })
  .strict();
export type RuleInput = z.infer<typeof RuleInput>;

/** A rule definition after the type checker: its conditions are a typed tree. */
export type RuleDefinition = Omit<RuleInput, 'conditions' | 'trigger'> & {
  trigger:
    | { kind: 'event'; eventType: z.infer<typeof EventTrigger>['eventType']; filter?: Condition }
    | { kind: 'metrics' }
    | { kind: 'schedule'; scheduleId?: string; scheduleName?: string };
  conditions: Condition;
};

/** A stored rule as the API and the evaluator read it. */
export interface StoredRule {
  ruleId: string;
  version: number;
  definition: RuleDefinition;
  enabled: boolean;
  createdAt: string;
  updatedAt: string;
}

/** Where a rule is looked up when something happens: one key per trigger. */
export function triggerKey(definition: Pick<RuleDefinition, 'trigger' | 'entityType'>): string {
  const t = definition.trigger;
  switch (t.kind) {
    case 'event':
      return `event:${t.eventType}`;
    case 'metrics':
      return `metrics:${definition.entityType}`;
    case 'schedule':
      return 'schedule';
  }
}
