import type { z } from 'zod';
import type { FieldError } from '@cmis/platform';

/**
 * A validated fact from an upstream app, ready to publish: ingest facts are not aggregates, so
 * they go straight to their topic (see ingest/publisher.ts) rather than through the event store.
 */
export interface IngestFact {
  topic: string;
  type: string;
  /** The key's subject: the contact (userId, else anonymousId), or `<entityType>:<entityId>`. */
  subject: string;
  /** The sender's id for the call, deduplicated per org. */
  messageId: string;
  /** When the fact happened (RFC 3339, UTC); the envelope's `time`. */
  time: string;
  data: Record<string, unknown>;
}

const validated = new WeakSet<IngestFact>();

/**
 * Marks a fact whose `data` was just validated by a schema at least as strict as its topic's
 * payload schema, with the same output (ingest/segment.ts): the publisher then encodes it with
 * the codec's `{ validated: true }` and does not validate it a second time. Facts not marked
 * are validated by the codec as usual.
 */
export function markValidated(fact: IngestFact): IngestFact {
  validated.add(fact);
  return fact;
}

export function isValidated(fact: IngestFact): boolean {
  return validated.has(fact);
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] };

/** Field errors of a zod failure, each path under `prefix` (`body`, `body.batch.3`). */
export function issuesAt(error: z.ZodError, prefix: string): FieldError[] {
  return error.issues.map((issue) => ({
    path: [prefix, ...issue.path].join('.'),
    message: issue.message,
  }));
}

export const EVENT_BYTES_LIMIT = 32 * 1024;
export const BATCH_BYTES_LIMIT = 500 * 1024;

/** Bytes of a value as JSON: the size a sender put on the wire, near enough for limits. */
export function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value) ?? '', 'utf8');
}
