import type { z } from 'zod';
import { createEnvelope, type EnvelopeInput, type TypedEnvelope } from './envelope';
import { deadLetterTopicOf, type DeadLetterTopicDefinition, type TopicDefinition } from './topic';
import {
  emailCampaignsTopic,
  emailMessagesTopic,
  emailRequestsTopic,
  emailSubscriptionsTopic,
} from './topics/email';
import { ruleActionsTopic, ruleEventsTopic } from './topics/rules';
import { tenancyTopic } from './topics/tenancy';
import { workflowActionsTopic, workflowInstancesTopic } from './topics/workflows';
import { dripSubscriptionsTopic } from './topics/drip';
import { analyticsDecisionsTopic, analyticsMeasuresTopic, segmentEventsTopic } from './topics/analytics';
import { contactsTopic, entityMetricsTopic, scheduleFiredTopic, userActionsTopic } from './topics/triggers';

const TOPICS = [
  tenancyTopic,
  userActionsTopic,
  contactsTopic,
  entityMetricsTopic,
  scheduleFiredTopic,
  ruleEventsTopic,
  ruleActionsTopic,
  emailRequestsTopic,
  emailMessagesTopic,
  emailSubscriptionsTopic,
  emailCampaignsTopic,
  workflowInstancesTopic,
  workflowActionsTopic,
  dripSubscriptionsTopic,
  segmentEventsTopic,
  analyticsDecisionsTopic,
  analyticsMeasuresTopic,
] as const;

export type CatalogTopic = (typeof TOPICS)[number];
export type TopicName = CatalogTopic['name'];
export type TopicNamed<N extends TopicName> = Extract<CatalogTopic, { name: N }>;
type EventsByTopic = { [K in CatalogTopic as K['name']]: K['events'] };
export type EventTypeOf<N extends TopicName> = keyof EventsByTopic[N] & string;
export type EventSchemaOf<N extends TopicName, T extends EventTypeOf<N>> = EventsByTopic[N][T];
export type EventDataOf<N extends TopicName, T extends EventTypeOf<N>> =
  EventSchemaOf<N, T> extends z.ZodTypeAny ? z.output<EventSchemaOf<N, T>> : never;
/** An envelope of topic N: a union discriminated by `type`, each with its own `data`. */
export type TopicEnvelope<N extends TopicName> = {
  [T in EventTypeOf<N>]: TypedEnvelope<T, EventDataOf<N, T>>;
}[EventTypeOf<N>];
export type AnyCatalogEntry = CatalogTopic | DeadLetterTopicDefinition;

const DEAD_LETTER_TOPICS: readonly DeadLetterTopicDefinition[] = TOPICS.map((t) => deadLetterTopicOf(t));
const BY_NAME = new Map<string, AnyCatalogEntry>([
  ...TOPICS.map((t) => [t.name, t] as const),
  ...DEAD_LETTER_TOPICS.map((t) => [t.name, t] as const),
]);

/** Every event topic of the catalog (dead-letter topics are in `catalogEntries()`). */
export function allTopics(): readonly CatalogTopic[] {
  return TOPICS;
}

export function deadLetterTopics(): readonly DeadLetterTopicDefinition[] {
  return DEAD_LETTER_TOPICS;
}

/** The full listing: each event topic followed by its dead-letter topic. */
export function catalogEntries(): readonly AnyCatalogEntry[] {
  return TOPICS.flatMap((t) => [t, BY_NAME.get(t.deadLetterTopic) as DeadLetterTopicDefinition]);
}

export function topicByName<N extends TopicName>(name: N): TopicNamed<N>;
export function topicByName(name: string): AnyCatalogEntry | undefined;
export function topicByName(name: string): AnyCatalogEntry | undefined {
  return BY_NAME.get(name);
}

/** The event topic called `name`, or undefined (also for dead-letter topics, which carry no events). */
export function eventTopicByName(name: string): TopicDefinition | undefined {
  const entry = BY_NAME.get(name);
  return entry?.kind === 'events' ? entry : undefined;
}

/** The zod schema of `data` for one event type of a topic. */
export function payloadSchema<N extends TopicName, T extends EventTypeOf<N>>(
  topic: N,
  type: T,
): EventSchemaOf<N, T> {
  const events = topicByName(topic).events as EventsByTopic[N];
  if (!Object.prototype.hasOwnProperty.call(events, type)) throw new Error(`${topic} does not carry ${type}`);
  return events[type];
}

export function isEventTypeOf<N extends TopicName>(topic: N, type: string): type is EventTypeOf<N> {
  return Object.prototype.hasOwnProperty.call(topicByName(topic).events, type);
}

/**
 * An envelope for topic N, typed by event type: schemaVersion comes from the catalog and
 * `data` is validated against the event's schema (throws a ZodError).
 */
export function createTopicEnvelope<N extends TopicName, T extends EventTypeOf<N>>(
  topic: N,
  input: Omit<EnvelopeInput<T, EventDataOf<N, T>>, 'schemaVersion'>,
): TypedEnvelope<T, EventDataOf<N, T>> {
  const definition = topicByName(topic);
  const schema = payloadSchema(topic, input.type) as z.ZodTypeAny;
  const data = schema.parse(input.data) as EventDataOf<N, T>;
  return createEnvelope({ ...input, data, schemaVersion: definition.schemaVersion });
}
