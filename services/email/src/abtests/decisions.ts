// Analytics' experiment decisions applied to broadcasts: a winner decided for a broadcast's A/B
// test (experiment id = broadcast id) goes to the rest of its audience. A broadcast still in its
// test window moves on to the rest at once; one already sending the rest switches the variant
// for the members not reached yet. A winner that is not one of the test's variants is ignored.
import { analyticsDecisionsTopic, type ExperimentDecided } from '@cmis/contracts';
import type { ServiceRuntime } from '@cmis/platform';
import type { Knex } from 'knex';

export type DecisionOutcome = 'ignored' | 'rest_started' | 'winner_switched';

export async function applyExperimentDecision(
  trx: Knex.Transaction,
  orgId: string,
  decision: ExperimentDecided,
  at: Date,
): Promise<DecisionOutcome> {
  if (decision.kind !== 'email' || !decision.winnerVariantId) return 'ignored';
  const row = (await trx('broadcasts')
    .where({ org_id: orgId, broadcast_id: decision.experimentId })
    .forUpdate()
    .first()) as
    | { status: string; phase: string; definition: { abTest?: { variants: Array<{ variantId: string }> } } }
    | undefined;
  const variants = row?.definition.abTest?.variants ?? [];
  if (!row || !variants.some((v) => v.variantId === decision.winnerVariantId)) return 'ignored';
  const where = { org_id: orgId, broadcast_id: decision.experimentId };
  if (row.status === 'testing') {
    await trx('broadcasts').where(where).update({
      status: 'sending',
      phase: 'rest',
      cursor: 0,
      winner_variant_id: decision.winnerVariantId,
      next_at: at,
      leased_until: null,
    });
    return 'rest_started';
  }
  if (row.phase === 'rest' && row.status !== 'completed') {
    await trx('broadcasts').where(where).update({ winner_variant_id: decision.winnerVariantId });
    return 'winner_switched';
  }
  return 'ignored';
}

export async function startExperimentDecisionConsumer(
  rt: ServiceRuntime,
  deps: { now: () => Date; onApplied?: () => void },
): Promise<void> {
  await rt.consume({
    groupId: `${rt.name}.experiment-decisions`,
    topics: [analyticsDecisionsTopic.name],
    handle: async ({ envelope }, { trx, orgId }) => {
      if (envelope.type !== 'cmis.analytics.experiment-decided') return;
      const outcome = await applyExperimentDecision(
        trx,
        orgId,
        envelope.data as ExperimentDecided,
        deps.now(),
      );
      if (outcome !== 'ignored' && deps.onApplied)
        void trx.executionPromise.then(deps.onApplied, () => undefined);
    },
  });
}
