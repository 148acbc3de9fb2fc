import {
  EncodeError,
  eventTopicByName,
  UnknownTopicError,
  type Codec,
  type EventEnvelope,
} from '@cmis/contracts';
import { context, propagation, trace, SpanKind, type Span } from '@opentelemetry/api';
import type { Knex } from 'knex';
import { backoffDelay, sleep, type Bus, type OutgoingMessage } from '../bus';
import { DEAD_LETTER_HEADERS } from '../bus';
import { withSystem, type Database } from '../db';
import { CARRIED_TRACEPARENT, CARRIED_TRACESTATE, contextFromHeaders } from '../telemetry';
import { RELAY_LOCK_CLASS, RELAY_SHARDS, shardExpression } from './shards';

export interface OutboxRelayOptions {
  db: Database;
  bus: Bus;
  codec: Pick<Codec, 'encode'>;
  /** CloudEvents source of everything this service publishes, e.g. `/cmis/rules`. */
  source: string;
  batchSize?: number;
  /** How often an idle relay looks for work; `wake()` runs it at once after an append. */
  pollIntervalMs?: number;
  onError?(error: unknown): void;
  onPublished?(count: number): void;
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

/**
 * The outbox relay: the event store is the outbox. Unpublished events are taken per shard
 * (`FOR UPDATE SKIP LOCKED` under the shard's advisory lock), sent with the bus's idempotent
 * acks=all producer, and marked published in the same transaction only after the broker
 * acked. A crash between ack and mark republishes them: consumers deduplicate on event id.
 * Nothing selects by "position > last seen": positions are not commit order.
 */
export function createOutboxRelay(options: OutboxRelayOptions): OutboxRelay {
  const { db, bus, codec, source } = options;
  const batchSize = options.batchSize ?? 500;
  const pollIntervalMs = options.pollIntervalMs ?? 50;
  let running = false;
  let loop: Promise<void> | undefined;
  let wakeUp: (() => void) | undefined;
  let woken = false;

  const publishShard = (shard: number) =>
    withSystem(db.owner, async (trx) => {
      const lock = await trx.raw<{ rows: Array<{ ok: boolean }> }>(
        'select pg_try_advisory_xact_lock(?, ?) as ok',
        [RELAY_LOCK_CLASS, shard],
      );
      if (!lock.rows[0]?.ok) return 0; // another replica owns this shard right now
      const { rows } = await trx.raw<{ rows: PendingRow[] }>(
        `select position, org_id, stream_id, event_id, type, data, metadata, topic, key, occurred_at
           from events
          where topic is not null and published_at is null and ${shardExpression} = ?
          order by position
          limit ?
          for update skip locked`,
        [shard, batchSize],
      );
      if (rows.length === 0) return 0;
      await publishRows(trx, rows);
      return rows.length;
    });

  const publishRows = async (trx: Knex.Transaction, rows: PendingRow[]) => {
    const batches = new Map<string, OutgoingMessage[]>();
    const spans: Span[] = [];
    const add = (topic: string, message: OutgoingMessage) => {
      const list = batches.get(topic) ?? [];
      list.push(message);
      batches.set(topic, list);
    };
    for (const row of rows) {
      const span = trace.getTracer('cmis').startSpan(
        `publish ${row.topic}`,
        {
          kind: SpanKind.PRODUCER,
          attributes: {
            'messaging.system': 'kafka',
            'messaging.destination.name': row.topic,
            'messaging.message.id': row.event_id,
          },
        },
        contextFromHeaders(traceHeadersOf(row.metadata)),
      );
      spans.push(span);
      const headers: Record<string, string> = {};
      propagation.inject(trace.setSpan(context.active(), span), headers);
      // Survives the kafkajs instrumentation's own injection (see CARRIED_TRACEPARENT).
      if (headers.traceparent) headers[CARRIED_TRACEPARENT] = headers.traceparent;
      if (headers.tracestate) headers[CARRIED_TRACESTATE] = headers.tracestate;
      try {
        const encoded = await codec.encode(row.topic, toEnvelope(row, source));
        add(row.topic, { key: row.key, value: encoded.value, headers: { ...encoded.headers, ...headers } });
      } catch (error) {
        // A registry that cannot be reached is transient: the round fails and is retried.
        if (!(error instanceof EncodeError || error instanceof UnknownTopicError)) throw error;
        // Stored but not publishable (fails its topic's schema): dead-letter it, don't block the shard.
        add(`${row.topic}.dlq`, {
          key: row.key,
          value: Buffer.from(JSON.stringify(toEnvelope(row, source))),
          headers: {
            ...headers,
            [DEAD_LETTER_HEADERS.reason]: `outbox: ${(error as Error).message}`.slice(0, 4_000),
            [DEAD_LETTER_HEADERS.topic]: row.topic,
          },
        });
      }
    }
    try {
      await bus.publishBatch([...batches].map(([topic, messages]) => ({ topic, messages })));
    } finally {
      for (const span of spans) span.end();
    }
    await trx.raw('update events set published_at = now() where position = any(?::bigint[])', [
      rows.map((r) => r.position),
    ]);
  };

  const runOnce = async () => {
    const order = Array.from({ length: RELAY_SHARDS }, (_, i) => i).sort(() => Math.random() - 0.5);
    let published = 0;
    for (const shard of order) published += await publishShard(shard);
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

  const idle = () =>
    new Promise<void>((resolve) => {
      if (woken) {
        woken = false;
        resolve();
        return;
      }
      const timer = setTimeout(done, pollIntervalMs);
      function done() {
        clearTimeout(timer);
        wakeUp = undefined;
        resolve();
      }
      wakeUp = done;
    });

  return {
    start() {
      if (running) return;
      running = true;
      loop = (async () => {
        let failures = 0;
        while (running) {
          try {
            const n = await runOnce();
            failures = 0;
            if (n === 0) await idle();
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
      wakeUp?.();
      await loop;
      loop = undefined;
      await flush().catch((error) => options.onError?.(error));
    },
    runOnce,
    flush,
    wake() {
      if (wakeUp) wakeUp();
      else woken = true;
    },
    async depth() {
      const { rows } = await withSystem(db.owner, (trx) =>
        trx.raw<{ rows: Array<{ n: string }> }>(
          'select count(*) as n from events where topic is not null and published_at is null',
        ),
      );
      return Number(rows[0]?.n ?? 0);
    },
  };
}

function traceHeadersOf(metadata: Record<string, unknown>): Record<string, string> {
  const headers: Record<string, string> = {};
  if (typeof metadata.traceparent === 'string') headers.traceparent = metadata.traceparent;
  if (typeof metadata.tracestate === 'string') headers.tracestate = metadata.tracestate;
  return headers;
}

/** The CloudEvents envelope of a stored event. */
export function toEnvelope(row: PendingRow, source: string): EventEnvelope {
  const prefix = `${row.org_id}:`;
  const topic = eventTopicByName(row.topic);
  return {
    id: row.event_id,
    source,
    type: row.type,
    specversion: '1.0',
    time: new Date(row.occurred_at).toISOString(),
    subject: row.key.startsWith(prefix) ? row.key.slice(prefix.length) : row.stream_id,
    orgId: row.org_id,
    schemaVersion: topic?.schemaVersion ?? 1,
    correlationId: typeof row.metadata.correlationId === 'string' ? row.metadata.correlationId : row.event_id,
    causationId: typeof row.metadata.causationId === 'string' ? row.metadata.causationId : null,
    data: row.data,
  };
}
