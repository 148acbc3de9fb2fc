// A workflow's own stream, the audit trail of its definition: created, draft edits (free, any
// shape), publications (immutable versions, checked whole) and archival. Pure.
import { ConflictError, NotFoundError, type Decider } from '@cmis/platform';
import type { WorkflowDefinition } from './workflow';

export type Draft = Record<string, unknown>;
type Meta = { actor: string; at: string; correlationId?: string };

export type WorkflowCommand =
  | { type: 'CreateWorkflow'; data: { workflowId: string; draft: Draft }; metadata: Meta }
  | {
      type: 'UpdateDraft';
      data: { workflowId: string; draft: Draft; expectedRevision?: number };
      metadata: Meta;
    }
  | { type: 'PublishWorkflow'; data: { workflowId: string; definition: WorkflowDefinition }; metadata: Meta }
  | { type: 'ArchiveWorkflow'; data: { workflowId: string }; metadata: Meta };

export type WorkflowEvent =
  | { type: 'workflows.workflow-created'; data: { workflowId: string; draft: Draft }; metadata: Meta }
  | {
      type: 'workflows.draft-updated';
      data: { workflowId: string; draft: Draft; revision: number; basedOnVersion?: number };
      metadata: Meta;
    }
  | {
      type: 'workflows.workflow-published';
      data: { workflowId: string; version: number; definition: WorkflowDefinition; revision: number };
      metadata: Meta;
    }
  | { type: 'workflows.workflow-archived'; data: { workflowId: string }; metadata: Meta };

export type WorkflowState =
  | { status: 'absent' }
  | {
      status: 'draft' | 'active' | 'archived';
      draft: Draft;
      revision: number;
      latestVersion?: number;
      createdAt: string;
      updatedAt: string;
    };

export class WorkflowNotFoundError extends NotFoundError {
  constructor(readonly workflowId: string) {
    super(`no workflow ${workflowId}`);
  }
}

/** 409: an edit based on an older revision, or a change to an archived workflow. */
export class WorkflowConflictError extends ConflictError {}

export const workflowDecider: Decider<WorkflowState, WorkflowCommand, WorkflowEvent> = {
  initialState: () => ({ status: 'absent' }),
  decide(command, state) {
    const { metadata } = command;
    if (command.type === 'CreateWorkflow') {
      if (state.status !== 'absent')
        throw new WorkflowConflictError(`workflow ${command.data.workflowId} exists`);
      return [{ type: 'workflows.workflow-created', data: command.data, metadata }];
    }
    if (state.status === 'absent') throw new WorkflowNotFoundError(command.data.workflowId);
    if (state.status === 'archived')
      throw new WorkflowConflictError(`workflow ${command.data.workflowId} is archived`);
    switch (command.type) {
      case 'UpdateDraft': {
        const { expectedRevision, ...data } = command.data;
        if (expectedRevision !== undefined && expectedRevision !== state.revision)
          throw new WorkflowConflictError(
            `the draft is at revision ${state.revision}, not ${expectedRevision}`,
          );
        return [
          {
            type: 'workflows.draft-updated',
            data: {
              ...data,
              revision: state.revision + 1,
              ...(state.latestVersion ? { basedOnVersion: state.latestVersion } : {}),
            },
            metadata,
          },
        ];
      }
      case 'PublishWorkflow':
        return [
          {
            type: 'workflows.workflow-published',
            data: { ...command.data, version: (state.latestVersion ?? 0) + 1, revision: state.revision },
            metadata,
          },
        ];
      case 'ArchiveWorkflow':
        return [{ type: 'workflows.workflow-archived', data: command.data, metadata }];
    }
  },
  evolve(state, event) {
    const at = event.metadata.at;
    switch (event.type) {
      case 'workflows.workflow-created':
        return { status: 'draft', draft: event.data.draft, revision: 1, createdAt: at, updatedAt: at };
      case 'workflows.draft-updated':
        return state.status === 'absent'
          ? state
          : { ...state, draft: event.data.draft, revision: event.data.revision, updatedAt: at };
      case 'workflows.workflow-published':
        return state.status === 'absent'
          ? state
          : { ...state, status: 'active', latestVersion: event.data.version, updatedAt: at };
      case 'workflows.workflow-archived':
        return state.status === 'absent' ? state : { ...state, status: 'archived', updatedAt: at };
    }
  },
};
