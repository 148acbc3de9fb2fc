// Runs segment commands on the event store and keeps seg_definitions in the same transaction.
// The org's segments, compiled, are cached per process; the API invalidates them (across
// replicas) after each change commits.
import { handleCommand, withOrg, type InvalidatingCache, type ServiceRuntime } from '@cmis/platform';
import type { Knex } from 'knex';
import { compileSegment, type CompiledSegment, type SegmentInput } from './definition';
import { segmentDecider, type SegmentCommand } from './versions';

export const SEGMENT_STREAM = 'analytics-segment';

export interface StoredSegment {
  segmentId: string;
  name: string;
  version: number;
  definition: SegmentInput['definition'];
  createdAt: Date;
  updatedAt: Date;
}

const toSegment = (r: Record<string, unknown>): StoredSegment => ({
  segmentId: r.segment_id as string,
  name: r.name as string,
  version: r.version as number,
  definition: r.definition as SegmentInput['definition'],
  createdAt: r.created_at as Date,
  updatedAt: r.updated_at as Date,
});

export function createSegmentStore(rt: ServiceRuntime) {
  const compiled: InvalidatingCache<CompiledSegment[]> = rt.redis.invalidatingCache<CompiledSegment[]>({
    name: `${rt.name}.segments`,
    ttlMs: 5 * 60_000,
    loader: (orgId) =>
      withOrg(rt.db.app, orgId, async (trx) =>
        (await trx('seg_definitions').orderBy('segment_id')).map((r) => {
          const s = toSegment(r);
          return compileSegment(s.segmentId, s.version, { name: s.name, definition: s.definition });
        }),
      ),
  });

  return {
    compiled,
    async execute(trx: Knex.Transaction, orgId: string, command: SegmentCommand): Promise<StoredSegment> {
      const { newState } = await handleCommand(
        rt.eventStore,
        trx,
        segmentDecider,
        { orgId, streamType: SEGMENT_STREAM, streamId: command.data.segmentId },
        command,
        { now: () => new Date(command.metadata.at) },
      );
      if (newState.status === 'absent') throw new Error('a segment command left no segment');
      const row = {
        org_id: orgId,
        segment_id: command.data.segmentId,
        name: newState.segment.name,
        version: newState.version,
        definition: JSON.stringify(newState.segment.definition),
        created_at: newState.createdAt,
        updated_at: newState.updatedAt,
      };
      await trx('seg_definitions')
        .insert(row)
        .onConflict(['org_id', 'segment_id'])
        .merge(['name', 'version', 'definition', 'updated_at']);
      return toSegment({
        ...row,
        definition: newState.segment.definition,
        created_at: new Date(row.created_at),
        updated_at: new Date(row.updated_at),
      });
    },
    async get(trx: Knex.Transaction, segmentId: string): Promise<StoredSegment | undefined> {
      const row = await trx('seg_definitions').where({ segment_id: segmentId }).first();
      return row ? toSegment(row) : undefined;
    },
    async list(trx: Knex.Transaction): Promise<StoredSegment[]> {
      return (await trx('seg_definitions').orderBy('created_at')).map(toSegment);
    },
  };
}
export type SegmentStore = ReturnType<typeof createSegmentStore>;
