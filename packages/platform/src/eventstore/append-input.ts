import { compiledSchemaCheck, eventTopicByName } from '@cmis/contracts';
import type { z } from 'zod';
import { findUnstorableText } from '../db/storable-text';
import { InvalidAppendError } from './errors';
import type { PublishableEvent } from './recent';
import { AppendRequest, type ExpectedVersion } from './types';

/** One event of an append as it will be stored: checked, its payload and metadata as JSON text. */
export interface PreparedEvent {
  id: string;
  type: string;
  topic: string | undefined;
  /** The Kafka key: the event's, or `<orgId>:<streamId>` when it has a topic. */
  key: string | undefined;
  occurredAt: string;
  dataJson: string;
  metadataJson: string;
  /**
   * What the relay publishes for it without reading it back (see recent.ts), with the store's own
   * copy of the payload; only for catalog topics (the relay publishes nothing else unread).
   */
  publishable?: PublishableEvent;
}

export interface PreparedAppend {
  orgId: string;
  streamType: string;
  streamId: string;
  expectedVersion: ExpectedVersion;
  events: PreparedEvent[];
}

/**
 * Checks an append and serializes its events once. The check is zod's AppendRequest: a request
 * that passes the hand-written `isPlainAppend` (held equal to zod by append-input.unit.spec.ts)
 * is taken as it is; anything else goes to zod, which accepts it or names its faults. A payload
 * bound for a catalog topic is validated against the topic (see contractData).
 */
export function prepareAppend(request: AppendRequest): PreparedAppend {
  const plain = isPlainAppend(request);
  const input = plain ? request : zodAppend(request);
  // Events of one firing usually share their metadata object: serialized once.
  const metadataJson = new Map<object, string>();
  const events = input.events.map((event, index): PreparedEvent => {
    let meta = metadataJson.get(event.metadata);
    if (meta === undefined) {
      meta = toJson(event.metadata, `events.${index}.metadata`);
      metadataJson.set(event.metadata, meta);
    }
    const payload = contractData(event, index);
    const topic = event.topic;
    const key = event.key ?? (topic === undefined ? undefined : `${input.orgId}:${input.streamId}`);
    const occurredAt = event.occurredAt.toISOString();
    const metadata = event.metadata;
    return {
      id: event.id,
      type: event.type,
      topic,
      key,
      occurredAt,
      dataJson: payload.json,
      metadataJson: meta,
      // Kept for the relay only from a plain request: its metadata fields are what was stored.
      publishable:
        payload.copy === undefined || !plain || topic === undefined || key === undefined
          ? undefined
          : {
              orgId: input.orgId,
              streamId: input.streamId,
              eventId: event.id,
              type: event.type,
              data: payload.copy.value,
              topic,
              key,
              time: occurredAt,
              correlationId: metadata.correlationId,
              causationId: metadata.causationId,
              traceparent: metadata.traceparent,
              tracestate: metadata.tracestate,
            },
    };
  });
  return {
    orgId: input.orgId,
    streamType: input.streamType,
    streamId: input.streamId,
    expectedVersion: input.expectedVersion,
    events,
  };
}

function zodAppend(request: AppendRequest): AppendRequest {
  const parsed = AppendRequest.safeParse(request);
  if (!parsed.success) {
    throw new InvalidAppendError(
      parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`),
    );
  }
  return parsed.data as AppendRequest; // data is z.unknown(): absent is undefined, as typed
}

// zod's own pattern for z.string().uuid() (zod 3.25).
const UUID = /^[0-9a-fA-F]{8}\b-[0-9a-fA-F]{4}\b-[0-9a-fA-F]{4}\b-[0-9a-fA-F]{4}\b-[0-9a-fA-F]{12}$/i;
const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

const isString = (value: unknown, min: number, max = Infinity): value is string =>
  typeof value === 'string' && value.length >= min && value.length <= max;
const absentOr = (value: unknown, check: (v: unknown) => boolean) => value === undefined || check(value);
const isPlainObject = (value: unknown): value is Record<string, unknown> => {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
};

/**
 * True when zod's AppendRequest would accept the request unchanged in every field the store reads
 * (zod would only drop unknown keys, which the store never reads). False means "ask zod", never
 * "invalid": this check may refuse what zod accepts, never the reverse.
 */
export function isPlainAppend(request: unknown): request is AppendRequest {
  if (!isPlainObject(request)) return false;
  const { orgId, streamType, streamId, expectedVersion, events } = request;
  if (!isString(orgId, 0) || !UUID.test(orgId)) return false;
  if (!isString(streamType, 1, 100) || !isString(streamId, 1, 200)) return false;
  if (
    expectedVersion !== 'any' &&
    expectedVersion !== 'no_stream' &&
    !(typeof expectedVersion === 'number' && Number.isInteger(expectedVersion) && expectedVersion >= 0)
  ) {
    return false;
  }
  if (!Array.isArray(events) || events.length === 0) return false;
  for (const event of events as unknown[]) if (!isPlainEvent(event)) return false;
  return true;
}

function isPlainEvent(event: unknown): boolean {
  if (!isPlainObject(event)) return false;
  const { id, type, metadata, topic, key, occurredAt } = event;
  return (
    isString(id, 0) &&
    UUID.test(id) &&
    isString(type, 1, 200) &&
    absentOr(topic, (t) => isString(t, 1, 249)) &&
    absentOr(key, (k) => isString(k, 1)) &&
    occurredAt instanceof Date &&
    Object.getPrototypeOf(occurredAt) === Date.prototype &&
    !Number.isNaN(occurredAt.getTime()) &&
    isPlainMetadata(metadata)
  );
}

function isPlainMetadata(metadata: unknown): boolean {
  // A toJSON of its own would make the stored metadata differ from the fields read here.
  if (!isPlainObject(metadata) || 'toJSON' in metadata) return false;
  const { correlationId, causationId, actor, traceparent, tracestate } = metadata;
  return (
    absentOr(correlationId, (v) => isString(v, 1)) &&
    absentOr(causationId, (v) => isString(v, 1)) &&
    absentOr(actor, (v) => isString(v, 1)) &&
    absentOr(traceparent, (v) => isString(v, 0) && TRACEPARENT.test(v)) &&
    absentOr(tracestate, (v) => isString(v, 0))
  );
}

/**
 * The payload's JSON, and for a catalog topic the copy that was validated (what is stored).
 * An event bound for a catalog topic must be one of that topic's event types with a valid payload:
 * bad input never reaches the table, and the relay publishes it without validating it again.
 * Other topics (a service's private ones) are not checked here.
 */
function contractData(
  event: { type: string; data?: unknown; topic?: string },
  index: number,
): { json: string; copy?: { value: unknown } } {
  const path = `events.${index}.data`;
  const contract = event.topic === undefined ? undefined : eventTopicByName(event.topic);
  if (!contract) return { json: toJson(event.data, path) };
  const schema = (contract.events as Record<string, z.ZodTypeAny>)[event.type];
  if (!schema)
    throw new InvalidAppendError([`events.${index}.type: ${event.type} is not an event of ${contract.name}`]);
  const fast = compiledSchemaCheck(schema);
  if (fast) {
    // The compiled check (see contracts' compiled-validator) judges plain JSON and may drop
    // unknown keys, so it gets a copy of the payload as JSON would carry it: what it accepts,
    // serialized after the check, is exactly what is stored.
    const copy = plainJsonCopy(event.data) ?? jsonCopy(event.data);
    if (copy !== undefined && fast(copy)) {
      return { json: storableJson(JSON.stringify(copy), copy, path), copy: { value: copy } };
    }
  }
  const parsed = schema.safeParse(event.data);
  if (!parsed.success) {
    throw new InvalidAppendError(
      parsed.error.issues.map((issue) => `${path}.${issue.path.join('.')}: ${issue.message}`),
    );
  }
  const json = toJson(parsed.data, path);
  // zod's output may share objects with the caller's payload: the relay gets its own copy.
  return { json, copy: { value: JSON.parse(json) as unknown } };
}

const MAX_COPY_DEPTH = 64;

/**
 * A copy of a value made only of plain JSON values (strings, finite numbers, booleans, null,
 * arrays without holes, plain objects without toJSON), equal to JSON.parse(JSON.stringify(value));
 * undefined for anything else (the caller then goes the JSON way). Twice as fast as the round trip.
 */
export function plainJsonCopy(value: unknown): unknown {
  try {
    return copyPlain(value, 0);
  } catch (error) {
    if (error === NOT_PLAIN) return undefined;
    throw error;
  }
}

const NOT_PLAIN = Symbol('not plain JSON');

function copyPlain(value: unknown, depth: number): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      if (Number.isFinite(value)) return value === 0 ? 0 : value; // JSON has no -0
      throw NOT_PLAIN;
    case 'object': {
      if (value === null) return null;
      if (depth >= MAX_COPY_DEPTH) throw NOT_PLAIN;
      if (Array.isArray(value)) {
        const out: unknown[] = new Array<unknown>(value.length);
        for (let i = 0; i < value.length; i++) {
          const item: unknown = value[i];
          if (item === undefined) throw NOT_PLAIN;
          out[i] = copyPlain(item, depth + 1);
        }
        return out;
      }
      if (!isPlainObject(value)) throw NOT_PLAIN;
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(value)) {
        const item = value[key];
        // JSON leaves out undefined members; a toJSON or __proto__ key would need JSON's own rules.
        if (item === undefined) continue;
        if (key === 'toJSON' || key === '__proto__') throw NOT_PLAIN;
        out[key] = copyPlain(item, depth + 1);
      }
      return out;
    }
    default:
      throw NOT_PLAIN;
  }
}

function jsonCopy(value: unknown): unknown {
  try {
    const json = JSON.stringify(value);
    return json === undefined ? undefined : JSON.parse(json);
  } catch {
    return undefined;
  }
}

function toJson(value: unknown, path: string): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (error) {
    throw new InvalidAppendError([`${path}: ${(error as Error).message}`]);
  }
  if (json === undefined) throw new InvalidAppendError([`${path}: not JSON`]);
  return storableJson(json, value, path);
}

// JSON.stringify writes U+0000 and lone surrogates (only those) as \u escapes: an escape whose
// backslash is not itself escaped. Searched in the JSON text, so a clean payload costs one includes().
const UNSTORABLE_ESCAPE = /(?<!\\)(?:\\\\)*\\u(?:0000|d[89a-f][0-9a-f]{2})/i;

/** The JSON as it is, unless it holds text Postgres cannot store (see db/storable-text.ts). */
function storableJson(json: string, value: unknown, path: string): string {
  if (!json.includes('\\u') || !UNSTORABLE_ESCAPE.test(json)) return json;
  const at = findUnstorableText(value, path) ?? path;
  throw new InvalidAppendError([
    `${at}: holds a NUL character or a lone surrogate, which Postgres cannot store`,
  ]);
}
