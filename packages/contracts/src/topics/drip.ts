// The drip service's contracts: every subscriber's progress through a campaign (enrolled, a step
// falling due, requested, skipped, and how the subscription ended), keyed by the contact.
import { z } from 'zod';
import { defineTopic } from '../topic';
import { DAY_MS, NonEmpty, Timestamp } from './common';

const subscriptionRef = {
  subscriptionId: NonEmpty.describe('One enrollment of a contact in a drip'),
  dripId: NonEmpty,
  contactId: NonEmpty,
};
const stepRef = {
  stepId: NonEmpty,
  dripVersion: z.number().int().positive().describe('The campaign version whose step this is'),
};

export const SubscriberEnrolled = z
  .object({
    ...subscriptionRef,
    dripVersion: z.number().int().positive(),
    entry: z.enum(['event', 'identify', 'rule', 'workflow', 'api', 'segment']),
    causeId: NonEmpty.describe('The event, action or API request that enrolled the contact'),
    enrollment: z.number().int().positive().describe('1 for the first enrollment, 2 for a re-enrollment …'),
  })
  .describe('A contact was enrolled in a drip campaign');
export type SubscriberEnrolled = z.infer<typeof SubscriberEnrolled>;

export const StepDue = z
  .object({
    ...subscriptionRef,
    ...stepRef,
    dueAt: Timestamp.describe('When the step falls due (after its delay)'),
    sendAt: Timestamp.describe('When it will be requested: the next opening of the send window'),
  })
  .describe("A subscriber's next step was scheduled");
export type StepDue = z.infer<typeof StepDue>;

export const StepRequested = z
  .object({
    ...subscriptionRef,
    ...stepRef,
    templateId: NonEmpty,
    idempotencyKey: NonEmpty.describe('drip:<subscriptionId>:<stepId>: a step is requested once'),
  })
  .describe("A subscriber's step was requested from the email service");
export type StepRequested = z.infer<typeof StepRequested>;

export const StepSkipped = z
  .object({
    ...subscriptionRef,
    ...stepRef,
    reason: NonEmpty.describe('skip condition, missed while paused, removed from the campaign …'),
  })
  .describe("A subscriber's step was skipped, with why");
export type StepSkipped = z.infer<typeof StepSkipped>;

export const SubscriberExited = z
  .object({
    ...subscriptionRef,
    reason: NonEmpty.describe('exit event, unsubscribed, suppressed, segment exited, removed …'),
    causeId: NonEmpty.optional(),
  })
  .describe('A subscription ended before its last step');
export type SubscriberExited = z.infer<typeof SubscriberExited>;

export const SubscriberCompleted = z
  .object({ ...subscriptionRef })
  .describe('A subscriber got (or skipped) every step');
export type SubscriberCompleted = z.infer<typeof SubscriberCompleted>;

export const SubscriberConverted = z
  .object({ ...subscriptionRef, goal: NonEmpty.describe('The goal event'), causeId: NonEmpty })
  .describe("A subscriber reached the campaign's goal (the subscription ends)");
export type SubscriberConverted = z.infer<typeof SubscriberConverted>;

export const dripSubscriptionsTopic = defineTopic({
  name: 'cmis.drip.subscriptions.v1',
  service: 'drip',
  description:
    'Every drip subscriber’s progress: enrolled, steps due, requested and skipped, exited, completed, converted.',
  keyDescription: 'subject is the contact, so one contact’s subscriptions stay in order',
  retentionMs: 90 * DAY_MS,
  schemaVersion: 2,
  events: {
    'cmis.drip.subscriber-enrolled': SubscriberEnrolled,
    'cmis.drip.step-due': StepDue,
    'cmis.drip.step-requested': StepRequested,
    'cmis.drip.step-skipped': StepSkipped,
    'cmis.drip.subscriber-exited': SubscriberExited,
    'cmis.drip.subscriber-completed': SubscriberCompleted,
    'cmis.drip.subscriber-converted': SubscriberConverted,
  },
});
