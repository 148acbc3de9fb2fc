// Pure: entity metric snapshots (an ad campaign's spend, clicks, ctr, …) -> facts on the metrics topic.
import { entityMetricsTopic } from '@cmis/contracts';
import { z } from 'zod';
import type { FieldError } from '@cmis/platform';
import { splitBatch, type SplitBatch } from '../shared/batch';
import {
  EVENT_BYTES_LIMIT,
  issuesAt,
  jsonBytes,
  markValidated,
  type IngestFact,
  type ParseResult,
} from '../shared/fact';
import { fastTimestamp, parsedAt, TimestampNotAhead, UNSURE } from '../shared/timestamps';

export const MAX_METRICS_PER_SNAPSHOT = 200;
export const MAX_SNAPSHOTS_PER_BATCH = 1_000;

// No ':' in the type: the key is `<orgId>:<entityType>:<entityId>` and must split back.
const ENTITY_TYPE = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;

// Built once; timestamps are judged against the receipt time given to parsedAt.
const Snapshot = z.object({
  entityType: z
    .string({ invalid_type_error: 'must be a string' })
    .regex(ENTITY_TYPE, 'must be a name such as campaign or ad_set'),
  entityId: z.string({ invalid_type_error: 'must be a string' }).min(1, 'must not be empty').max(256),
  metrics: z
    .record(z.number({ invalid_type_error: 'must be a number' }).finite('must be finite'), {
      invalid_type_error: 'must be an object of named numbers',
    })
    .refine((m) => Object.keys(m).length > 0, 'must name at least one metric')
    .refine(
      (m) => Object.keys(m).length <= MAX_METRICS_PER_SNAPSHOT,
      `may name at most ${MAX_METRICS_PER_SNAPSHOT} metrics`,
    ),
  timestamp: TimestampNotAhead.nullish(),
  messageId: z.string({ invalid_type_error: 'must be a string' }).min(1).max(256).nullish(),
});

type SnapshotFields = Pick<z.output<typeof Snapshot>, 'entityType' | 'entityId' | 'metrics'> & {
  timestamp?: string;
  messageId?: string;
};

// Fast path, as for Segment calls (ingest/segment.ts): the common, valid snapshot checked by hand
// with exactly Snapshot's rules, so it costs no zod parse. It only ever accepts; anything it is
// not sure of goes through zod, which names the field at fault. metrics.unit.spec.ts holds both
// paths to the same output.
function fastSnapshot(raw: unknown, receivedAt: Date): SnapshotFields | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
  const { entityType, entityId, metrics, timestamp, messageId } = raw as Record<string, unknown>;
  if (typeof entityType !== 'string' || !ENTITY_TYPE.test(entityType)) return undefined;
  if (typeof entityId !== 'string' || entityId.length < 1 || entityId.length > 256) return undefined;
  if (!isMetricRecord(metrics)) return undefined;
  const at = fastTimestamp(timestamp, receivedAt);
  if (at === UNSURE) return undefined;
  if (messageId === undefined || messageId === null) return { entityType, entityId, metrics, timestamp: at };
  if (typeof messageId !== 'string' || messageId.length < 1 || messageId.length > 256) return undefined;
  return { entityType, entityId, metrics, timestamp: at, messageId };
}

/** 1 to MAX_METRICS_PER_SNAPSHOT finite numbers in a plain object without a `__proto__` key. */
function isMetricRecord(value: unknown): value is Record<string, number> {
  if (typeof value !== 'object' || value === null || Object.getPrototypeOf(value) !== Object.prototype)
    return false;
  // zod's record drops a `__proto__` key (JSON.parse makes it an own key): zod decides those.
  if (Object.prototype.hasOwnProperty.call(value, '__proto__')) return false;
  let count = 0;
  for (const key in value) {
    const metric = (value as Record<string, unknown>)[key];
    if (typeof metric !== 'number' || !Number.isFinite(metric)) return false;
    count += 1;
  }
  return count > 0 && count <= MAX_METRICS_PER_SNAPSHOT;
}

export interface SnapshotContext {
  receivedAt: Date;
  newMessageId: () => string;
}

export function parseSnapshot(
  raw: unknown,
  ctx: SnapshotContext,
  prefix = 'body',
  /** Internal: false skips the fast path (the spec holds both paths to the same output). */
  fast = true,
): ParseResult<IngestFact> {
  if (jsonBytes(raw) > EVENT_BYTES_LIMIT) {
    return {
      ok: false,
      errors: [{ path: prefix, message: `a snapshot may be at most ${EVENT_BYTES_LIMIT} bytes` }],
    };
  }
  let snapshot: SnapshotFields | undefined = fast ? fastSnapshot(raw, ctx.receivedAt) : undefined;
  if (snapshot === undefined) {
    const parsed = parsedAt(ctx.receivedAt, () => Snapshot.safeParse(raw));
    if (!parsed.success) return { ok: false, errors: issuesAt(parsed.error, prefix) };
    snapshot = {
      ...parsed.data,
      timestamp: parsed.data.timestamp ?? undefined,
      messageId: parsed.data.messageId ?? undefined,
    };
  }
  const { entityType, entityId, metrics, timestamp, messageId } = snapshot;
  const observedAt = timestamp ?? ctx.receivedAt.toISOString();
  // The data is exactly the topic's payload (Snapshot is at least as strict as the catalog's
  // EntityMetricsObserved, with the same output), so the publisher encodes it without a second parse.
  return {
    ok: true,
    value: markValidated({
      topic: entityMetricsTopic.name,
      type: 'cmis.triggers.entity-metrics-observed',
      subject: `${entityType}:${entityId}`,
      // A snapshot is identified by what it measures and when, so a resent one is a duplicate.
      messageId:
        messageId ?? (timestamp ? `metrics:${entityType}:${entityId}:${observedAt}` : ctx.newMessageId()),
      time: observedAt,
      data: { entityType, entityId, metrics, observedAt },
    }),
  };
}

/** `{ batch: [snapshot, …] }` or one snapshot; a batch is judged item by item. */
export function parseMetricsBody(
  body: unknown,
  ctx: SnapshotContext,
): { ok: true; split: SplitBatch<IngestFact> } | { ok: false; errors: FieldError[] } {
  if (typeof body === 'object' && body !== null && 'batch' in body) {
    const batch = (body as { batch: unknown }).batch;
    if (!Array.isArray(batch))
      return { ok: false, errors: [{ path: 'body.batch', message: 'must be an array of snapshots' }] };
    if (batch.length === 0 || batch.length > MAX_SNAPSHOTS_PER_BATCH) {
      return {
        ok: false,
        errors: [{ path: 'body.batch', message: `must hold 1 to ${MAX_SNAPSHOTS_PER_BATCH} snapshots` }],
      };
    }
    return {
      ok: true,
      split: splitBatch(batch, (item, index) => parseSnapshot(item, ctx, `body.batch.${index}`)),
    };
  }
  const one = parseSnapshot(body, ctx);
  if (!one.ok) return { ok: false, errors: one.errors };
  return { ok: true, split: { accepted: [{ index: 0, value: one.value }], rejected: [] } };
}
