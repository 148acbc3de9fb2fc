// Pure: Segment HTTP Tracking API calls -> facts on CMIS topics. No I/O; time and ids come in.
import { contactsTopic, userActionsTopic } from '@cmis/contracts';
import { z } from 'zod';
import {
  EVENT_BYTES_LIMIT,
  issuesAt,
  jsonBytes,
  markValidated,
  type IngestFact,
  type ParseResult,
} from '../shared/fact';
import { fastTimestamp, parsedAt, TimestampNotAhead, UNSURE, type Unsure } from '../shared/timestamps';

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

// Built once; timestamps are judged against the receipt time given to parsedAt.
function buildSchemas() {
  const common = {
    userId: optional(Id),
    anonymousId: optional(Id),
    messageId: optional(Id),
    timestamp: optional(TimestampNotAhead),
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

const schemas = buildSchemas();

type Call = {
  userId?: string;
  anonymousId?: string;
  messageId?: string;
  timestamp?: string;
  context?: Record<string, unknown>;
} & Record<string, unknown>;

// Fast path: the common, valid call checked by hand with exactly the zod schemas' rules above, so
// a valid call costs no zod parse (about 20 µs and much garbage each). It only ever accepts: any
// value it is not sure of (a wrong type, a bound crossed, a missing field) returns undefined and
// the call goes through zod, which then names the field at fault. segment-fast-path.unit.spec.ts holds
// both paths to the same output.
function fastId(value: unknown, max = 256): string | undefined | Unsure {
  if (value === undefined || value === null) return undefined;
  return typeof value === 'string' && value.length >= 1 && value.length <= max ? value : UNSURE;
}

function fastObject(value: unknown): Record<string, unknown> | undefined | Unsure {
  if (value === undefined || value === null) return undefined;
  // zod's record copies own keys but drops `__proto__` (JSON.parse makes it an own key).
  if (typeof value !== 'object' || Array.isArray(value) || Object.getPrototypeOf(value) !== Object.prototype)
    return UNSURE;
  return Object.prototype.hasOwnProperty.call(value, '__proto__')
    ? UNSURE
    : (value as Record<string, unknown>);
}

function fastCall(callType: CallType, raw: unknown, receivedAt: Date): Call | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
  const r = raw as Record<string, unknown>;
  const common = {
    userId: fastId(r.userId),
    anonymousId: fastId(r.anonymousId),
    messageId: fastId(r.messageId),
    timestamp: fastTimestamp(r.timestamp, receivedAt),
    context: fastObject(r.context),
  };
  if (
    common.userId === UNSURE ||
    common.anonymousId === UNSURE ||
    common.messageId === UNSURE ||
    common.timestamp === UNSURE ||
    common.context === UNSURE
  )
    return undefined;
  const call = common as Call;
  const contact = call.userId !== undefined || call.anonymousId !== undefined;
  switch (callType) {
    case 'track': {
      const event = fastId(r.event, 200);
      const properties = fastObject(r.properties);
      if (!contact || event === undefined || event === UNSURE || properties === UNSURE) return undefined;
      return Object.assign(call, { event, properties });
    }
    case 'page':
    case 'screen': {
      const name = fastId(r.name, 200);
      const category = fastId(r.category, 200);
      const properties = fastObject(r.properties);
      if (!contact || name === UNSURE || category === UNSURE || properties === UNSURE) return undefined;
      return Object.assign(call, { name, category, properties });
    }
    case 'identify': {
      const traits = fastObject(r.traits);
      if (!contact || traits === UNSURE) return undefined;
      return Object.assign(call, { traits });
    }
    case 'group': {
      const groupId = fastId(r.groupId);
      const traits = fastObject(r.traits);
      if (!contact || groupId === undefined || groupId === UNSURE || traits === UNSURE) return undefined;
      return Object.assign(call, { groupId, traits });
    }
    case 'alias': {
      const previousId = fastId(r.previousId);
      if (call.userId === undefined || previousId === undefined || previousId === UNSURE) return undefined;
      return Object.assign(call, { previousId });
    }
    default:
      return undefined;
  }
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
  /** Internal: false skips the fast path (the spec holds both paths to the same output). */
  fast = true,
): ParseResult<IngestFact> {
  if (jsonBytes(raw) > EVENT_BYTES_LIMIT) {
    return {
      ok: false,
      errors: [{ path: prefix, message: `an event may be at most ${EVENT_BYTES_LIMIT} bytes` }],
    };
  }
  let call = fast ? fastCall(callType, raw, ctx.receivedAt) : undefined;
  if (call === undefined) {
    const parsed = parsedAt(ctx.receivedAt, () => schemas[callType].safeParse(raw));
    if (!parsed.success) return { ok: false, errors: issuesAt(parsed.error, prefix) };
    call = parsed.data as Call;
  }
  const messageId = call.messageId ?? ctx.newMessageId();
  const timestamp = call.timestamp ?? ctx.receivedAt.toISOString();
  const subject = callType === 'alias' ? call.userId! : (call.userId ?? call.anonymousId)!;
  // Built key by key (no spreads: this runs for every event), in the order consumers have seen.
  const data: Record<string, unknown> = {};
  if (callType === 'alias') {
    data.userId = call.userId;
    data.previousId = call.previousId;
  } else {
    if (call.userId) data.userId = call.userId;
    if (call.anonymousId) data.anonymousId = call.anonymousId;
  }
  data.context = call.context ?? {};
  data.messageId = messageId;
  data.timestamp = timestamp;
  data.sourceId = ctx.sourceId;
  switch (callType) {
    case 'track':
      data.event = call.event;
      data.properties = call.properties ?? {};
      break;
    case 'page':
    case 'screen':
      if (call.name) data.name = call.name;
      if (call.category) data.category = call.category;
      data.properties = call.properties ?? {};
      break;
    case 'identify':
      data.traits = call.traits ?? {};
      break;
    case 'group':
      data.groupId = call.groupId;
      data.traits = call.traits ?? {};
      break;
    case 'alias':
      break;
    default: {
      const unhandled: never = callType;
      throw new Error(`unknown call type ${String(unhandled)}`);
    }
  }
  const { topic, type } = TOPIC_AND_TYPE[callType];
  // The data is exactly the topic's payload (the schemas above are at least as strict as the
  // catalog's), so the publisher may encode it without validating it again.
  return { ok: true, value: markValidated({ topic, type, subject, messageId, time: timestamp, data }) };
}

export function isCallType(value: unknown): value is CallType {
  return typeof value === 'string' && (CALL_TYPES as readonly string[]).includes(value);
}
