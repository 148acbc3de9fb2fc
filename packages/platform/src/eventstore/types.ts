import { z } from 'zod';

/** Who and what caused an event; travels with it to Kafka (trace context as headers). */
export const EventMetadata = z
  .object({
    correlationId: z.string().min(1).optional(),
    causationId: z.string().min(1).optional(),
    actor: z.string().min(1).optional(),
    traceparent: z
      .string()
      .regex(/^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/)
      .optional(),
    tracestate: z.string().optional(),
  })
  .passthrough();
export type EventMetadata = z.infer<typeof EventMetadata>;

/** Commands and events are discriminated unions of these. */
export type Message<Type extends string = string, Data = unknown, Metadata = unknown> = {
  type: Type;
  data: Data;
  metadata: Metadata;
};

/** An event as the domain sees it: the event store can persist any event of this shape. */
export type Event<
  Type extends string = string,
  Data = unknown,
  Metadata extends EventMetadata = EventMetadata,
> = Message<Type, Data, Metadata>;

export type StreamRef = { orgId: string; streamType: string; streamId: string };

/**
 * The stream version an append requires: a number (0 = empty), 'no_stream' (same as 0), or
 * 'any' (no check; the events go after whatever is there).
 */
export const ExpectedVersion = z.union([z.number().int().min(0), z.literal('no_stream'), z.literal('any')]);
export type ExpectedVersion = z.infer<typeof ExpectedVersion>;

export const NewEvent = z.object({
  id: z.string().uuid(),
  type: z.string().min(1).max(200),
  data: z.unknown(),
  metadata: EventMetadata,
  /** Kafka topic the relay publishes the event to; absent = kept private to the service. */
  topic: z.string().min(1).max(249).optional(),
  /** Kafka key; defaults to `<orgId>:<streamId>` when a topic is set. */
  key: z.string().min(1).optional(),
  occurredAt: z.date(),
});
export type NewEvent = z.infer<typeof NewEvent> & { data: unknown };

export const AppendRequest = z.object({
  orgId: z.string().uuid(),
  streamType: z.string().min(1).max(100),
  streamId: z.string().min(1).max(200),
  expectedVersion: ExpectedVersion,
  events: z.array(NewEvent).min(1),
});
export type AppendRequest = z.infer<typeof AppendRequest> & { events: NewEvent[] };

export type AppendResult = {
  /** The stream's version after the append: the version of its last event. */
  nextVersion: number;
  /** Global positions of the appended events, in order. */
  positions: bigint[];
};

/** An event as read back from the store. */
export type StoredEvent<E extends Message = Event> = E & {
  id: string;
  /** Global position (bigserial). Sequence order, which is not commit order. */
  position: bigint;
  orgId: string;
  streamType: string;
  streamId: string;
  streamVersion: number;
  topic: string | null;
  key: string | null;
  occurredAt: Date;
};
