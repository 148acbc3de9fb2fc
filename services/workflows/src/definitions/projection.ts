// The `workflows` and `workflow_versions` read models as a rebuildable projection of the workflow
// streams: the command path writes them through `apply`, `cmis rebuild workflows` refolds every
// stream through the same code.
import type { RebuildableProjection } from '@cmis/platform';
import { workflowDecider, type WorkflowEvent, type WorkflowState } from './definitions';

export const WORKFLOW_STREAM = 'workflow';

export const workflowsProjection: RebuildableProjection<WorkflowState, WorkflowEvent> = {
  name: 'workflows',
  streamType: WORKFLOW_STREAM,
  tables: ['workflows', 'workflow_versions'],
  evolver: workflowDecider,
  async apply(trx, { orgId, streamId: workflowId, state, event }) {
    if (state.status === 'absent') return;
    const name = typeof state.draft.name === 'string' ? state.draft.name : workflowId;
    await trx('workflows')
      .insert({
        org_id: orgId,
        workflow_id: workflowId,
        name,
        status: state.status,
        draft: JSON.stringify(state.draft),
        revision: state.revision,
        latest_version: state.latestVersion ?? null,
        created_at: state.createdAt,
        updated_at: state.updatedAt,
      })
      .onConflict(['org_id', 'workflow_id'])
      .merge(['name', 'status', 'draft', 'revision', 'latest_version', 'updated_at']);
    if (event.type !== 'workflows.workflow-published') return;
    // A version never changes: one a concurrent command wrote meanwhile is the same row.
    await trx('workflow_versions')
      .insert({
        org_id: orgId,
        workflow_id: workflowId,
        version: event.data.version,
        definition: JSON.stringify(event.data.definition),
        entry_event: event.data.definition.entry.event ?? null,
        published_at: event.metadata.at,
      })
      .onConflict(['org_id', 'workflow_id', 'version'])
      .ignore();
  },
};
