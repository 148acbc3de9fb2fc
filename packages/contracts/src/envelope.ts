import { z } from 'zod';

/**
 * CloudEvents 1.0 attributes plus the CMIS extensions. In structured mode the Kafka message
 * value is the whole envelope; trace context travels in headers (see trace-context.ts).
 */
export const EnvelopeAttributes = z.object({
  id: z.string().min(1).describe('Unique per source; consumers deduplicate on it'),
  source: z.string().min(1).describe('URI-reference of the producing service, e.g. /cmis/triggers'),
  type: z.string().min(1).describe('Event type, e.g. cmis.tenancy.org-created'),
  specversion: z.literal('1.0'),
  time: z.string().datetime({ offset: true }).describe('When the fact happened (RFC 3339)'),
  subject: z.string().min(1).describe('What the event is about; the message key is <orgId>:<subject>'),
  orgId: z.string().uuid().describe('Tenant that owns the event'),
  schemaVersion: z.number().int().positive().describe('Payload schema version of the topic'),
  correlationId: z.string().min(1).describe('Id of the event or request that started the chain'),
  causationId: z.string().min(1).nullable().describe('Id of the event that directly caused this one'),
});
export type EnvelopeAttributes = z.infer<typeof EnvelopeAttributes>;

export const EventEnvelope = EnvelopeAttributes.extend({ data: z.unknown() });
export type EventEnvelope = z.infer<typeof EventEnvelope>;

/** An envelope whose `type` and `data` are known (see TopicEnvelope for the catalog's). */
export type TypedEnvelope<TType extends string, TData> = Omit<EnvelopeAttributes, 'type'> & {
  type: TType;
  data: TData;
};

export interface EnvelopeInput<TType extends string, TData> {
  id: string;
  time: string;
  source: string;
  type: TType;
  subject: string;
  orgId: string;
  schemaVersion: number;
  /** Defaults to `id`: an event without one starts its own chain. */
  correlationId?: string;
  causationId?: string | null;
  data: TData;
}

/**
 * Builds and validates an envelope. Pure: id and time come in with the input
 * (use `newEventId()` and the command's clock at the edge). Throws a ZodError on bad attributes.
 */
export function createEnvelope<TType extends string, TData>(
  input: EnvelopeInput<TType, TData>,
): TypedEnvelope<TType, TData> {
  const envelope = {
    id: input.id,
    source: input.source,
    type: input.type,
    specversion: '1.0' as const,
    time: input.time,
    subject: input.subject,
    orgId: input.orgId,
    schemaVersion: input.schemaVersion,
    correlationId: input.correlationId ?? input.id,
    causationId: input.causationId ?? null,
    data: input.data,
  };
  EnvelopeAttributes.parse(envelope);
  return envelope;
}

/** Attributes of the event that caused a new one: same chain, caused by `cause.id`. */
export function causedBy(cause: Pick<EnvelopeAttributes, 'id' | 'correlationId'>): {
  correlationId: string;
  causationId: string;
} {
  return { correlationId: cause.correlationId, causationId: cause.id };
}
