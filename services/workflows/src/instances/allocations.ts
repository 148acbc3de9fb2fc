// Bandit allocations of random splits: analytics publishes allocation-updated on its decisions
// topic; this projection keeps the highest revision per split, and the runner hands a workflow's
// allocations to the engine (which stays pure) when the workflow has a bandit split.
import { analyticsDecisionsTopic, type AllocationUpdated } from '@cmis/contracts';
import type { ServiceRuntime } from '@cmis/platform';
import type { Knex } from 'knex';
import type { CompiledWorkflow, SplitAllocation } from './engine';

export async function startAllocationConsumer(rt: ServiceRuntime): Promise<void> {
  await rt.consume({
    groupId: `${rt.name}.split-allocations`,
    topics: [analyticsDecisionsTopic.name],
    handle: async ({ envelope }, { trx, orgId }) => {
      if (envelope.type !== 'cmis.analytics.allocation-updated') return;
      const data = envelope.data as AllocationUpdated;
      if (data.kind !== 'workflow_split' || !data.workflowId || !data.stepId) return;
      await keepAllocation(trx, orgId, data);
    },
  });
}

/** Upserts the split's allocation unless the kept one is as new or newer (by revision). */
export async function keepAllocation(
  trx: Knex.Transaction,
  orgId: string,
  data: AllocationUpdated,
): Promise<boolean> {
  const weights = Object.fromEntries(data.variants.map((v) => [v.variantId, v.weight]));
  const rows = await trx('split_allocations')
    .insert({
      org_id: orgId,
      workflow_id: data.workflowId,
      step_id: data.stepId,
      revision: data.revision,
      as_of: data.asOf,
      metric: data.metric,
      weights: JSON.stringify(weights),
      updated_at: trx.fn.now(),
    })
    .onConflict(['org_id', 'workflow_id', 'step_id'])
    .merge(['revision', 'as_of', 'metric', 'weights', 'updated_at'])
    .where('split_allocations.revision', '<', trx.raw('excluded.revision'))
    .returning('revision');
  return rows.length > 0;
}

export const hasBanditSplit = (workflow: CompiledWorkflow): boolean =>
  workflow.definition.steps.some((s) => s.kind === 'random_split' && s.allocation === 'bandit');

/** The workflow's kept allocations by step id; no query for a workflow without a bandit split. */
export async function allocationsOf(
  trx: Knex.Transaction,
  orgId: string,
  workflow: CompiledWorkflow,
): Promise<Record<string, SplitAllocation> | undefined> {
  if (!hasBanditSplit(workflow)) return undefined;
  const rows = (await trx('split_allocations')
    .where({ org_id: orgId, workflow_id: workflow.workflowId })
    .select('step_id', 'revision', 'as_of', 'weights')) as Array<{
    step_id: string;
    revision: number;
    as_of: Date;
    weights: Record<string, number>;
  }>;
  return Object.fromEntries(
    rows.map((r) => [r.step_id, { revision: r.revision, asOf: r.as_of.toISOString(), weights: r.weights }]),
  );
}
