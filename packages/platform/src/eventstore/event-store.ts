import { compiledSchemaCheck, eventTopicByName } from '@cmis/contracts';
import type { Knex } from 'knex';
import type { z } from 'zod';
import type { Database } from '../db';
import { isPgError, UNIQUE_VIOLATION } from '../db/pg-errors';
import { evolveAll, type Evolver } from './decider';
import { ConcurrencyError, DuplicateEventError, InvalidAppendError } from './errors';
import {
  AppendRequest,
  type AppendResult,
  type EventMetadata,
  type ExpectedVersion,
  type Message,
  type NewEvent,
  type StoredEvent,
  type StreamRef,
} from './types';

export type ReadStreamOptions = { fromVersion?: number };

export type AggregateResult<State> = { state: State; currentVersion: number };

export type EventStore = {
  /**
   * Appends events to a stream inside the caller's transaction (normally withOrg's, so the
   * events and any projection change commit together). Throws ConcurrencyError when the stream
   * is not at `expectedVersion`, including when a concurrent writer wins the race.
   */
  append(trx: Knex.Transaction, request: AppendRequest): Promise<AppendResult>;
  readStream<E extends Message = Message>(
    trx: Knex.Transaction,
    orgId: string,
    streamType: string,
    streamId: string,
    options?: ReadStreamOptions,
  ): Promise<StoredEvent<E>[]>;
  /** Folds the stream into state; version 0 means the stream has no events. */
  aggregateStream<State, E extends Message>(
    trx: Knex.Transaction,
    evolver: Evolver<State, E>,
    orgId: string,
    streamType: string,
    streamId: string,
  ): Promise<AggregateResult<State>>;
};

const STREAM_VERSION_UNIQUE = 'events_stream_version_unique';
const EVENT_ID_UNIQUE = 'events_event_id_unique';
// With expectedVersion 'any' a lost race is not a conflict; try again after the winner.
const ANY_VERSION_ATTEMPTS = 5;

type EventRow = {
  position: string;
  org_id: string;
  stream_type: string;
  stream_id: string;
  stream_version: number;
  event_id: string;
  type: string;
  data: unknown;
  metadata: EventMetadata;
  topic: string | null;
  key: string | null;
  occurred_at: Date;
};

export function createEventStore(db: Pick<Database, 'schema'>): EventStore {
  const events = (trx: Knex.Transaction) => trx.withSchema(db.schema).table('events');

  async function currentVersion(trx: Knex.Transaction, stream: StreamRef): Promise<number> {
    const row = await events(trx)
      .where({ org_id: stream.orgId, stream_type: stream.streamType, stream_id: stream.streamId })
      .max<{ version: number | null }>('stream_version as version')
      .first();
    return row?.version ?? 0;
  }

  async function append(trx: Knex.Transaction, request: AppendRequest): Promise<AppendResult> {
    if (!trx.isTransaction) throw new InvalidAppendError(['append must run inside a transaction (withOrg)']);
    const input = parseAppend(request);
    const stream: StreamRef = { orgId: input.orgId, streamType: input.streamType, streamId: input.streamId };

    for (let attempt = 1; ; attempt++) {
      const current = await currentVersion(trx, stream);
      if (!isAt(current, input.expectedVersion))
        throw new ConcurrencyError(stream, input.expectedVersion, current);
      try {
        // A savepoint, so a lost race leaves the caller's transaction usable for a retry.
        const inserted = await trx.transaction((savepoint) =>
          insertEvents(savepoint, stream, current, input.events),
        );
        return {
          nextVersion: current + input.events.length,
          positions: inserted.map((position) => BigInt(position)),
        };
      } catch (error) {
        if (!isPgError(error, UNIQUE_VIOLATION)) throw error;
        if (error.constraint === EVENT_ID_UNIQUE)
          throw new DuplicateEventError(error.detail ?? error.message);
        if (error.constraint !== STREAM_VERSION_UNIQUE) throw error;
        if (input.expectedVersion === 'any' && attempt < ANY_VERSION_ATTEMPTS) continue;
        throw new ConcurrencyError(stream, input.expectedVersion, await currentVersion(trx, stream));
      }
    }
  }

  /**
   * One statement with one parameter whatever the number of events: the rows as a JSON array
   * (payloads spliced in as the JSON text they already are), not a placeholder per column and row.
   */
  async function insertEvents(
    trx: Knex.Transaction,
    stream: StreamRef,
    current: number,
    toInsert: ParsedAppend['events'],
  ): Promise<string[]> {
    const rows = toInsert.map(
      (event, index) =>
        `{"ord":${index + 1},"event_id":${JSON.stringify(event.id)},"type":${JSON.stringify(event.type)},"data":${event.data},` +
        `"metadata":${event.metadata},"topic":${JSON.stringify(event.topic ?? null)},` +
        `"key":${JSON.stringify(event.key ?? (event.topic ? `${stream.orgId}:${stream.streamId}` : null))},` +
        `"occurred_at":${JSON.stringify(event.occurredAt.toISOString())}}`,
    );
    const { rows: inserted } = await trx.raw<{ rows: Array<{ position: string }> }>(
      `insert into ??.events
         (org_id, stream_type, stream_id, stream_version, event_id, type, data, metadata, topic, key, occurred_at)
       select ?::uuid, ?, ?, ?::integer + x.ord, x.event_id, x.type, x.data, x.metadata, x.topic, x.key, x.occurred_at
         from jsonb_to_recordset(?::jsonb) as x(ord integer, event_id uuid, type text, data jsonb, metadata jsonb,
              topic text, key text, occurred_at timestamptz)
        order by x.ord
       returning position`,
      [db.schema, stream.orgId, stream.streamType, stream.streamId, current, `[${rows.join(',')}]`],
    );
    return inserted.map((row) => row.position);
  }

  async function readStream<E extends Message = Message>(
    trx: Knex.Transaction,
    orgId: string,
    streamType: string,
    streamId: string,
    options: ReadStreamOptions = {},
  ): Promise<StoredEvent<E>[]> {
    const rows = await events(trx)
      .where({ org_id: orgId, stream_type: streamType, stream_id: streamId })
      .andWhere('stream_version', '>=', options.fromVersion ?? 1)
      .orderBy('stream_version')
      .select<EventRow[]>('*');
    return rows.map((row) => toStoredEvent<E>(row));
  }

  async function aggregateStream<State, E extends Message>(
    trx: Knex.Transaction,
    evolver: Evolver<State, E>,
    orgId: string,
    streamType: string,
    streamId: string,
  ): Promise<AggregateResult<State>> {
    const stored = await readStream<E>(trx, orgId, streamType, streamId);
    const state = evolveAll<State, E>(evolver, stored);
    return { state, currentVersion: stored.at(-1)?.streamVersion ?? 0 };
  }

  return { append, readStream, aggregateStream };
}

function isAt(current: number, expected: ExpectedVersion): boolean {
  if (expected === 'any') return true;
  if (expected === 'no_stream') return current === 0;
  return current === expected;
}

type ParsedAppend = Omit<AppendRequest, 'events'> & {
  events: Array<Omit<NewEvent, 'data' | 'metadata'> & { data: string; metadata: string }>;
};

function parseAppend(request: AppendRequest): ParsedAppend {
  const parsed = AppendRequest.safeParse(request);
  if (!parsed.success) {
    throw new InvalidAppendError(
      parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`),
    );
  }
  // Serialized here: pg would turn a top-level array into a Postgres array, not JSON.
  const events = parsed.data.events.map((event, index) => {
    const data = toJson(contractData(event, index), `events.${index}.data`);
    return { ...event, data, metadata: toJson(event.metadata, `events.${index}.metadata`) };
  });
  return { ...parsed.data, events };
}

/**
 * An event bound for a catalog topic must be one of that topic's event types with a valid payload:
 * bad input never reaches the table, and the relay publishes it without validating it again.
 * Other topics (a service's private ones) are not checked here.
 */
function contractData(event: { type: string; data?: unknown; topic?: string }, index: number): unknown {
  const contract = event.topic === undefined ? undefined : eventTopicByName(event.topic);
  if (!contract) return event.data;
  const schema = (contract.events as Record<string, z.ZodTypeAny>)[event.type];
  if (!schema)
    throw new InvalidAppendError([`events.${index}.type: ${event.type} is not an event of ${contract.name}`]);
  const fast = compiledSchemaCheck(schema);
  if (fast) {
    // The compiled check (see contracts' compiled-validator) judges plain JSON, so it gets a
    // copy: what it accepts is exactly what will be stored. Rejections are zod's to explain.
    const copy = jsonCopy(event.data);
    if (copy !== undefined && fast(copy)) return copy;
  }
  const parsed = schema.safeParse(event.data);
  if (!parsed.success) {
    throw new InvalidAppendError(
      parsed.error.issues.map((issue) => `events.${index}.data.${issue.path.join('.')}: ${issue.message}`),
    );
  }
  return parsed.data;
}

function jsonCopy(value: unknown): unknown {
  try {
    const json = JSON.stringify(value);
    return json === undefined ? undefined : JSON.parse(json);
  } catch {
    return undefined;
  }
}

function toJson(value: unknown, path: string): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (error) {
    throw new InvalidAppendError([`${path}: ${(error as Error).message}`]);
  }
  if (json === undefined) throw new InvalidAppendError([`${path}: not JSON`]);
  return json;
}

function toStoredEvent<E extends Message>(row: EventRow): StoredEvent<E> {
  return {
    type: row.type,
    data: row.data,
    metadata: row.metadata,
    id: row.event_id,
    position: BigInt(row.position),
    orgId: row.org_id,
    streamType: row.stream_type,
    streamId: row.stream_id,
    streamVersion: row.stream_version,
    topic: row.topic,
    key: row.key,
    occurredAt: row.occurred_at,
  } as StoredEvent<E>; // the store trusts what it wrote: events were built by the same code's types
}
