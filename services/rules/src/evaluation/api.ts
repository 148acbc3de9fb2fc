// What evaluations of a rule decided besides plain non-matches: fired, dry run, suppressed, and
// non-matches for a reason (a missing field).
import { asyncHandler, validate, withOrg, type ServiceRuntime } from '@cmis/platform';
import type { Router } from 'express';
import { z } from 'zod';

export const EvaluationsQuery = z
  .object({ limit: z.coerce.number().int().min(1).max(500).default(100) })
  .strict();

export function evaluationRoutes(router: Router, rt: ServiceRuntime): void {
  router.get(
    '/v1/rules/:ruleId/evaluations',
    rt.auth.require('rules:read'),
    validate({ params: z.object({ ruleId: z.string().min(1).max(100) }) }),
    validate({ query: EvaluationsQuery } as { query: z.ZodTypeAny }),
    asyncHandler(async (req, res) => {
      const { limit } = req.query as unknown as { limit: number };
      const rows = await withOrg(rt.db.app, req.principal!.orgId, (trx) =>
        trx('rule_evaluations').where({ rule_id: req.params.ruleId }).orderBy('id', 'desc').limit(limit),
      );
      res.json({
        ruleId: req.params.ruleId,
        evaluations: rows.map((r) => ({
          ruleVersion: r.rule_version,
          subject: r.subject,
          eventId: r.event_id,
          outcome: r.outcome,
          ...(r.reason ? { reason: r.reason } : {}),
          detail: r.detail,
          at: new Date(r.at).toISOString(),
        })),
      });
    }),
  );
}
