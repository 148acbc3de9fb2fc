import { z } from 'zod';
import { defineTopic } from '../topic';
import { DAY_MS, JsonObject, NonEmpty } from './common';

const ruleRef = {
  ruleId: NonEmpty,
  ruleVersion: z.number().int().positive().describe('Version of the rule definition that fired'),
};

export const RuleFired = z
  .object({
    ...ruleRef,
    subject: NonEmpty.describe('Contact or entity the rule fired for'),
    dryRun: z.boolean().describe('A dry run records the firing and requests no actions'),
    matchedConditions: z.array(NonEmpty).describe('Ids of the conditions that matched'),
    heldOut: z
      .boolean()
      .optional()
      .describe("In the rule's holdout: the firing is recorded, no actions are requested"),
  })
  .describe("A rule's conditions matched an event");
export type RuleFired = z.infer<typeof RuleFired>;

export const PauseCampaignAction = z.object({ kind: z.literal('pause_campaign'), campaignId: NonEmpty });
export type PauseCampaignAction = z.infer<typeof PauseCampaignAction>;

export const ResumeCampaignAction = z.object({ kind: z.literal('resume_campaign'), campaignId: NonEmpty });
export type ResumeCampaignAction = z.infer<typeof ResumeCampaignAction>;

export const AdjustBudgetAction = z.object({
  kind: z.literal('adjust_budget'),
  campaignId: NonEmpty,
  mode: z.enum(['set', 'increase_percent', 'decrease_percent']),
  amount: z.number().finite().nonnegative().describe('New budget for set, else the percentage'),
  minBudget: z.number().finite().nonnegative().optional(),
  maxBudget: z.number().finite().nonnegative().optional(),
});
export type AdjustBudgetAction = z.infer<typeof AdjustBudgetAction>;

export const SendNotificationAction = z.object({
  kind: z.literal('send_notification'),
  channel: z.enum(['email', 'slack', 'in_app']),
  recipients: z.array(NonEmpty).min(1),
  title: NonEmpty,
  message: NonEmpty,
});
export type SendNotificationAction = z.infer<typeof SendNotificationAction>;

export const TagContactAction = z.object({
  kind: z.literal('tag_contact'),
  contactId: NonEmpty,
  tags: z.array(NonEmpty).min(1),
});
export type TagContactAction = z.infer<typeof TagContactAction>;

export const EnrollWorkflowAction = z.object({
  kind: z.literal('enroll_workflow'),
  workflowId: NonEmpty,
  contactId: NonEmpty,
});
export type EnrollWorkflowAction = z.infer<typeof EnrollWorkflowAction>;

export const EnrollDripAction = z.object({
  kind: z.literal('enroll_drip'),
  dripId: NonEmpty,
  contactId: NonEmpty,
});
export type EnrollDripAction = z.infer<typeof EnrollDripAction>;

export const WebhookAction = z.object({
  kind: z.literal('webhook'),
  url: z.string().url(),
  method: z.enum(['POST', 'PUT', 'PATCH']),
  // Signing secrets never travel in events; the sender looks the rule's secret up by ruleId.
  headers: z.record(z.string()).describe('Extra, non-secret request headers'),
  body: JsonObject,
});
export type WebhookAction = z.infer<typeof WebhookAction>;

export const RuleAction = z.discriminatedUnion('kind', [
  PauseCampaignAction,
  ResumeCampaignAction,
  AdjustBudgetAction,
  SendNotificationAction,
  TagContactAction,
  EnrollWorkflowAction,
  EnrollDripAction,
  WebhookAction,
]);
export type RuleAction = z.infer<typeof RuleAction>;
export type RuleActionKind = RuleAction['kind'];
export const RULE_ACTION_KINDS = RuleAction.options.map((o) => o.shape.kind.value) as [
  RuleActionKind,
  ...RuleActionKind[],
];

const actionRef = {
  ...ruleRef,
  actionId: NonEmpty.describe('Unique per firing and action; the idempotency key of the side effect'),
};

export const ActionSucceeded = z
  .object({
    ...actionRef,
    kind: z.enum(RULE_ACTION_KINDS),
    attempts: z.number().int().positive(),
    detail: JsonObject.describe('What the action did, e.g. the new budget or the webhook status'),
  })
  .describe("A rule's action took effect");
export type ActionSucceeded = z.infer<typeof ActionSucceeded>;

export const ActionFailed = z
  .object({
    ...actionRef,
    kind: z.enum(RULE_ACTION_KINDS),
    attempts: z.number().int().positive(),
    reason: NonEmpty,
    retryable: z.boolean().describe('False once retries are exhausted or the failure is permanent'),
  })
  .describe("A rule's action failed");
export type ActionFailed = z.infer<typeof ActionFailed>;

export const ruleEventsTopic = defineTopic({
  name: 'cmis.rules.rule-events.v1',
  service: 'rules',
  description: 'What automation rules did: firings and the outcome of their actions.',
  keyDescription: 'subject is the contact or entity the rule fired for',
  retentionMs: 90 * DAY_MS,
  schemaVersion: 2,
  events: {
    'cmis.rules.rule-fired': RuleFired,
    'cmis.rules.action-succeeded': ActionSucceeded,
    'cmis.rules.action-failed': ActionFailed,
  },
});

export const ActionRequested = z
  .object({
    ...actionRef,
    action: RuleAction,
  })
  .describe('A rule asks for an action to be carried out (by rules itself, workflows, drip or email)');
export type ActionRequested = z.infer<typeof ActionRequested>;

export const ruleActionsTopic = defineTopic({
  name: 'cmis.rules.actions.v1',
  service: 'rules',
  description: 'Actions requested by rules, for the services that carry them out.',
  keyDescription: 'subject is the contact or entity the rule fired for, so its actions stay in order',
  retentionMs: 14 * DAY_MS,
  schemaVersion: 1,
  events: {
    'cmis.rules.action-requested': ActionRequested,
  },
});
