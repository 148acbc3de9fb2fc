// Enrolls a contact in the latest published version of a workflow (rules' action, the API).
import type { Knex } from 'knex';
import type { WorkflowStore } from '../definitions/store';
import type { Chain, EnrollOutcome, EntryKind, Runner } from './runner';

export async function enrollLatest(
  trx: Knex.Transaction,
  orgId: string,
  deps: { store: WorkflowStore; runner: Runner },
  request: {
    workflowId: string;
    contactId: string;
    entry: EntryKind;
    causeId: string;
    at: Date;
    chain?: Chain;
  },
): Promise<EnrollOutcome> {
  const workflow = await deps.store.get(trx, request.workflowId);
  if (!workflow || workflow.status !== 'active' || workflow.latestVersion === null) {
    const reason = !workflow ? 'no such workflow' : `workflow is ${workflow.status}`;
    await deps.runner.record(
      trx,
      orgId,
      request.contactId,
      request.workflowId,
      {
        kind: 'entry',
        outcome: 'not_entered',
        inputs: { reason, causeId: request.causeId, entry: request.entry },
      },
      request.at,
    );
    return { entered: false, reason };
  }
  const compiled = await deps.store.compiled(trx, orgId, request.workflowId, workflow.latestVersion);
  return deps.runner.enroll(trx, orgId, {
    ...request,
    version: compiled.version,
    definition: compiled.definition,
  });
}
