import { z } from 'zod';
import { zodToJsonSchema } from 'zod-to-json-schema';
import { EnvelopeAttributes } from './envelope';
import type { TopicDefinition } from './topic';

export type JsonSchema = { [keyword: string]: unknown } | boolean;

const valueSchemas = new WeakMap<TopicDefinition, z.ZodTypeAny>();

/** zod schema of a topic's message value: the envelope, `data` discriminated by `type`. */
export function topicValueSchema(topic: TopicDefinition): z.ZodTypeAny {
  const known = valueSchemas.get(topic);
  if (known) return known;
  const branches = Object.entries(topic.events).map(([type, data]) =>
    EnvelopeAttributes.extend({ type: z.literal(type), data }),
  );
  const [first, ...rest] = branches;
  if (first === undefined) throw new Error(`topic ${topic.name} carries no event types`);
  const schema = z.discriminatedUnion('type', [first, ...rest]);
  valueSchemas.set(topic, schema);
  return schema;
}

// Called through a plain signature: its declared generics against zod 3.25 send tsc out of memory.
const toJsonSchema = zodToJsonSchema as unknown as (schema: z.ZodTypeAny, options: object) => object;

/** Draft-07 JSON Schema of a zod schema, without $refs, so every reader sees plain subschemas. */
export function jsonSchemaOf(schema: z.ZodTypeAny): { [keyword: string]: unknown } {
  return toJsonSchema(schema, { target: 'jsonSchema7', $refStrategy: 'none' }) as {
    [keyword: string]: unknown;
  };
}

/** JSON Schema of a topic's message value, as registered under `<topic>-value` and published. */
export function topicJsonSchema(topic: TopicDefinition): { [keyword: string]: unknown } {
  const { $schema, ...body } = jsonSchemaOf(topicValueSchema(topic));
  return { $schema, title: topic.name, description: topic.description, ...body };
}
