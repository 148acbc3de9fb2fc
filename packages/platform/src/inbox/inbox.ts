import { DecodeError, type Codec, type EventEnvelope } from '@cmis/contracts';
import type { Knex } from 'knex';
import {
  deadLetter,
  PoisonMessageError,
  type Bus,
  type BatchContext,
  type BusMessage,
  type MessageBatch,
  type SubscribeOptions,
  type Subscription,
} from '../bus';
import {
  InvalidOrgIdError,
  isPgDataError as isDataError,
  OrgId,
  withOrgs,
  type Database,
  type PgError,
} from '../db';
import type { Span } from '@opentelemetry/api';
import { SpanKind, withSpanFrom } from '../telemetry';

/** Messages decoded between two turns of the event loop. */
const DECODE_SLICE = 256;

export interface InboxEvent {
  envelope: EventEnvelope;
  message: BusMessage;
}

export interface InboxContext {
  /** The org's transaction: projection changes made through it commit with the dedupe record. */
  trx: Knex.Transaction;
  orgId: string;
}

/**
 * Applies the fresh events of one org (already deduplicated, in partition order) inside that
 * org's transaction. Throw `PoisonEventError` to dead-letter one event; any other error fails
 * the batch, which is retried with backoff.
 */
export type ApplyEvents = (events: InboxEvent[], context: InboxContext) => Promise<void>;

/** Names the event that can never be applied, so the inbox can dead-letter just that one. */
export class PoisonEventError extends PoisonMessageError {
  override name = 'PoisonEventError';
  constructor(
    readonly eventId: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(reason, options);
  }
}

export interface InboxOptions {
  bus: Bus;
  db: Database;
  codec: Pick<Codec, 'decode'>;
  groupId: string;
  topics: string[];
  /**
   * Either `handle`, one event at a time, each in its own span (what it publishes continues
   * that event's trace), or `apply`, the org's fresh events at once (bulk projections).
   */
  handle?: (event: InboxEvent, context: InboxContext) => Promise<void>;
  apply?: ApplyEvents;
  /**
   * A cheap test of a message as it arrives, before it is decoded: false means it cannot concern
   * this consumer, which then neither decodes, records nor dead-letters it (its offset is
   * committed with its batch). For a consumer that acts on a few of the events of a busy topic.
   */
  concerns?(message: BusMessage): boolean;
  deadLetterTopic?: (topic: string) => string;
  retry?: SubscribeOptions['retry'];
  onRetry?: SubscribeOptions['onRetry'];
  /** Called with each dead-lettered message and why (logs, metrics). */
  onDeadLetter?(message: BusMessage, reason: string): void;
}

/**
 * The inbox consumer: decode and validate every message (failures are dead-lettered), group
 * what arrived together (on Kafka, every partition's batch of one fetch) by org, and write every
 * org's processed event ids and projection changes in one transaction (row-level security
 * switched to each org in turn). An org's events keep each partition's order. Offsets are committed by the
 * bus only after it committed, so a redelivered event finds its id recorded and changes nothing.
 */
export async function startInbox(options: InboxOptions): Promise<Subscription> {
  const { bus, db, codec, groupId, handle, apply } = options;
  if (!handle === !apply) throw new Error('startInbox needs exactly one of handle or apply');
  const poison = async (message: BusMessage, reason: string) => {
    await deadLetter(bus, message, reason, groupId, options.deadLetterTopic);
    options.onDeadLetter?.(message, reason);
  };

  // Decoding needs no order: on Kafka it runs as a fetch arrives, while the fetch before is still
  // being written (SubscribeOptions.prepare). Poison is dead-lettered here.
  const prepare = async (batches: MessageBatch[]): Promise<Map<string, InboxEvent[]>> => {
    const byOrg = new Map<string, InboxEvent[]>();
    let decoded = 0;
    for (const message of batches.length === 1 ? batches[0]!.messages : batches.flatMap((b) => b.messages)) {
      if (options.concerns && !options.concerns(message)) continue;
      // Now and then a turn of the event loop: the writes of the fetch before need their answers.
      if (++decoded % DECODE_SLICE === 0) await new Promise((resolve) => setImmediate(resolve));
      let envelope: EventEnvelope;
      try {
        envelope = await codec.decode(message.topic, { value: message.value, headers: message.headers });
      } catch (error) {
        // A registry that cannot be reached is transient; only a message that is bad is poison.
        if (!(error instanceof DecodeError)) throw error;
        await poison(message, error.message);
        continue;
      }
      const events = byOrg.get(envelope.orgId) ?? [];
      events.push({ envelope, message });
      byOrg.set(envelope.orgId, events);
    }
    return byOrg;
  };

  // Every partition batch of a fetch at once: one transaction (and one commit) per fetch. With
  // nothing left to apply (skipped or dead-lettered), resolving commits the offsets.
  const handleBatches = async (
    _batches: MessageBatch[],
    _context: BatchContext,
    byOrg: Map<string, InboxEvent[]>,
  ) => {
    if (byOrg.size > 0) await applyBatch(byOrg);
  };

  /** Every org's fresh events in one transaction (the org switched per group): one commit a batch. */
  const applyBatch = async (byOrg: Map<string, InboxEvent[]>): Promise<void> => {
    let pending = byOrg;
    // Each poison event found is dead-lettered and the batch's work redone without it.
    for (;;) {
      try {
        await withOrgs(db.app, async (trx) => {
          for (const [orgId, events] of pending) {
            // recordFresh switches the transaction to the org (inbox_claim_seen), RLS applies from there.
            const fresh = await recordFresh(trx, orgId, groupId, events);
            if (fresh.length > 0) await applyOrg(fresh, { trx, orgId });
          }
        });
        return;
      } catch (error) {
        if (isDataError(error)) return isolateDataError(pending, error);
        if (!(error instanceof PoisonEventError)) throw error;
        const bad = [...pending.values()].flat().find((e) => e.envelope.id === error.eventId);
        if (!bad) throw error;
        await poison(bad.message, error.reason);
        pending = new Map(
          [...pending].map(([orgId, events]) => [orgId, events.filter((e) => e !== bad)] as const),
        );
      }
    }
  };

  /**
   * Postgres refused a value (SQLSTATE class 22: text it cannot store, a number out of range, a
   * malformed literal): that never passes on a retry, but the failed transaction does not say
   * which event brought it. Each event is then applied in a transaction of its own, in order;
   * the one that fails alone with a data error is dead-lettered, the others commit (a retry of
   * the batch finds those recorded and skips them).
   */
  const isolateDataError = async (pending: Map<string, InboxEvent[]>, error: PgError): Promise<void> => {
    const events = [...pending].flatMap(([orgId, list]) => list.map((event) => [orgId, event] as const));
    if (events.length === 1) {
      const reason = `Postgres refused the event (${error.code}): ${error.message}`;
      return poison(events[0]![1].message, reason);
    }
    for (const [orgId, event] of events) await applyBatch(new Map([[orgId, [event]]]));
  };

  const applyOrg = async (fresh: InboxEvent[], context: InboxContext): Promise<void> => {
    if (handle) {
      for (const event of fresh) {
        await spanOf(event, () => handle(event, context)).catch((error: unknown) => {
          if (error instanceof PoisonMessageError && !(error instanceof PoisonEventError)) {
            throw new PoisonEventError(event.envelope.id, error.reason, { cause: error });
          }
          throw error;
        });
      }
      return;
    }
    const [first, ...rest] = fresh;
    // The bulk apply runs in the first event's span; the others are marked processed, which is
    // for traces only: skipped when nothing records spans (no SDK, or not sampled).
    let recording = false;
    await spanOf(first!, (span) => {
      recording = span.isRecording();
      return apply!(fresh, context);
    });
    if (recording) for (const event of rest) await spanOf(event, async () => undefined);
  };

  return bus.subscribe({
    groupId,
    topics: options.topics,
    prepare,
    handleBatches,
    retry: options.retry,
    onRetry: options.onRetry,
  });
}

/**
 * Switches the transaction to the org and records the events' ids (one round trip, see the
 * inbox_claim_seen migration); returns the events not seen before, in their order.
 */
async function recordFresh(
  trx: Knex.Transaction,
  orgId: string,
  groupId: string,
  events: InboxEvent[],
): Promise<InboxEvent[]> {
  // The envelope schema made orgId a uuid; checked again, as withOrgs' useOrg would.
  if (!OrgId.safeParse(orgId).success) throw new InvalidOrgIdError(orgId);
  const ids = [...new Set(events.map((e) => e.envelope.id))];
  const result = await trx.raw<{ rows: Array<{ event_id: string }> }>(
    'select inbox_claim_seen as event_id from inbox_claim_seen(?, ?, ?::text[])',
    [orgId, groupId, ids],
  );
  if (result.rows.length === 0 && ids.length === events.length) return events;
  // Recorded before, or (within one batch) met already: a duplicate keeps only its first occurrence.
  const met = new Set(result.rows.map((r) => r.event_id));
  return events.filter((e) => {
    if (met.has(e.envelope.id)) return false;
    met.add(e.envelope.id);
    return true;
  });
}

/** A consumer span continuing the trace the event arrived with (its traceparent header). */
function spanOf<T>(event: InboxEvent, work: (span: Span) => Promise<T>): Promise<T> {
  return withSpanFrom(
    `process ${event.message.topic}`,
    event.message.headers,
    SpanKind.CONSUMER,
    {
      'messaging.system': 'kafka',
      'messaging.destination.name': event.message.topic,
      'messaging.message.id': event.envelope.id,
      'cmis.org_id': event.envelope.orgId,
      'cmis.event_type': event.envelope.type,
    },
    work,
  );
}
