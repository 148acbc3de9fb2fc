// Budget recommendations over HTTP: the org's latest, newest first.
import { asyncHandler, validate, withOrg, type ServiceRuntime } from '@cmis/platform';
import type { Router } from 'express';
import { z } from 'zod';
import { documentRoutes } from '../openapi';

const ListQuery = z.object({ limit: z.coerce.number().int().min(1).max(500).default(100) }).strict();

documentRoutes([
  {
    method: 'get',
    path: '/v1/recommendations',
    summary: 'Budget recommendations (high-CPA to low-CPA campaign, bounded), newest first (query: limit)',
    scope: 'analytics:read',
  },
]);

export function recommendationRoutes(router: Router, deps: { rt: ServiceRuntime }): void {
  const { rt } = deps;
  router.get(
    '/v1/recommendations',
    rt.auth.require('analytics:read'),
    validate({ query: ListQuery } as { query: z.ZodTypeAny }),
    asyncHandler(async (req, res) => {
      const { limit } = req.query as unknown as z.infer<typeof ListQuery>;
      const rows = await withOrg(rt.db.app, req.principal!.orgId, (trx) =>
        trx('rec_recommendations').orderBy('created_at', 'desc').limit(limit),
      );
      res.json({
        recommendations: rows.map((r) => ({
          recommendationId: r.recommendation_id,
          ...(r.platform ? { platform: r.platform } : {}),
          fromCampaignId: r.from_campaign_id,
          toCampaignId: r.to_campaign_id,
          amount: Number(r.amount),
          reason: r.reason,
          metrics: r.metrics,
          createdAt: r.created_at,
        })),
      });
    }),
  );
}
