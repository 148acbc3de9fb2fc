import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { z } from 'zod';
import { eventTopicByName, type TopicEnvelope, type TopicName } from './catalog';
import { compiledCheck } from './compiled-validator';
import type { EventEnvelope } from './envelope';
import { topicValueSchema } from './json-schema';
import {
  createRegistryClient,
  registerTopicSchema,
  topicValueSubject,
  type SubjectNaming,
} from './schema-registry';
import type { TopicDefinition } from './topic';
import type { MessageHeaders } from './trace-context';

export const CONTENT_TYPE_HEADER = 'content-type';
export const CLOUDEVENTS_JSON = 'application/cloudevents+json';
export const SCHEMA_VERSION_HEADER = 'cmis-schema-version';
/** Confluent wire format: magic byte 0, 4-byte big-endian schema id, then the JSON body. */
const MAGIC_BYTE = 0;
const WIRE_HEADER_BYTES = 5;

export type DecodeErrorReason =
  | 'empty-value'
  | 'not-json'
  | 'wrong-magic-byte'
  | 'unknown-schema-id'
  | 'unknown-event-type'
  | 'schema-validation';

export interface ValidationIssue {
  path: Array<string | number>;
  message: string;
}

/** A message no consumer can take: send it to the topic's dead-letter topic with `reason`. */
export class DecodeError extends Error {
  override name = 'DecodeError';
  constructor(
    readonly topic: string,
    readonly reason: DecodeErrorReason,
    detail: string,
    readonly issues: ValidationIssue[] = [],
  ) {
    super(`${topic}: ${reason}: ${detail}`);
  }

  /** Issue paths joined with dots, e.g. `data.userId`. */
  get paths(): string[] {
    return this.issues.map((i) => i.path.join('.'));
  }
}

/** An envelope the producer must not send: a bug upstream of the codec, never retried. */
export class EncodeError extends Error {
  override name = 'EncodeError';
  constructor(
    readonly topic: string,
    readonly reason: 'unknown-event-type' | 'schema-validation',
    detail: string,
    readonly issues: ValidationIssue[] = [],
  ) {
    super(`${topic}: ${reason}: ${detail}`);
  }
}

/** The topic name is not an event topic of the catalog (misconfiguration, not a bad message). */
export class UnknownTopicError extends Error {
  override name = 'UnknownTopicError';
  constructor(readonly topic: string) {
    super(`${topic} is not an event topic of the CMIS catalog`);
  }
}

export interface EncodedMessage {
  value: Buffer;
  headers: Record<string, string>;
}

/** What the codec needs of a consumed kafkajs message. */
export interface IncomingMessage {
  value: Buffer | null;
  headers?: MessageHeaders;
}

/**
 * Options of `Codec.encode`.
 *
 * `validated: true` skips the zod parse of the envelope against the topic's value schema. Pass it
 * only for an envelope built from data that was just validated by the same schema (or one proven
 * at least as strict, with the same output) and that carries no attribute the schema would drop:
 * the envelope is then serialized exactly as given. The event type is still checked against the
 * topic; the registry format frames the JSON without the registry client's JSON Schema check.
 * Everywhere else, leave it unset: encode validates and strips unknown keys.
 */
export interface EncodeOptions {
  validated?: boolean;
}

export interface Codec {
  /** 'registry' writes the Confluent wire format; 'json' writes plain structured-mode JSON. */
  readonly format: 'registry' | 'json';
  encode<N extends TopicName>(
    topic: N,
    envelope: TopicEnvelope<N>,
    options?: EncodeOptions,
  ): Promise<EncodedMessage>;
  encode(topic: string, envelope: EventEnvelope, options?: EncodeOptions): Promise<EncodedMessage>;
  decode<N extends TopicName>(topic: N, message: IncomingMessage): Promise<TopicEnvelope<N>>;
  decode(topic: string, message: IncomingMessage): Promise<EventEnvelope>;
}

export interface CodecOptions {
  /** Confluent-compatible schema registry; without it messages are plain JSON. */
  registryUrl?: string;
  subjectOf?: SubjectNaming;
}

type Validation =
  | { ok: true; envelope: EventEnvelope }
  | {
      ok: false;
      reason: 'unknown-event-type' | 'schema-validation';
      detail: string;
      issues: ValidationIssue[];
    };

function validate(topic: TopicDefinition, value: unknown): Validation {
  const type = (value as { type?: unknown } | null)?.type;
  if (typeof type === 'string' && !Object.prototype.hasOwnProperty.call(topic.events, type)) {
    const detail = `event type ${type} is not carried by this topic`;
    return { ok: false, reason: 'unknown-event-type', detail, issues: [{ path: ['type'], message: detail }] };
  }
  const parsed = (topicValueSchema(topic) as z.ZodType<EventEnvelope>).safeParse(value);
  if (parsed.success) return { ok: true, envelope: parsed.data };
  const issues = parsed.error.issues.map((i) => ({ path: i.path, message: i.message }));
  const detail = issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
  return { ok: false, reason: 'schema-validation', detail, issues };
}

function eventTopic(name: string): TopicDefinition {
  const topic = eventTopicByName(name);
  if (!topic) throw new UnknownTopicError(name);
  return topic;
}

// Stateless when not streaming, so one is shared; `fatal` rejects bytes that are not UTF-8.
const utf8 = new TextDecoder('utf-8', { fatal: true });

function parseJson(topic: string, body: Buffer): unknown {
  try {
    return JSON.parse(utf8.decode(body));
  } catch (error) {
    throw new DecodeError(topic, 'not-json', (error as Error).message);
  }
}

function checked(topic: TopicDefinition, value: unknown): EventEnvelope {
  const result = validate(topic, value);
  if (!result.ok) throw new DecodeError(topic.name, result.reason, result.detail, result.issues);
  return result.envelope;
}

/**
 * Validates a value just parsed from a message (so it may be changed in place): the compiled
 * check first, zod when the check does not apply or rejects (zod's verdict and issues win).
 */
function checkedDecoded(topic: TopicDefinition, value: unknown): EventEnvelope {
  const type = (value as { type?: unknown } | null)?.type;
  if (typeof type === 'string' && compiledCheck(topic, type)?.(value) === true) return value as EventEnvelope;
  return checked(topic, value);
}

function toEncode(topic: TopicDefinition, envelope: unknown, options?: EncodeOptions): EventEnvelope {
  if (options?.validated === true) {
    // The caller vouches for the payload (see EncodeOptions); the type must still be the topic's.
    const type = (envelope as { type?: unknown } | null)?.type;
    if (typeof type !== 'string' || !Object.prototype.hasOwnProperty.call(topic.events, type)) {
      const detail = `event type ${String(type)} is not carried by this topic`;
      throw new EncodeError(topic.name, 'unknown-event-type', detail, [{ path: ['type'], message: detail }]);
    }
    return envelope as EventEnvelope;
  }
  const result = validate(topic, envelope);
  if (!result.ok) throw new EncodeError(topic.name, result.reason, result.detail, result.issues);
  // The parsed envelope: unknown keys are dropped, so the value always matches the schema.
  return result.envelope;
}

/** The codec as implemented: by topic name at runtime; `Codec` adds the catalog's types on top. */
interface UntypedCodec {
  readonly format: Codec['format'];
  encode(topic: string, envelope: unknown, options?: EncodeOptions): Promise<EncodedMessage>;
  decode(topic: string, message: IncomingMessage): Promise<EventEnvelope>;
}

export function createCodec(options: CodecOptions = {}): Codec {
  const codec =
    options.registryUrl === undefined
      ? jsonCodec()
      : registryCodec(options.registryUrl, options.subjectOf ?? topicValueSubject);
  // Sound because decode validates with the topic's value schema, whose type TopicEnvelope<N> is.
  return codec as Codec;
}

function jsonCodec(): UntypedCodec {
  return {
    format: 'json',
    async encode(topicName: string, envelope: unknown, options?: EncodeOptions): Promise<EncodedMessage> {
      const valid = toEncode(eventTopic(topicName), envelope, options);
      return {
        value: Buffer.from(JSON.stringify(valid), 'utf8'),
        headers: {
          [CONTENT_TYPE_HEADER]: CLOUDEVENTS_JSON,
          [SCHEMA_VERSION_HEADER]: String(valid.schemaVersion),
        },
      };
    },
    async decode(topicName: string, message: IncomingMessage): Promise<EventEnvelope> {
      const topic = eventTopic(topicName);
      const value = nonEmpty(topicName, message);
      if (value[0] === MAGIC_BYTE) {
        throw new DecodeError(
          topicName,
          'wrong-magic-byte',
          'schema-registry framed message, but no registry is configured',
        );
      }
      return checkedDecoded(topic, parseJson(topicName, value));
    },
  };
}

/** The Confluent wire format of a JSON value: magic byte, schema id, then the JSON itself. */
export function wireFrame(schemaId: number, value: unknown): Buffer {
  const json = JSON.stringify(value);
  const frame = Buffer.allocUnsafe(WIRE_HEADER_BYTES + Buffer.byteLength(json, 'utf8'));
  frame.writeUInt8(MAGIC_BYTE, 0);
  frame.writeInt32BE(schemaId, 1);
  frame.write(json, WIRE_HEADER_BYTES, 'utf8');
  return frame;
}

function nonEmpty(topic: string, message: IncomingMessage): Buffer {
  if (message.value === null || message.value.length === 0)
    throw new DecodeError(topic, 'empty-value', 'no message value');
  return message.value;
}

function registryCodec(registryUrl: string, subjectOf: SubjectNaming): UntypedCodec {
  const registry: SchemaRegistry = createRegistryClient(registryUrl);
  // Registered schema ids by subject, per codec. Each id's schema is loaded into this client's
  // cache before the id is handed out: a codec without it (an id known from another codec) sent
  // every encode of its first burst to the registry and compiled the schema once per message.
  const registeredIds = new Map<string, Promise<number>>();
  // Ids the registry confirmed: schema ids are immutable, so each is asked about once.
  const knownSchemaIds = new Set<number>();

  function schemaId(topic: TopicDefinition): Promise<number> {
    const cacheKey = `${registryUrl} ${subjectOf(topic.name)}`;
    let id = registeredIds.get(cacheKey);
    if (!id) {
      id = registerTopicSchema(registryUrl, topic, subjectOf).then(async (registered) => {
        await registry.getSchema(registered);
        knownSchemaIds.add(registered);
        return registered;
      });
      // A failed registration (registry down) is retried by the next encode.
      const pending = id;
      pending.catch(() => registeredIds.get(cacheKey) === pending && registeredIds.delete(cacheKey));
      registeredIds.set(cacheKey, id);
    }
    return id;
  }

  return {
    format: 'registry',
    async encode(topicName: string, envelope: unknown, options?: EncodeOptions): Promise<EncodedMessage> {
      const topic = eventTopic(topicName);
      const valid = toEncode(topic, envelope, options);
      const id = await schemaId(topic);
      // Validated envelopes are framed here: the registry client would check them once more
      // against the JSON Schema (ajv) and copy the bytes; the wire bytes are the same.
      const value = options?.validated === true ? wireFrame(id, valid) : await registry.encode(id, valid);
      return { value, headers: { [SCHEMA_VERSION_HEADER]: String(valid.schemaVersion) } };
    },
    async decode(topicName: string, message: IncomingMessage): Promise<EventEnvelope> {
      const topic = eventTopic(topicName);
      const value = nonEmpty(topicName, message);
      if (value.length < WIRE_HEADER_BYTES || value[0] !== MAGIC_BYTE) {
        throw new DecodeError(
          topicName,
          'wrong-magic-byte',
          `expected magic byte 0 and a schema id, got ${value.length} bytes starting ${value[0]}`,
        );
      }
      const id = value.readInt32BE(1);
      try {
        if (!knownSchemaIds.has(id)) {
          await registry.getSchema(id);
          knownSchemaIds.add(id);
        }
      } catch (error) {
        // Only a definite "no such id" is the message's fault; anything else (registry down) is retried.
        if ((error as { status?: number }).status === 404) {
          throw new DecodeError(topicName, 'unknown-schema-id', `schema id ${id} is not in the registry`);
        }
        throw error;
      }
      return checkedDecoded(topic, parseJson(topicName, value.subarray(WIRE_HEADER_BYTES)));
    },
  };
}
