import {
  EncodeError,
  eventTopicByName,
  UnknownTopicError,
  type Codec,
  type EventEnvelope,
} from '@cmis/contracts';
import type { Span } from '@opentelemetry/api';
import type { Knex } from 'knex';
import { backoffDelay, sleep, Wakeup, type Bus, type OutgoingMessage } from '../bus';
import { DEAD_LETTER_HEADERS } from '../bus';
import { withSystem, type Database } from '../db';
import { recentAppendsOf, type PublishableEvent, type RecentAppends } from '../eventstore';
import { contextFromHeaders, startProducerSpan } from '../telemetry';
import { RELAY_SHARDS, relayLockClass } from './shards';

export interface OutboxRelayOptions {
  db: Database;
  bus: Bus;
  codec: Pick<Codec, 'encode'>;
  /** CloudEvents source of everything this service publishes, e.g. `/cmis/rules`. */
  source: string;
  /** Most events taken from one shard in a round. */
  batchSize?: number;
  /**
   * Most shards one round takes (default: all). A round is one transaction on one connection;
   * with several replicas, fewer shards per round leave the others more to take at once.
   */
  shardsPerRound?: number;
  /** How often an idle relay looks for work; `wake()` runs it at once after an append. */
  pollIntervalMs?: number;
  onError?(error: unknown): void;
  onPublished?(count: number): void;
  /** What this process's event store appended lately (see eventstore/recent.ts); default: db's. */
  recent?: RecentAppends;
}

export interface OutboxRelay {
  start(): void;
  /** Stops polling after the round in hand; then publishes what is left once (flush). */
  stop(): Promise<void>;
  /** Runs one round over every shard; resolves to the number of events published. */
  runOnce(): Promise<number>;
  /** Publishes until nothing is pending. */
  flush(): Promise<number>;
  /** Asks for a round as soon as possible (an append just committed). */
  wake(): void;
  /** Events not yet published (for /metrics). */
  depth(): Promise<number>;
}

/** An event row read back from the table: for a position not in the recent appends. */
interface PendingRow {
  position: string;
  org_id: string;
  stream_id: string;
  event_id: string;
  type: string;
  data: unknown;
  metadata: Record<string, unknown>;
  topic: string;
  key: string;
  occurred_at: Date;
}

/** A queued event taken for sending: its queue position and what to publish. */
interface Taken {
  position: string;
  event: PublishableEvent;
}

/**
 * The outbox relay: the event store is the outbox. Unpublished events (outbox_pending) are
 * taken by shard (`FOR UPDATE SKIP LOCKED` under each shard's advisory lock; every shard a round
 * can lock in one transaction), sent with the bus's idempotent acks=all producer, and marked
 * published (their queue rows deleted) in the same transaction only after the broker acked. A crash between ack and mark republishes them: consumers deduplicate on event id.
 * Nothing selects by "position > last seen": positions are not commit order.
 *
 * What a taken position publishes comes from the recent appends of this process's event store
 * when it is there (the row as it was inserted: no read back, no jsonb parse, no re-serializing
 * of metadata), else from the events table. Either way only committed, queued positions go out.
 */
export function createOutboxRelay(options: OutboxRelayOptions): OutboxRelay {
  const { db, bus, codec, source } = options;
  const recent = options.recent ?? recentAppendsOf(db);
  const shardsPerRound = options.shardsPerRound ?? RELAY_SHARDS;
  if (!Number.isInteger(shardsPerRound) || shardsPerRound < 1) {
    throw new Error(`outbox relay shardsPerRound must be a positive integer, got ${shardsPerRound}`);
  }
  const lockClass = relayLockClass(db.schema);
  const batchSize = options.batchSize ?? 500;
  const pollIntervalMs = options.pollIntervalMs ?? 50;
  let running = false;
  let loop: Promise<void> | undefined;
  // Set by wake(); a wake that comes during a round makes the next pause end at once.
  const wakeup = new Wakeup();

  /**
   * One round, one transaction: the shards of `shards` this replica can lock right now (up to
   * shardsPerRound) and their next queued positions, sent in one produce request, then their
   * queue rows deleted and the transaction committed. A failed send rolls it all back.
   */
  const publishRound = async (shards: number[]): Promise<number> => {
    const positions = await withSystem(db.owner, async (trx) => {
      const taken = await take(trx, shards);
      if (taken.length === 0) return [];
      await sendRows(taken);
      const published = taken.map((t) => t.position);
      await trx.raw('delete from outbox_pending where position = any(?::bigint[])', [published]);
      return published;
    });
    recent.forget(positions); // published and marked: never asked for again
    return positions.length;
  };

  /**
   * The shards' next queued positions, locked, for the shards whose lock this replica gets: one
   * statement (each lock is tried once, in the order given, until shardsPerRound are held). Its
   * snapshot may predate a lock, so it can still see rows a replica that just gave the shard up
   * had deleted: locking such a row finds it deleted and skips it, so nothing goes out twice or
   * out of order.
   */
  const take = async (trx: Knex.Transaction, shards: number[]): Promise<Taken[]> => {
    const { rows: queued } = await trx.raw<{ rows: Array<{ position: string }> }>(
      `select q.position
         from (select s.shard from unnest(?::int[]) as s(shard)
                where pg_try_advisory_xact_lock(?, s.shard)
                limit ?) mine
        cross join lateral (
          select p.position from outbox_pending p
           where p.shard = mine.shard
           order by p.position
           limit ?
           for update of p skip locked) q`,
      [shards, lockClass, shardsPerRound, batchSize],
    );
    if (queued.length === 0) return [];
    const taken: Taken[] = [];
    let missing: string[] | undefined;
    for (const { position } of queued) {
      const event = recent.get(position);
      if (event) taken.push({ position, event });
      else (missing ??= []).push(position);
    }
    if (missing) {
      const { rows } = await trx.raw<{ rows: PendingRow[] }>(
        `select e.position, e.org_id, e.stream_id, e.event_id, e.type, e.data, e.metadata, e.topic, e.key, e.occurred_at
           from events e where e.position = any(?::bigint[])`,
        [missing],
      );
      for (const row of rows) taken.push({ position: row.position, event: publishableOf(row) });
    }
    // In queue order: the events of a key go out in the order they were appended.
    return taken.sort((a, b) => comparePositions(a.position, b.position));
  };

  const sendRows = async (rows: Taken[]) => {
    const batches = new Map<string, OutgoingMessage[]>();
    const spans: Span[] = [];
    const add = (topic: string, message: OutgoingMessage) => {
      let list = batches.get(topic);
      if (!list) batches.set(topic, (list = []));
      list.push(message);
    };
    for (const { event } of rows) {
      // Each event's publish continues the trace it was appended in (its stored traceparent).
      const { span, headers } = startProducerSpan(
        event.topic,
        { 'messaging.message.id': event.eventId, 'cmis.org_id': event.orgId },
        contextFromHeaders(traceHeadersOf(event)),
      );
      spans.push(span);
      try {
        // The event store validated the payload against its catalog topic at append; the envelope
        // is built here from typed columns. Encoding need not validate them again.
        const encoded = await codec.encode(event.topic, toEnvelope(event, source), { validated: true });
        add(event.topic, {
          key: event.key,
          value: encoded.value,
          headers: Object.keys(headers).length > 0 ? { ...encoded.headers, ...headers } : encoded.headers,
        });
      } catch (error) {
        // A registry that cannot be reached is transient: the round fails and is retried.
        if (!(error instanceof EncodeError || error instanceof UnknownTopicError)) throw error;
        // Stored but not publishable (fails its topic's schema): dead-letter it, don't block the shard.
        add(`${event.topic}.dlq`, {
          key: event.key,
          value: Buffer.from(JSON.stringify(toEnvelope(event, source))),
          headers: {
            ...headers,
            [DEAD_LETTER_HEADERS.reason]: `outbox: ${(error as Error).message}`.slice(0, 4_000),
            [DEAD_LETTER_HEADERS.topic]: event.topic,
          },
        });
      }
    }
    try {
      // A round bigger than a produce request may carry is split by the bus, in order.
      await bus.publishBatch([...batches].map(([topic, messages]) => ({ topic, messages })));
    } finally {
      for (const span of spans) span.end();
    }
  };

  /**
   * Shards with queued events, from the index alone: an idle relay costs one query a poll (a
   * single read, outside any transaction: it decides nothing, the shard's lock does).
   */
  const busyShards = async (): Promise<number[]> => {
    const { rows } = await db.owner.raw<{ rows: Array<{ shard: number }> }>(
      `select s.shard from generate_series(0, ${RELAY_SHARDS - 1}) as s(shard)
        where exists (select 1 from outbox_pending p where p.shard = s.shard)`,
    );
    return rows.map((r) => r.shard);
  };

  const runOnce = async () => {
    // A random order of the busy shards: replicas try their locks in different orders.
    const busy = (await busyShards()).sort(() => Math.random() - 0.5);
    const published = busy.length > 0 ? await publishRound(busy) : 0;
    if (published > 0) options.onPublished?.(published);
    return published;
  };

  const flush = async () => {
    let total = 0;
    for (;;) {
      const n = await runOnce();
      total += n;
      if (n === 0) return total;
    }
  };

  return {
    start() {
      if (running) return;
      running = true;
      loop = (async () => {
        let failures = 0;
        while (running) {
          try {
            wakeup.reset();
            const n = await runOnce();
            failures = 0;
            if (n === 0) await wakeup.wait(pollIntervalMs);
          } catch (error) {
            options.onError?.(error);
            failures += 1;
            await sleep(backoffDelay(failures));
          }
        }
      })();
    },
    async stop() {
      running = false;
      wakeup.wake();
      await loop;
      loop = undefined;
      await flush().catch((error) => options.onError?.(error));
    },
    runOnce,
    flush,
    wake: () => wakeup.wake(),
    async depth() {
      const { rows } = await withSystem(db.owner, (trx) =>
        trx.raw<{ rows: Array<{ n: string }> }>('select count(*) as n from outbox_pending'),
      );
      return Number(rows[0]?.n ?? 0);
    },
  };
}

function traceHeadersOf(event: PublishableEvent): Record<string, string> {
  const headers: Record<string, string> = {};
  if (event.traceparent !== undefined) headers.traceparent = event.traceparent;
  if (event.tracestate !== undefined) headers.tracestate = event.tracestate;
  return headers;
}

/** Positions are bigints as text: shorter is smaller, else compare the digits. */
function comparePositions(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

/** What a row read back from the table publishes (as the append would have kept it). */
function publishableOf(row: PendingRow): PublishableEvent {
  const { correlationId, causationId, traceparent, tracestate } = row.metadata;
  const text = (value: unknown) => (typeof value === 'string' ? value : undefined);
  return {
    orgId: row.org_id,
    streamId: row.stream_id,
    eventId: row.event_id,
    type: row.type,
    data: row.data,
    topic: row.topic,
    key: row.key,
    time: new Date(row.occurred_at).toISOString(),
    correlationId: text(correlationId),
    causationId: text(causationId),
    traceparent: text(traceparent),
    tracestate: text(tracestate),
  };
}

/** The CloudEvents envelope of a stored event. */
export function toEnvelope(event: PublishableEvent, source: string): EventEnvelope {
  const prefix = `${event.orgId}:`;
  const topic = eventTopicByName(event.topic);
  return {
    id: event.eventId,
    source,
    type: event.type,
    specversion: '1.0',
    time: event.time,
    subject: (event.key.startsWith(prefix) && event.key.slice(prefix.length)) || event.streamId,
    orgId: event.orgId,
    schemaVersion: topic?.schemaVersion ?? 1,
    correlationId: event.correlationId ?? event.eventId,
    causationId: event.causationId ?? null,
    data: event.data,
  };
}
