// Pure: a source's mapping turns a third party's webhook payload into a user-action fact.
import { userActionsTopic } from '@cmis/contracts';
import { z } from 'zod';
import type { FieldError } from '@cmis/platform';
import { EVENT_BYTES_LIMIT, jsonBytes, type IngestFact, type ParseResult } from '../shared/fact';
import { parsedAt, TimestampNotAhead } from '../shared/timestamps';

const FieldPath = z
  .string()
  .regex(/^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*$/, 'must be a dotted path such as data.customer.id')
  .max(200);
const At = z.object({ path: FieldPath }).strict();

export const WebhookMapping = z
  .object({
    /** Where the event name is, or a fixed name for every payload of the source. */
    event: z.union([At, z.object({ value: z.string().min(1).max(200) }).strict()]),
    userId: At.optional(),
    anonymousId: At.optional(),
    /** The object that becomes the event's properties; the whole payload when absent. */
    properties: At.optional(),
    /** When it happened; the webhook-timestamp header when absent. */
    timestamp: At.optional(),
  })
  .strict()
  .refine((m) => m.userId !== undefined || m.anonymousId !== undefined, {
    message: 'a mapping needs userId or anonymousId',
    path: ['userId'],
  });
export type WebhookMapping = z.infer<typeof WebhookMapping>;

/** Standard Webhooks' recommended payload: `{ type, timestamp, data: { … } }`. */
export const DEFAULT_WEBHOOK_MAPPING: WebhookMapping = {
  event: { path: 'type' },
  userId: { path: 'data.userId' },
  anonymousId: { path: 'data.anonymousId' },
  properties: { path: 'data' },
  timestamp: { path: 'timestamp' },
};

export interface WebhookContext {
  sourceId: string;
  webhookId: string;
  /** The webhook-timestamp header (already verified to be within tolerance). */
  sentAt: Date;
  receivedAt: Date;
}

export function valueAt(payload: unknown, path: string): unknown {
  let current: unknown = payload;
  for (const part of path.split('.')) {
    if (typeof current !== 'object' || current === null || Array.isArray(current)) return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

export function applyMapping(
  mapping: WebhookMapping,
  payload: unknown,
  ctx: WebhookContext,
): ParseResult<IngestFact> {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    return { ok: false, errors: [{ path: 'body', message: 'a webhook payload must be a JSON object' }] };
  }
  if (jsonBytes(payload) > EVENT_BYTES_LIMIT) {
    return {
      ok: false,
      errors: [{ path: 'body', message: `a payload may be at most ${EVENT_BYTES_LIMIT} bytes` }],
    };
  }
  const errors: FieldError[] = [];
  const at = (path: string) => `body.${path}`;

  let event: string | undefined;
  if ('value' in mapping.event) event = mapping.event.value;
  else {
    const found = valueAt(payload, mapping.event.path);
    if (typeof found === 'string' && found.length > 0 && found.length <= 200) event = found;
    else
      errors.push({ path: at(mapping.event.path), message: 'must be the event name (a non-empty string)' });
  }

  const idAt = (pick: { path: string } | undefined) => {
    if (!pick) return undefined;
    const found = valueAt(payload, pick.path);
    if (typeof found === 'number' && Number.isFinite(found)) return String(found);
    if (typeof found === 'string' && found.length > 0 && found.length <= 256) return found;
    if (found !== undefined && found !== null)
      errors.push({ path: at(pick.path), message: 'must be a non-empty string or a number' });
    return undefined;
  };
  const userId = idAt(mapping.userId);
  const anonymousId = idAt(mapping.anonymousId);
  if (userId === undefined && anonymousId === undefined && errors.length === 0) {
    const where = mapping.userId ?? mapping.anonymousId!;
    errors.push({ path: at(where.path), message: 'the payload names no contact (userId or anonymousId)' });
  }

  let properties: Record<string, unknown> = payload as Record<string, unknown>;
  if (mapping.properties) {
    const found = valueAt(payload, mapping.properties.path);
    if (found === undefined || found === null) properties = {};
    else if (typeof found === 'object' && !Array.isArray(found))
      properties = found as Record<string, unknown>;
    else errors.push({ path: at(mapping.properties.path), message: 'must be an object' });
  }

  let timestamp = ctx.sentAt.toISOString();
  if (mapping.timestamp) {
    const found = valueAt(payload, mapping.timestamp.path);
    if (found !== undefined && found !== null) {
      const parsed = parsedAt(ctx.receivedAt, () => TimestampNotAhead.safeParse(found));
      if (parsed.success) timestamp = parsed.data;
      else
        errors.push(
          ...parsed.error.issues.map((i) => ({ path: at(mapping.timestamp!.path), message: i.message })),
        );
    }
  }

  if (errors.length > 0) return { ok: false, errors };
  const subject = (userId ?? anonymousId)!;
  return {
    ok: true,
    value: {
      topic: userActionsTopic.name,
      type: 'cmis.triggers.action-tracked',
      subject,
      // Deduplicated per source: webhook ids are the sender's, not unique across senders.
      messageId: `webhook:${ctx.sourceId}:${ctx.webhookId}`,
      time: timestamp,
      data: {
        ...(userId !== undefined ? { userId } : {}),
        ...(anonymousId !== undefined ? { anonymousId } : {}),
        event: event!,
        properties,
        context: { webhook: { id: ctx.webhookId, sourceId: ctx.sourceId } },
        messageId: ctx.webhookId,
        timestamp,
        sourceId: ctx.sourceId,
      },
    },
  };
}
