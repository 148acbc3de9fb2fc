// Bandit allocations through the outbox: a bandit split's passes register it (exp_bandits), its
// new exposures and conversions count toward the next allocation, and a durable timer per
// experiment (coalesced, throttled) computes it and appends allocation-updated in the firing's
// transaction.
import { scheduleTimer, stableId, type ServiceRuntime } from '@cmis/platform';
import type { Knex } from 'knex';
import {
  banditAllocation,
  nextAllocationAt,
  type BanditConfig,
  type BanditSplitDetail,
  type BanditThrottle,
} from './bandit';
import { appendDecision, variantTotals } from './store';

export const BANDIT_TIMER = 'analytics-bandit-allocation';
const timerIdOf = (experimentId: string) => `bandit:${experimentId}`;

type BanditRow = {
  experiment_id: string;
  workflow_id: string;
  step_id: string;
  metric: BanditConfig['metric'];
  exploration_share: number;
  variants: string[];
  pending_outcomes: number;
  timer_pending: boolean;
  revision: number;
  last_published_at: Date | null;
};

/** A bandit split pass: registers the split, or takes the options of a newer workflow version. */
export async function registerBanditSplit(
  trx: Knex.Transaction,
  orgId: string,
  split: { experimentId: string; workflowId: string; stepId: string; workflowVersion: number },
  detail: BanditSplitDetail,
): Promise<void> {
  await trx('exp_bandits')
    .insert({
      org_id: orgId,
      experiment_id: split.experimentId,
      kind: 'workflow_split',
      workflow_id: split.workflowId,
      step_id: split.stepId,
      config_version: split.workflowVersion,
      metric: detail.metric,
      exploration_share: detail.explorationShare,
      variants: JSON.stringify(detail.variants),
    })
    .onConflict(['org_id', 'experiment_id'])
    .merge(['config_version', 'metric', 'exploration_share', 'variants'])
    .where('exp_bandits.config_version', '<', trx.raw('excluded.config_version'));
}

/** New outcomes of experiments (those allocated by a bandit count; others are no-ops). */
export async function noteOutcomes(
  trx: Knex.Transaction,
  orgId: string,
  experimentIds: string[],
  now: Date,
  throttle: BanditThrottle,
): Promise<void> {
  if (experimentIds.length === 0) return;
  const counts = new Map<string, number>();
  for (const id of experimentIds) counts.set(id, (counts.get(id) ?? 0) + 1);
  for (const [experimentId, n] of counts) {
    const [row] = (await trx('exp_bandits')
      .where({ org_id: orgId, experiment_id: experimentId })
      .increment('pending_outcomes', n)
      .returning(['pending_outcomes', 'timer_pending', 'last_published_at'])) as BanditRow[];
    if (!row) continue;
    const dueAt = nextAllocationAt(
      {
        pendingOutcomes: row.pending_outcomes,
        timerPending: row.timer_pending,
        ...(row.last_published_at ? { lastPublishedAt: row.last_published_at } : {}),
      },
      now,
      throttle,
    );
    if (!dueAt) continue;
    await scheduleTimer(trx, {
      orgId,
      timerId: timerIdOf(experimentId),
      kind: BANDIT_TIMER,
      dueAt,
      payload: { experimentId },
    });
    await trx('exp_bandits')
      .where({ org_id: orgId, experiment_id: experimentId })
      .update({ timer_pending: true });
  }
}

/** The timer fired: the allocation from the experiment's totals, appended to the outbox. */
export async function publishAllocation(
  rt: ServiceRuntime,
  trx: Knex.Transaction,
  orgId: string,
  experimentId: string,
  now: Date,
): Promise<void> {
  const row = (await trx('exp_bandits')
    .where({ org_id: orgId, experiment_id: experimentId })
    .forUpdate()
    .first()) as BanditRow | undefined;
  if (!row) return;
  const found = await variantTotals(trx, orgId, experimentId);
  const revision = row.revision + 1;
  const data = banditAllocation(
    {
      experimentId,
      workflowId: row.workflow_id,
      stepId: row.step_id,
      metric: row.metric,
      explorationShare: row.exploration_share,
      variants: row.variants,
    },
    found?.totals ?? [],
    revision,
    now,
  );
  await appendDecision(rt, trx, orgId, experimentId, {
    id: stableId('analytics-allocation', orgId, experimentId, revision),
    type: 'cmis.analytics.allocation-updated',
    data,
    actor: 'analytics:bandit',
    occurredAt: now,
  });
  await trx('exp_bandits')
    .where({ org_id: orgId, experiment_id: experimentId })
    .update({ revision, pending_outcomes: 0, timer_pending: false, last_published_at: now });
}

/** The experiment's bandit state for the results API, if it has one. */
export async function banditState(trx: Knex.Transaction, orgId: string, experimentId: string) {
  const row = (await trx('exp_bandits').where({ org_id: orgId, experiment_id: experimentId }).first()) as
    BanditRow | undefined;
  if (!row) return undefined;
  return {
    metric: row.metric,
    explorationShare: row.exploration_share,
    variants: row.variants,
    revision: row.revision,
    lastPublishedAt: row.last_published_at,
    pendingOutcomes: row.pending_outcomes,
  };
}
