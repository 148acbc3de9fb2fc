import type { z } from 'zod';

export type ServiceName = 'platform' | 'triggers' | 'rules' | 'workflows' | 'drip' | 'email' | 'analytics';

/** Event type name -> zod schema of its `data`. */
export type EventSchemas = Readonly<Record<string, z.ZodTypeAny>>;

export const DEFAULT_PARTITIONS = 12;
/** Dead letters are kept long enough for someone to look at them after a long weekend and more. */
export const DEAD_LETTER_RETENTION_MS = 30 * 24 * 60 * 60 * 1000;
/** Kafka's value for "keep forever". */
export const RETAIN_FOREVER = -1;

export const TOPIC_NAME_PATTERN = /^cmis\.[a-z-]+\.[a-z-]+\.v\d+$/;
export const EVENT_TYPE_PATTERN = /^cmis\.[a-z-]+\.[a-z-]+$/;

export interface KeyParts {
  orgId: string;
  subject: string;
}

/** Message key of every CMIS topic: org first, so one contact's events share a partition. */
export function messageKey({ orgId, subject }: KeyParts): string {
  return `${orgId}:${subject}`;
}

export function deadLetterTopicName<N extends string>(name: N): `${N}.dlq` {
  return `${name}.dlq`;
}

export interface TopicDefinition<TName extends string = string, TEvents extends EventSchemas = EventSchemas> {
  readonly kind: 'events';
  readonly name: TName;
  readonly service: ServiceName;
  readonly description: string;
  /** What `subject` is on this topic, hence what the key `<orgId>:<subject>` groups. */
  readonly keyDescription: string;
  readonly partitions: number;
  readonly retentionMs: number;
  readonly deadLetterTopic: `${TName}.dlq`;
  /** Version of the published value schema (schemas/published/<name>/v<N>.json). */
  readonly schemaVersion: number;
  readonly events: TEvents;
  key(event: KeyParts): string;
}

/** Where a topic's messages go when a consumer cannot take them; same key, same partitions. */
export interface DeadLetterTopicDefinition {
  readonly kind: 'dead-letter';
  readonly name: string;
  readonly deadLetterOf: string;
  readonly service: ServiceName;
  readonly description: string;
  readonly keyDescription: string;
  readonly partitions: number;
  readonly retentionMs: number;
  key(event: KeyParts): string;
}

export interface TopicSpec<TName extends string, TEvents extends EventSchemas> {
  name: TName;
  service: ServiceName;
  description: string;
  keyDescription: string;
  partitions?: number;
  retentionMs: number;
  schemaVersion: number;
  events: TEvents;
}

export function defineTopic<const TName extends string, const TEvents extends EventSchemas>(
  spec: TopicSpec<TName, TEvents>,
): TopicDefinition<TName, TEvents> {
  return {
    kind: 'events',
    name: spec.name,
    service: spec.service,
    description: spec.description,
    keyDescription: spec.keyDescription,
    partitions: spec.partitions ?? DEFAULT_PARTITIONS,
    retentionMs: spec.retentionMs,
    deadLetterTopic: deadLetterTopicName(spec.name),
    schemaVersion: spec.schemaVersion,
    events: spec.events,
    key: messageKey,
  };
}

export function deadLetterTopicOf(topic: TopicDefinition): DeadLetterTopicDefinition {
  return {
    kind: 'dead-letter',
    name: topic.deadLetterTopic,
    deadLetterOf: topic.name,
    service: topic.service,
    description: `Messages of ${topic.name} that a consumer could not take, with the reason in headers.`,
    keyDescription: `Same key as ${topic.name}.`,
    partitions: topic.partitions,
    retentionMs: DEAD_LETTER_RETENTION_MS,
    key: messageKey,
  };
}
