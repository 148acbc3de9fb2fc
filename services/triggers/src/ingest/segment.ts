// Pure: Segment HTTP Tracking API calls -> facts on CMIS topics. No I/O; time and ids come in.
import { contactsTopic, userActionsTopic } from '@cmis/contracts';
import { z } from 'zod';
import { EVENT_BYTES_LIMIT, issuesAt, jsonBytes, type IngestFact, type ParseResult } from '../shared/fact';
import { timestampNoLaterThanTomorrow } from '../shared/timestamps';

export const CALL_TYPES = ['track', 'identify', 'page', 'screen', 'group', 'alias'] as const;
export type CallType = (typeof CALL_TYPES)[number];

export interface CallContext {
  sourceId: string;
  /** Request time: the default `timestamp`, and the reference for "a day in the future". */
  receivedAt: Date;
  /** Id for a call that came without a messageId (it is then not deduplicated). */
  newMessageId: () => string;
}

const Id = z
  .string({ invalid_type_error: 'must be a string' })
  .min(1, 'must not be empty')
  .max(256, 'must be at most 256 characters');
const Name = z.string({ invalid_type_error: 'must be a string' }).min(1, 'must not be empty').max(200);
const JsonObject = z.record(z.unknown(), { invalid_type_error: 'must be an object' });

// null is treated as absent: some Segment libraries send explicit nulls for unset fields.
const optional = <T extends z.ZodTypeAny>(schema: T) => schema.nullish().transform((v) => v ?? undefined);

function schemasAt(receivedAt: Date) {
  const common = {
    userId: optional(Id),
    anonymousId: optional(Id),
    messageId: optional(Id),
    timestamp: optional(timestampNoLaterThanTomorrow(receivedAt)),
    context: optional(JsonObject),
  };
  const contact = (value: { userId?: string; anonymousId?: string }, ctx: z.RefinementCtx) => {
    if (value.userId === undefined && value.anonymousId === undefined) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['userId'],
        message: 'userId or anonymousId is required',
      });
    }
  };
  const view = z
    .object({ ...common, name: optional(Name), category: optional(Name), properties: optional(JsonObject) })
    .superRefine(contact);
  return {
    track: z.object({ ...common, event: Name, properties: optional(JsonObject) }).superRefine(contact),
    page: view,
    screen: view,
    identify: z.object({ ...common, traits: optional(JsonObject) }).superRefine(contact),
    group: z.object({ ...common, groupId: Id, traits: optional(JsonObject) }).superRefine(contact),
    alias: z.object({ ...common, userId: Id, previousId: Id }),
  } satisfies Record<CallType, z.ZodTypeAny>;
}

// Calls of one batch share a receivedAt: build the schemas once for it, not once per call.
let cached: { at: number; schemas: ReturnType<typeof schemasAt> } | undefined;
function schemasFor(receivedAt: Date) {
  if (cached?.at !== receivedAt.getTime())
    cached = { at: receivedAt.getTime(), schemas: schemasAt(receivedAt) };
  return cached.schemas;
}

const TOPIC_AND_TYPE: Record<CallType, { topic: string; type: string }> = {
  track: { topic: userActionsTopic.name, type: 'cmis.triggers.action-tracked' },
  page: { topic: userActionsTopic.name, type: 'cmis.triggers.page-viewed' },
  screen: { topic: userActionsTopic.name, type: 'cmis.triggers.screen-viewed' },
  identify: { topic: contactsTopic.name, type: 'cmis.triggers.contact-identified' },
  group: { topic: contactsTopic.name, type: 'cmis.triggers.contact-grouped' },
  alias: { topic: contactsTopic.name, type: 'cmis.triggers.contact-aliased' },
};

/**
 * Validates one call of a known type; errors name fields under `prefix` (`body`, `body.batch.2`).
 * The result's data is exactly the topic's payload schema (defaults filled, unknown fields dropped).
 */
export function parseCall(
  callType: CallType,
  raw: unknown,
  ctx: CallContext,
  prefix = 'body',
): ParseResult<IngestFact> {
  if (jsonBytes(raw) > EVENT_BYTES_LIMIT) {
    return {
      ok: false,
      errors: [{ path: prefix, message: `an event may be at most ${EVENT_BYTES_LIMIT} bytes` }],
    };
  }
  const parsed = schemasFor(ctx.receivedAt)[callType].safeParse(raw);
  if (!parsed.success) return { ok: false, errors: issuesAt(parsed.error, prefix) };
  const call = parsed.data as {
    userId?: string;
    anonymousId?: string;
    messageId?: string;
    timestamp?: string;
    context?: Record<string, unknown>;
  } & Record<string, unknown>;
  const messageId = call.messageId ?? ctx.newMessageId();
  const timestamp = call.timestamp ?? ctx.receivedAt.toISOString();
  const base = { context: call.context ?? {}, messageId, timestamp, sourceId: ctx.sourceId };
  const ids = {
    ...(call.userId ? { userId: call.userId } : {}),
    ...(call.anonymousId ? { anonymousId: call.anonymousId } : {}),
  };
  const subject = (call.userId ?? call.anonymousId)!;
  const { topic, type } = TOPIC_AND_TYPE[callType];
  const fact = (data: Record<string, unknown>, about = subject): ParseResult<IngestFact> => ({
    ok: true,
    value: { topic, type, subject: about, messageId, time: timestamp, data },
  });
  switch (callType) {
    case 'track':
      return fact({ ...ids, ...base, event: call.event, properties: call.properties ?? {} });
    case 'page':
    case 'screen':
      return fact({
        ...ids,
        ...base,
        ...(call.name ? { name: call.name } : {}),
        ...(call.category ? { category: call.category } : {}),
        properties: call.properties ?? {},
      });
    case 'identify':
      return fact({ ...ids, ...base, traits: call.traits ?? {} });
    case 'group':
      return fact({ ...ids, ...base, groupId: call.groupId, traits: call.traits ?? {} });
    case 'alias':
      return fact({ userId: call.userId, previousId: call.previousId, ...base }, call.userId);
    default: {
      const unhandled: never = callType;
      throw new Error(`unknown call type ${String(unhandled)}`);
    }
  }
}

export function isCallType(value: unknown): value is CallType {
  return typeof value === 'string' && (CALL_TYPES as readonly string[]).includes(value);
}
