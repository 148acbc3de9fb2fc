// The workflows service's contracts: what every run of a journey did (one stream of events per
// instance, keyed by its contact), and the actions its steps ask other services to carry out
// (ad-campaign changes, drip enrollment, contact tags and traits), shaped like the rules' actions.
import { z } from 'zod';
import { defineTopic } from '../topic';
import { DAY_MS, JsonObject, NonEmpty, Timestamp } from './common';
import { AdjustBudgetAction, EnrollDripAction, PauseCampaignAction, ResumeCampaignAction } from './rules';

const instanceRef = {
  instanceId: NonEmpty.describe('The run: stable per workflow, contact and entry'),
  workflowId: NonEmpty,
  workflowVersion: z.number().int().positive().describe('The published version the instance runs'),
  contactId: NonEmpty,
};

export const InstanceStarted = z
  .object({
    ...instanceRef,
    entry: z.enum(['event', 'rule', 'api', 'segment']).describe('What enrolled the contact'),
    causeId: NonEmpty.describe('The event (or API request) that enrolled the contact'),
    holdout: z.boolean().optional(),
  })
  .describe('A contact entered a workflow');
export type InstanceStarted = z.infer<typeof InstanceStarted>;

export const StepCompleted = z
  .object({
    ...instanceRef,
    stepId: NonEmpty,
    stepKind: NonEmpty,
    outcome: NonEmpty.describe('What the step decided: next, a branch name, received, timed_out, sent …'),
    next: NonEmpty.optional().describe('The step it leads to; absent when the instance ends here'),
    effectId: NonEmpty.optional().describe(
      'Stable id of the step’s effect (email idempotency key, action id)',
    ),
    detail: JsonObject.optional().describe(
      'What later steps may read as steps.<stepId>.*, e.g. the received event',
    ),
  })
  .describe('A step of an instance ran');
export type StepCompleted = z.infer<typeof StepCompleted>;

export const InstanceWaiting = z
  .object({
    ...instanceRef,
    stepId: NonEmpty,
    stepKind: NonEmpty,
    until: Timestamp.optional().describe('When the delay ends or the wait times out'),
    eventName: NonEmpty.optional().describe('For a wait: the event it waits for'),
  })
  .describe('An instance waits: a delay, a wait for an event, or an outside effect');
export type InstanceWaiting = z.infer<typeof InstanceWaiting>;

export const StepFailed = z
  .object({
    ...instanceRef,
    stepId: NonEmpty,
    attempt: z.number().int().positive(),
    reason: NonEmpty,
    retryAt: Timestamp.optional().describe('Absent once retries are exhausted'),
  })
  .describe('A step failed; retried with backoff up to the limit');
export type StepFailed = z.infer<typeof StepFailed>;

export const InstanceEnded = z
  .object({
    ...instanceRef,
    status: z.enum(['completed', 'converted', 'exited', 'failed', 'cancelled']),
    reason: NonEmpty.optional(),
    stepId: NonEmpty.optional().describe('Where the instance was when it ended'),
    causeId: NonEmpty.optional().describe('The goal or exit event, when one ended it'),
  })
  .describe('An instance ended: completed its path, converted on a goal, exited, failed or was cancelled');
export type InstanceEnded = z.infer<typeof InstanceEnded>;

export const InstanceMigrated = z
  .object({
    ...instanceRef,
    fromVersion: z.number().int().positive(),
    fromStepId: NonEmpty,
    toStepId: NonEmpty,
  })
  .describe('A running instance moved to a newer version of its workflow');
export type InstanceMigrated = z.infer<typeof InstanceMigrated>;

export const workflowInstancesTopic = defineTopic({
  name: 'cmis.workflows.instances.v1',
  service: 'workflows',
  description: 'What every workflow run did: entered, steps, waits, failures, and how it ended.',
  keyDescription: 'subject is the contact, so the instances of one contact stay in order',
  retentionMs: 90 * DAY_MS,
  schemaVersion: 1,
  events: {
    'cmis.workflows.instance-started': InstanceStarted,
    'cmis.workflows.step-completed': StepCompleted,
    'cmis.workflows.instance-waiting': InstanceWaiting,
    'cmis.workflows.step-failed': StepFailed,
    'cmis.workflows.instance-ended': InstanceEnded,
    'cmis.workflows.instance-migrated': InstanceMigrated,
  },
});

const onPlatform = { platform: NonEmpty.describe('The ad platform the campaign runs on, e.g. google_ads') };

export const TagContactStepAction = z.object({
  kind: z.literal('tag_contact'),
  contactId: NonEmpty,
  tags: z.array(NonEmpty).min(1),
});

export const SetTraitsAction = z.object({
  kind: z.literal('set_traits'),
  contactId: NonEmpty,
  traits: JsonObject,
});

export const WorkflowAction = z.discriminatedUnion('kind', [
  PauseCampaignAction.extend(onPlatform),
  ResumeCampaignAction.extend(onPlatform),
  AdjustBudgetAction.extend(onPlatform),
  EnrollDripAction,
  TagContactStepAction,
  SetTraitsAction,
]);
export type WorkflowAction = z.infer<typeof WorkflowAction>;

export const WorkflowActionRequested = z
  .object({
    ...instanceRef,
    stepId: NonEmpty,
    actionId: NonEmpty.describe('Stable per instance, step and visit: the idempotency key of the action'),
    action: WorkflowAction,
  })
  .describe('A workflow step asks for an action, like a rule’s action-requested');
export type WorkflowActionRequested = z.infer<typeof WorkflowActionRequested>;

export const workflowActionsTopic = defineTopic({
  name: 'cmis.workflows.actions.v1',
  service: 'workflows',
  description: 'Actions requested by workflow steps, for the services and connectors that carry them out.',
  keyDescription: 'subject is the contact of the instance',
  retentionMs: 14 * DAY_MS,
  schemaVersion: 1,
  events: {
    'cmis.workflows.action-requested': WorkflowActionRequested,
  },
});
