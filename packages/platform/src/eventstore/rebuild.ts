// Rebuilding a read model from the event store. A projection names the stream type it folds,
// the tables it owns, and the one function that writes its rows after an append: the command
// path calls it with the events it just appended, the rebuild with every stored event in order.
import type { Knex } from 'knex';
import { withOrg, withSystem, type Database } from '../db';
import type { Evolver } from './decider';
import type { Message } from './types';

/** What an append changed in one stream: its state after `event`, and that event. */
export interface ProjectionChange<State, E extends Message> {
  orgId: string;
  streamId: string;
  state: State;
  event: E;
}

export interface RebuildableProjection<State = never, E extends Message = Message> {
  /** As the CLI names it: `cmis rebuild <service> --projection <name>`. */
  name: string;
  streamType: string;
  /** Every table the projection writes; each has org_id and is emptied for the org first. */
  tables: readonly string[];
  evolver: Evolver<State, E>;
  /**
   * Writes the rows one event changes. It must upsert (a rebuild may meet a row a concurrent
   * command committed meanwhile) and derive rows from `state`, the whole stream folded, never
   * from the rows already there.
   */
  apply(trx: Knex.Transaction, change: ProjectionChange<State, E>): Promise<void>;
}

/**
 * The command path's write: every event one command appended, each with the stream's state after
 * the command (the rows a rebuild writes for the last of them are the same).
 */
export async function projectAppended<State, E extends Message>(
  trx: Knex.Transaction,
  projection: RebuildableProjection<State, E>,
  change: { orgId: string; streamId: string; state: State; events: readonly E[] },
): Promise<void> {
  const { orgId, streamId, state } = change;
  for (const event of change.events) await projection.apply(trx, { orgId, streamId, state, event });
}

export interface RebuildReport {
  projection: string;
  orgs: number;
  streams: number;
  events: number;
}

type Row = {
  stream_id: string;
  stream_version: number;
  event_id: string;
  type: string;
  data: unknown;
  metadata: unknown;
};

/**
 * Rebuilds a projection for the given orgs (default: every org with a stream of its type), one
 * transaction per org: the org's rows are deleted, then every stream is folded in version order
 * and written with the projection's own `apply`. A command running meanwhile loses nothing: it
 * upserts rows from the full stream it read, and the delete comes before the read of the events,
 * so under READ COMMITTED either the rebuild sees the command's events (committed before its read)
 * or the command's upsert, blocked on the row the rebuild deleted or wrote, lands after it.
 */
export async function rebuildProjection<State, E extends Message>(
  db: Database,
  projection: RebuildableProjection<State, E>,
  options: { orgIds?: readonly string[] } = {},
): Promise<RebuildReport> {
  const orgIds = options.orgIds ?? (await orgsWithStreams(db, projection.streamType));
  const report: RebuildReport = { projection: projection.name, orgs: 0, streams: 0, events: 0 };
  for (const orgId of orgIds) {
    await withOrg(db.app, orgId, async (trx) => {
      for (const table of projection.tables) await trx(table).where({ org_id: orgId }).delete();
      const rows = await trx
        .withSchema(db.schema)
        .table('events')
        .where({ org_id: orgId, stream_type: projection.streamType })
        .orderBy([{ column: 'stream_id' }, { column: 'stream_version' }])
        .select<Row[]>('stream_id', 'stream_version', 'event_id', 'type', 'data', 'metadata');
      let streamId: string | undefined;
      let state = projection.evolver.initialState();
      for (const row of rows) {
        if (row.stream_id !== streamId) {
          streamId = row.stream_id;
          state = projection.evolver.initialState();
          report.streams += 1;
        }
        // The store trusts what it wrote: these events were appended by the same code's types.
        const event = { type: row.type, data: row.data, metadata: row.metadata } as E;
        state = projection.evolver.evolve(state, event);
        await projection.apply(trx, { orgId, streamId, state, event });
        report.events += 1;
      }
    });
    report.orgs += 1;
  }
  return report;
}

/** Orgs are listed across tenants, which only the owner connection may do. */
async function orgsWithStreams(db: Database, streamType: string): Promise<string[]> {
  const rows = await withSystem(db.owner, (trx) =>
    trx.withSchema(db.schema).table('events').distinct('org_id').where({ stream_type: streamType }),
  );
  return (rows as Array<{ org_id: string }>).map((r) => r.org_id).sort();
}
