import { z } from 'zod';
import { defineTopic, RETAIN_FOREVER } from '../topic';
import { DAY_MS, JsonObject, NonEmpty, Timestamp } from './common';

// Segment-shaped calls. Ingest normalises them: properties/traits/context default to {} there,
// so consumers never see them missing.
const segmentCall = {
  userId: NonEmpty.optional(),
  anonymousId: NonEmpty.optional(),
  context: JsonObject.describe('Segment context: ip, userAgent, library, campaign, ...'),
  messageId: NonEmpty.describe('Sender-chosen id; ingest deduplicates on it per source'),
  timestamp: Timestamp.describe('When the action happened, as the sender saw it'),
  sourceId: NonEmpty.describe("The org's source whose write key sent the call"),
};

/** The contact a Segment call is about: userId, else anonymousId (one of them is always there). */
export const contactIdOf = (call: { userId?: string; anonymousId?: string }): string =>
  (call.userId ?? call.anonymousId)!;

// Zod refinements do not reach JSON Schema: the registry sees both ids optional, zod enforces one.
function requireContactId(value: { userId?: string; anonymousId?: string }, ctx: z.RefinementCtx): void {
  if (value.userId === undefined && value.anonymousId === undefined) {
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      path: ['userId'],
      message: 'userId or anonymousId is required',
    });
  }
}

export const ActionTracked = z
  .object({
    ...segmentCall,
    event: NonEmpty.describe('Name of the action, e.g. Order Completed'),
    properties: JsonObject,
  })
  .superRefine(requireContactId)
  .describe('A user did something (Segment track)');
export type ActionTracked = z.infer<typeof ActionTracked>;

export const PageViewed = z
  .object({
    ...segmentCall,
    name: NonEmpty.optional(),
    category: NonEmpty.optional(),
    properties: JsonObject,
  })
  .superRefine(requireContactId)
  .describe('A user viewed a web page (Segment page)');
export type PageViewed = z.infer<typeof PageViewed>;

export const ScreenViewed = z
  .object({
    ...segmentCall,
    name: NonEmpty.optional(),
    category: NonEmpty.optional(),
    properties: JsonObject,
  })
  .superRefine(requireContactId)
  .describe('A user viewed an app screen (Segment screen)');
export type ScreenViewed = z.infer<typeof ScreenViewed>;

export const userActionsTopic = defineTopic({
  name: 'cmis.triggers.user-actions.v1',
  service: 'triggers',
  description: 'What users of upstream apps do: Segment track, page and screen calls.',
  keyDescription: 'subject is the contact: userId, or anonymousId when there is none',
  retentionMs: 90 * DAY_MS,
  schemaVersion: 1,
  events: {
    'cmis.triggers.action-tracked': ActionTracked,
    'cmis.triggers.page-viewed': PageViewed,
    'cmis.triggers.screen-viewed': ScreenViewed,
  },
});

export const ContactIdentified = z
  .object({ ...segmentCall, traits: JsonObject.describe('email, name, plan, ... as sent') })
  .superRefine(requireContactId)
  .describe('A contact was identified, with traits (Segment identify)');
export type ContactIdentified = z.infer<typeof ContactIdentified>;

export const ContactGrouped = z
  .object({ ...segmentCall, groupId: NonEmpty.describe('Account or company id'), traits: JsonObject })
  .superRefine(requireContactId)
  .describe('A contact was associated with a group, e.g. an account (Segment group)');
export type ContactGrouped = z.infer<typeof ContactGrouped>;

export const ContactAliased = z
  .object({
    userId: NonEmpty.describe('The identity the contact is known by from now on'),
    previousId: NonEmpty.describe('The earlier userId or anonymousId'),
    context: segmentCall.context,
    messageId: segmentCall.messageId,
    timestamp: segmentCall.timestamp,
    sourceId: segmentCall.sourceId,
  })
  .describe('Two identities of one contact were merged (Segment alias)');
export type ContactAliased = z.infer<typeof ContactAliased>;

export const contactsTopic = defineTopic({
  name: 'cmis.triggers.contacts.v1',
  service: 'triggers',
  description: 'Who the contacts are: Segment identify, group and alias calls.',
  keyDescription: 'subject is the contact: userId, or anonymousId when there is none (userId for alias)',
  // Identity is needed by every projection that is ever rebuilt.
  retentionMs: RETAIN_FOREVER,
  schemaVersion: 1,
  events: {
    'cmis.triggers.contact-identified': ContactIdentified,
    'cmis.triggers.contact-grouped': ContactGrouped,
    'cmis.triggers.contact-aliased': ContactAliased,
  },
});

export const EntityMetricsObserved = z
  .object({
    entityType: NonEmpty.describe('campaign, ad_set, ad, email, ...'),
    entityId: NonEmpty,
    metrics: z.record(z.number().finite()).describe('Metric name -> value at observedAt, e.g. spend, ctr'),
    observedAt: Timestamp,
  })
  .describe('Metrics of an entity (e.g. an ad campaign) were observed');
export type EntityMetricsObserved = z.infer<typeof EntityMetricsObserved>;

export const entityMetricsTopic = defineTopic({
  name: 'cmis.triggers.entity-metrics.v1',
  service: 'triggers',
  description: 'Snapshots of metrics of marketing entities (campaigns, ads, emails) for rules to watch.',
  keyDescription: 'subject is `<entityType>:<entityId>`, e.g. `campaign:cmp-42`',
  retentionMs: 30 * DAY_MS,
  schemaVersion: 1,
  events: {
    'cmis.triggers.entity-metrics-observed': EntityMetricsObserved,
  },
});

export const ScheduleFired = z
  .object({
    scheduleId: NonEmpty,
    name: NonEmpty,
    scheduledFor: Timestamp.describe('The tick the cron expression named'),
    firedAt: Timestamp.describe('When the timer actually fired (later after downtime)'),
  })
  .describe('A cron schedule fired');
export type ScheduleFired = z.infer<typeof ScheduleFired>;

export const scheduleFiredTopic = defineTopic({
  name: 'cmis.triggers.schedule-fired.v1',
  service: 'triggers',
  description: 'Ticks of cron schedules, for time-based rules.',
  keyDescription: 'subject is the schedule id',
  retentionMs: 7 * DAY_MS,
  schemaVersion: 1,
  events: {
    'cmis.triggers.schedule-fired': ScheduleFired,
  },
});
