import { randomBytes } from 'node:crypto';
import { COMPATIBILITY, SchemaType } from '@kafkajs/confluent-schema-registry';
import { isBackwardCompatible } from './compatibility';
import { createRegistryClient } from './schema-registry';

function registryUrl(): string {
  const url = process.env.SCHEMA_REGISTRY_URL;
  if (!url) throw new Error('SCHEMA_REGISTRY_URL is not set: run through the testkit global setup or set it');
  return url;
}

type Schema = { [keyword: string]: unknown };
const DRAFT_07 = 'http://json-schema.org/draft-07/schema#';
const object = (properties: Schema, required: string[], extra: Schema = {}): Schema => ({
  type: 'object',
  properties,
  required,
  ...extra,
});
const closed = (properties: Schema, required: string[]) =>
  object(properties, required, { additionalProperties: false });
const union = (...types: string[]): Schema => ({
  anyOf: types.map((type) => closed({ type: { const: type } }, ['type'])),
});

/** Does the registry take `next` as the version after `previous` on a BACKWARD subject? */
async function registryAccepts(previous: Schema, next: Schema): Promise<boolean> {
  const registry = createRegistryClient(registryUrl());
  const subject = `spec-${randomBytes(5).toString('hex')}-value`;
  const options = { subject, compatibility: COMPATIBILITY.BACKWARD };
  // Apicurio recognises a JSON Schema whose root is an anyOf only by its $schema.
  const asJson = (schema: Schema) => ({
    type: SchemaType.JSON as const,
    schema: JSON.stringify({ $schema: DRAFT_07, ...schema }),
  });
  await registry.register(asJson(previous), options);
  return registry.register(asJson(next), options).then(
    () => true,
    (error: { status?: number }) => {
      if (error.status === 409) return false;
      throw error;
    },
  );
}

describe('the offline checker agrees with the schema registry', () => {
  it.each<[string, Schema, Schema]>([
    [
      'optional property added (closed)',
      closed({ a: { type: 'string' } }, ['a']),
      closed({ a: { type: 'string' }, b: { type: 'string' } }, ['a']),
    ],
    [
      'property newly required',
      closed({ a: { type: 'string' } }, []),
      closed({ a: { type: 'string' } }, ['a']),
    ],
    [
      'property removed (closed)',
      closed({ a: { type: 'string' }, b: { type: 'string' } }, []),
      closed({ a: { type: 'string' } }, []),
    ],
    [
      'property removed (open)',
      object({ a: { type: 'string' }, b: { type: 'string' } }, []),
      object({ a: { type: 'string' } }, []),
    ],
    [
      'property added (open)',
      object({ a: { type: 'string' } }, []),
      object({ a: { type: 'string' }, b: { type: 'string' } }, []),
    ],
    [
      'null no longer allowed',
      object({ a: { type: ['string', 'null'] } }, []),
      object({ a: { type: 'string' } }, []),
    ],
    ['null allowed', object({ a: { type: 'string' } }, []), object({ a: { type: ['string', 'null'] } }, [])],
    ['type changed', object({ a: { type: 'string' } }, []), object({ a: { type: 'number' } }, [])],
    [
      'number narrowed to integer',
      object({ a: { type: 'number' } }, []),
      object({ a: { type: 'integer' } }, []),
    ],
    ['enum value removed', object({ a: { enum: ['x', 'y'] } }, []), object({ a: { enum: ['x'] } }, [])],
    ['enum value added', object({ a: { enum: ['x'] } }, []), object({ a: { enum: ['x', 'y'] } }, [])],
    [
      'additional properties closed',
      object({ a: { type: 'string' } }, []),
      closed({ a: { type: 'string' } }, []),
    ],
    [
      'maxLength lowered',
      object({ a: { type: 'string', maxLength: 9 } }, []),
      object({ a: { type: 'string', maxLength: 5 } }, []),
    ],
    ['event type added', union('t.a'), union('t.a', 't.b')],
    ['event type removed', union('t.a', 't.b'), union('t.a')],
  ])('%s', async (_, previous, next) => {
    await expect(registryAccepts(previous, next)).resolves.toBe(isBackwardCompatible(previous, next));
  });
});
