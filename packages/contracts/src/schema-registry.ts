import { COMPATIBILITY, SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { allTopics } from './catalog';
import { topicJsonSchema } from './json-schema';
import type { TopicDefinition } from './topic';

/** Subject of a topic's value schema; the default is Confluent's TopicNameStrategy. */
export type SubjectNaming = (topicName: string) => string;
export const topicValueSubject: SubjectNaming = (topicName) => `${topicName}-value`;

export function createRegistryClient(registryUrl: string): SchemaRegistry {
  // The library compiles JSON schemas with ajv 7, which knows no formats and refuses
  // date-time/uuid/uri; zod checks those on both sides, so ajv only checks structure.
  return new SchemaRegistry({ host: registryUrl }, { [SchemaType.JSON]: { validateFormats: false } });
}

/**
 * Registers the topic's value schema (idempotent: the same schema keeps its id) and leaves the
 * subject on BACKWARD compatibility; the registry refuses a version that breaks it.
 */
export async function registerTopicSchema(
  registry: SchemaRegistry,
  topic: TopicDefinition,
  subjectOf: SubjectNaming = topicValueSubject,
): Promise<number> {
  const { id } = await registry.register(
    { type: SchemaType.JSON, schema: JSON.stringify(topicJsonSchema(topic)) },
    { subject: subjectOf(topic.name), compatibility: COMPATIBILITY.BACKWARD },
  );
  return id;
}

export interface RegisteredTopicSchema {
  topic: string;
  subject: string;
  id: number;
}

/** Provisioning: registers every catalog topic's value schema. */
export async function registerAllSchemas(
  registryUrl: string,
  options: { topics?: readonly TopicDefinition[]; subjectOf?: SubjectNaming } = {},
): Promise<RegisteredTopicSchema[]> {
  const { topics = allTopics(), subjectOf = topicValueSubject } = options;
  const registry = createRegistryClient(registryUrl);
  const registered: RegisteredTopicSchema[] = [];
  for (const topic of topics) {
    const id = await registerTopicSchema(registry, topic, subjectOf);
    registered.push({ topic: topic.name, subject: subjectOf(topic.name), id });
  }
  return registered;
}
