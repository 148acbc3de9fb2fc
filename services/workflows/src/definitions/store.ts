// Runs workflow commands on the event store and keeps the read models (workflows, versions) in
// the same transaction; compiled versions are cached per process (a version never changes).
import { handleCommand, projectAppended, withOrg, type ServiceRuntime } from '@cmis/platform';
import type { Knex } from 'knex';
import type { CompiledWorkflow } from '../instances/engine';
import { compileWorkflow } from './compile';
import { workflowDecider, type WorkflowCommand, type WorkflowState } from './definitions';
import { WORKFLOW_STREAM, workflowsProjection } from './projection';
import type { WorkflowDefinition } from './workflow';

export { WORKFLOW_STREAM } from './projection';

export interface StoredWorkflow {
  workflowId: string;
  name: string;
  status: string;
  draft: Record<string, unknown>;
  revision: number;
  latestVersion: number | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface PublishedVersion {
  workflowId: string;
  version: number;
  definition: WorkflowDefinition;
  publishedAt: Date;
}

export interface WorkflowStore {
  execute(trx: Knex.Transaction, orgId: string, command: WorkflowCommand): Promise<WorkflowState>;
  get(trx: Knex.Transaction, workflowId: string): Promise<StoredWorkflow | undefined>;
  list(trx: Knex.Transaction): Promise<StoredWorkflow[]>;
  version(trx: Knex.Transaction, workflowId: string, version: number): Promise<PublishedVersion | undefined>;
  /** The latest version of every active workflow. */
  active(trx: Knex.Transaction): Promise<PublishedVersion[]>;
  compiled(
    trx: Knex.Transaction,
    orgId: string,
    workflowId: string,
    version: number,
  ): Promise<CompiledWorkflow>;
}

const toWorkflow = (r: Record<string, unknown>): StoredWorkflow => ({
  workflowId: r.workflow_id as string,
  name: r.name as string,
  status: r.status as string,
  draft: r.draft as Record<string, unknown>,
  revision: r.revision as number,
  latestVersion: (r.latest_version as number | null) ?? null,
  createdAt: r.created_at as Date,
  updatedAt: r.updated_at as Date,
});

const toVersion = (r: Record<string, unknown>): PublishedVersion => ({
  workflowId: r.workflow_id as string,
  version: r.version as number,
  definition: r.definition as WorkflowDefinition,
  publishedAt: r.published_at as Date,
});

const MAX_COMPILED = 5_000;

export function createWorkflowStore(rt: ServiceRuntime): WorkflowStore {
  const compiledCache = new Map<string, CompiledWorkflow>();
  const store: WorkflowStore = {
    async execute(trx, orgId, command) {
      const { newState, newEvents } = await handleCommand(
        rt.eventStore,
        trx,
        workflowDecider,
        { orgId, streamType: WORKFLOW_STREAM, streamId: command.data.workflowId },
        command,
        { now: () => new Date(command.metadata.at) },
      );
      if (newState.status === 'absent' || newEvents.length === 0) return newState;
      await projectAppended(trx, workflowsProjection, {
        orgId,
        streamId: command.data.workflowId,
        state: newState,
        events: newEvents,
      });
      return newState;
    },
    async get(trx, workflowId) {
      const row = await trx('workflows').where({ workflow_id: workflowId }).first();
      return row ? toWorkflow(row) : undefined;
    },
    async list(trx) {
      return (await trx('workflows').orderBy('created_at')).map(toWorkflow);
    },
    async version(trx, workflowId, version) {
      const row = await trx('workflow_versions').where({ workflow_id: workflowId, version }).first();
      return row ? toVersion(row) : undefined;
    },
    async active(trx) {
      const rows = await trx('workflow_versions as v')
        .join('workflows as w', function () {
          this.on('w.org_id', 'v.org_id')
            .andOn('w.workflow_id', 'v.workflow_id')
            .andOn('w.latest_version', 'v.version');
        })
        .where('w.status', 'active')
        .select('v.*');
      return rows.map(toVersion);
    },
    async compiled(trx, orgId, workflowId, version) {
      const key = `${orgId}\u0000${workflowId}\u0000${version}`;
      let c = compiledCache.get(key);
      if (!c) {
        const v = await store.version(trx, workflowId, version);
        if (!v) throw new Error(`workflow ${workflowId} has no version ${version}`);
        c = compileWorkflow(workflowId, version, v.definition);
        if (compiledCache.size >= MAX_COMPILED) compiledCache.delete(compiledCache.keys().next().value!);
        compiledCache.set(key, c);
      }
      return c;
    },
  };
  return store;
}

export const readOrg = <T>(rt: ServiceRuntime, orgId: string, fn: (trx: Knex.Transaction) => Promise<T>) =>
  withOrg(rt.db.app, orgId, fn);
