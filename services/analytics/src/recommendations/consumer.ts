// Campaign metric snapshots in; per org, at most once per interval, budget recommendations out
// (cmis.analytics.budget-recommended), appended in the consumer's transaction.
import {
  analyticsDecisionsTopic,
  entityMetricsTopic,
  type BudgetRecommended,
  type EntityMetricsObserved,
} from '@cmis/contracts';
import { stableId, type ServiceRuntime } from '@cmis/platform';
import type { Knex } from 'knex';
import { campaignEntity, campaignMetrics, recommendBudgetMoves, type BudgetPolicy } from './budget';

export interface RecommendationOptions {
  rt: ServiceRuntime;
  now: () => Date;
  policy: BudgetPolicy;
  /** An org is recomputed at most once per interval. */
  intervalMs: number;
  /** Snapshots older than this are not counted (the window the CPAs are compared over). */
  windowMs: number;
}

export async function startRecommendationConsumer(options: RecommendationOptions): Promise<void> {
  const { rt } = options;
  await rt.consume({
    groupId: `${rt.name}.recommendations.entity-metrics`,
    topics: [entityMetricsTopic.name],
    handle: async ({ envelope }, { trx, orgId }) => {
      if (envelope.type !== 'cmis.triggers.entity-metrics-observed') return;
      const data = envelope.data as EntityMetricsObserved;
      const entity = campaignEntity(data.entityType);
      const metrics = campaignMetrics(data.metrics);
      if (!entity || !metrics) return;
      const observedAt = new Date(data.observedAt);
      await trx('rec_campaigns')
        .insert({
          org_id: orgId,
          campaign_id: data.entityId,
          platform: entity.platform ?? '',
          spend: metrics.spend,
          conversions: metrics.conversions,
          budget: metrics.budget ?? null,
          observed_at: observedAt,
        })
        .onConflict(['org_id', 'platform', 'campaign_id'])
        .merge()
        // A late, older snapshot does not replace a newer one.
        .where('rec_campaigns.observed_at', '<=', observedAt);
      await recomputeIfDue(trx, orgId, envelope.id, options);
    },
  });
}

async function recomputeIfDue(
  trx: Knex.Transaction,
  orgId: string,
  causeId: string,
  o: RecommendationOptions,
) {
  const now = o.now();
  const last = await trx('rec_orgs').where({ org_id: orgId }).forUpdate().first('computed_at');
  if (last && now.getTime() - new Date(last.computed_at).getTime() < o.intervalMs) return;
  const rows = await trx('rec_campaigns')
    .where({ org_id: orgId })
    .where('observed_at', '>=', new Date(now.getTime() - o.windowMs));
  const campaigns = rows.map((r) => ({
    campaignId: r.campaign_id as string,
    ...(r.platform ? { platform: r.platform as string } : {}),
    spend: Number(r.spend),
    conversions: Number(r.conversions),
    ...(r.budget !== null ? { budget: Number(r.budget) } : {}),
  }));
  const platforms = new Map<string, number>();
  for (const c of campaigns) platforms.set(c.platform ?? '', (platforms.get(c.platform ?? '') ?? 0) + 1);
  // Nothing to compare yet (one campaign per platform): wait for more rather than spend the interval.
  if (![...platforms.values()].some((n) => n >= 2)) return;
  await trx('rec_orgs').insert({ org_id: orgId, computed_at: now }).onConflict(['org_id']).merge();
  const recommendations = recommendBudgetMoves(campaigns, o.policy);
  if (recommendations.length === 0) return;
  const metadata = o.rt.eventMetadata({ causationId: causeId });
  const events = recommendations.map((r) => {
    const recommendationId = stableId('budget-recommended', orgId, causeId, r.fromCampaignId, r.toCampaignId);
    const data: BudgetRecommended = { recommendationId, ...r, metrics: r.metrics };
    return {
      id: recommendationId,
      type: 'cmis.analytics.budget-recommended',
      data,
      metadata,
      topic: analyticsDecisionsTopic.name,
      key: `${orgId}:${orgId}`,
      occurredAt: now,
    };
  });
  await o.rt.eventStore.append(trx, {
    orgId,
    streamType: 'analytics-budget',
    streamId: orgId,
    expectedVersion: 'any',
    events,
  });
  await trx('rec_recommendations').insert(
    events.map(({ data }) => ({
      org_id: orgId,
      recommendation_id: data.recommendationId,
      platform: data.platform ?? null,
      from_campaign_id: data.fromCampaignId,
      to_campaign_id: data.toCampaignId,
      amount: data.amount,
      reason: data.reason,
      metrics: JSON.stringify(data.metrics),
      created_at: now,
    })),
  );
  void trx.executionPromise.then(
    () => o.rt.relay.wake(),
    () => undefined,
  );
}
