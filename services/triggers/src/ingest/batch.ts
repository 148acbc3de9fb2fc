// Pure: a Segment /v1/batch body -> accepted facts and rejected items.
import { z } from 'zod';
import type { FieldError } from '@cmis/platform';
import { splitBatch, type SplitBatch } from '../shared/batch';
import { issuesAt, type IngestFact, type ParseResult } from '../shared/fact';
import { CALL_TYPES, isCallType, parseCall, type CallContext } from './segment';

export const MAX_BATCH_ITEMS = 2_500;

const BatchEnvelope = z.object({
  batch: z
    .array(z.unknown(), { required_error: 'is required', invalid_type_error: 'must be an array of calls' })
    .min(1, 'must hold at least one call')
    .max(MAX_BATCH_ITEMS, `may hold at most ${MAX_BATCH_ITEMS} calls`),
  context: z.record(z.unknown(), { invalid_type_error: 'must be an object' }).nullish(),
});

/**
 * Splits a batch request. The envelope itself must be sound (else `errors`); each call is then
 * judged alone. Batch-level `context` is merged under each call's own, as Segment does.
 */
export function parseSegmentBatch(
  body: unknown,
  ctx: CallContext,
): { ok: true; split: SplitBatch<IngestFact> } | { ok: false; errors: FieldError[] } {
  let envelope = soundEnvelope(body);
  if (envelope === undefined) {
    const parsed = BatchEnvelope.safeParse(body);
    if (!parsed.success) return { ok: false, errors: issuesAt(parsed.error, 'body') };
    envelope = parsed.data;
  }
  const shared = envelope.context ?? undefined;
  const split = splitBatch(envelope.batch, (item, index): ParseResult<IngestFact> => {
    const prefix = `body.batch.${index}`;
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      return { ok: false, errors: [{ path: prefix, message: 'must be an object' }] };
    }
    const type = (item as { type?: unknown }).type;
    if (!isCallType(type)) {
      return {
        ok: false,
        errors: [{ path: `${prefix}.type`, message: `must be one of ${CALL_TYPES.join(', ')}` }],
      };
    }
    const call = withSharedContext(item as Record<string, unknown>, shared);
    return parseCall(type, call, ctx, prefix);
  });
  return { ok: true, split };
}

/**
 * The common sound envelope, checked without zod (which copies the whole array); undefined when
 * not sure, and BatchEnvelope then decides and names the fault.
 */
function soundEnvelope(
  body: unknown,
): { batch: unknown[]; context?: Record<string, unknown> | null } | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  const { batch, context } = body as { batch?: unknown; context?: unknown };
  if (!Array.isArray(batch) || batch.length < 1 || batch.length > MAX_BATCH_ITEMS) return undefined;
  if (context === undefined || context === null) return { batch };
  const plain =
    typeof context === 'object' &&
    Object.getPrototypeOf(context) === Object.prototype &&
    !Object.prototype.hasOwnProperty.call(context, '__proto__');
  return plain ? { batch, context: context as Record<string, unknown> } : undefined;
}

function withSharedContext(call: Record<string, unknown>, shared: Record<string, unknown> | undefined) {
  if (!shared) return call;
  const own = call.context;
  if (own !== undefined && own !== null && (typeof own !== 'object' || Array.isArray(own))) return call;
  return { ...call, context: { ...shared, ...(own as Record<string, unknown> | undefined) } };
}
