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
import { parsedAt, TimestampNotAhead } from '../shared/timestamps';

export const MAX_METRICS_PER_SNAPSHOT = 200;
export const MAX_SNAPSHOTS_PER_BATCH = 1_000;

// Built once; timestamps are judged against the receipt time given to parsedAt.
const Snapshot = z.object({
  // No ':' in the type: the key is `<orgId>:<entityType>:<entityId>` and must split back.
  entityType: z
    .string({ invalid_type_error: 'must be a string' })
    .regex(/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/, 'must be a name such as campaign or ad_set'),
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

export interface SnapshotContext {
  receivedAt: Date;
  newMessageId: () => string;
}

export function parseSnapshot(raw: unknown, ctx: SnapshotContext, prefix = 'body'): ParseResult<IngestFact> {
  if (jsonBytes(raw) > EVENT_BYTES_LIMIT) {
    return {
      ok: false,
      errors: [{ path: prefix, message: `a snapshot may be at most ${EVENT_BYTES_LIMIT} bytes` }],
    };
  }
  const parsed = parsedAt(ctx.receivedAt, () => Snapshot.safeParse(raw));
  if (!parsed.success) return { ok: false, errors: issuesAt(parsed.error, prefix) };
  const { entityType, entityId, metrics, timestamp, messageId } = parsed.data;
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
