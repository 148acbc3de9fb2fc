// Experiments over HTTP: every split's results (per-variant counts, rates with Wilson intervals,
// z / chi-squared, Welch t on revenue, the always-valid mSPRT p, the winner at a confidence, a
// Thompson allocation suggestion), a decision published for the email service, rule holdouts.
import { randomUUID } from 'node:crypto';
import type { ExperimentDecided } from '@cmis/contracts';
import {
  asyncHandler,
  NotFoundError,
  validate,
  ValidationError,
  withOrg,
  type ServiceRuntime,
} from '@cmis/platform';
import type { Request, Router } from 'express';
import type { Knex } from 'knex';
import { z } from 'zod';
import { documentRoutes } from '../openapi';
import { banditState } from './allocations';
import { compareHoldout } from './holdout';
import {
  DEFAULT_RESULT_OPTIONS,
  decisiveTest,
  experimentResults,
  METRICS,
  type ExperimentMetric,
  type ResultOptions,
} from './results';
import {
  appendDecision,
  listExperiments,
  previousSequentialP,
  recordLook,
  ruleHoldoutSubjects,
  variantTotals,
} from './store';

const Id = z.string().min(1).max(300);
const Confidence = z.coerce
  .number()
  .gt(0.5, 'confidence must be above 0.5 and below 1')
  .lt(1, 'confidence must be above 0.5 and below 1');
const MinSample = z.coerce.number().int().min(0).max(100_000_000);
const ResultsQuery = z
  .object({
    confidence: Confidence.optional(),
    minSample: MinSample.optional(),
    minExplorationShare: z.coerce.number().min(0).max(0.5).optional(),
  })
  .strict();
const DecideBody = z
  .object({
    confidence: Confidence.default(0.95),
    metric: z.enum(METRICS, { errorMap: () => ({ message: `metric must be one of ${METRICS.join(', ')}` }) }),
    minSample: MinSample.default(100),
  })
  .strict();

documentRoutes([
  {
    method: 'get',
    path: '/v1/experiments',
    summary: 'Every A/B split seen: email tests, workflow random splits',
    scope: 'analytics:read',
  },
  {
    method: 'get',
    path: '/v1/experiments/rules/{ruleId}',
    summary: "A rule's holdout: held-out vs acted-on subjects' metrics after the firing",
    scope: 'analytics:read',
  },
  {
    method: 'get',
    path: '/v1/experiments/{experimentId}',
    summary:
      'Per-variant counts, rates and Wilson intervals, z / chi-squared, Welch t on revenue, mSPRT always-valid p, winners, bandit allocation suggestion, and for a split allocated by a bandit its published state (query: confidence, minSample, minExplorationShare)',
    scope: 'analytics:read',
  },
  {
    method: 'post',
    path: '/v1/experiments/{experimentId}/decide',
    summary: 'Decide on a metric at a confidence; publishes cmis.analytics.experiment-decided',
    scope: 'analytics:write',
    body: {
      type: 'object',
      required: ['metric'],
      properties: {
        metric: { enum: [...METRICS] },
        confidence: { type: 'number', exclusiveMinimum: 0.5, exclusiveMaximum: 1, default: 0.95 },
        minSample: { type: 'integer', minimum: 0, default: 100 },
      },
    },
  },
]);

export function experimentRoutes(router: Router, deps: { rt: ServiceRuntime; now: () => Date }): void {
  const { rt, now } = deps;
  const org = (req: Request) => req.principal!.orgId;
  const tx = <T>(req: Request, fn: (trx: Knex.Transaction) => Promise<T>) => withOrg(rt.db.app, org(req), fn);
  const read = rt.auth.require('analytics:read');
  const write = rt.auth.require('analytics:write');

  /** One look at an experiment: its results, the look recorded for the sequential test. */
  const look = async (
    trx: Knex.Transaction,
    orgId: string,
    experimentId: string,
    options: Partial<ResultOptions>,
  ) => {
    const found = await variantTotals(trx, orgId, experimentId);
    if (!found) throw new NotFoundError(`no exposures of experiment ${experimentId}`);
    const results = experimentResults(experimentId, found.totals, {
      ...DEFAULT_RESULT_OPTIONS,
      ...options,
      previousSequentialP: await previousSequentialP(trx, orgId, experimentId),
    });
    if (results.variants.length >= 2)
      await recordLook(trx, orgId, experimentId, results.tests.sequential.pValue);
    return { kind: found.kind, results };
  };

  router.get(
    '/v1/experiments',
    read,
    asyncHandler(async (req, res) => {
      res.json({ experiments: await tx(req, (trx) => listExperiments(trx, org(req))) });
    }),
  );

  router.get(
    '/v1/experiments/rules/:ruleId',
    read,
    validate({ params: z.object({ ruleId: Id }) }),
    asyncHandler(async (req, res) => {
      const subjects = await tx(req, (trx) => ruleHoldoutSubjects(trx, org(req), req.params.ruleId));
      if (subjects.length === 0) throw new NotFoundError(`no firings of rule ${req.params.ruleId}`);
      res.json({ ruleId: req.params.ruleId, ...compareHoldout(subjects) });
    }),
  );

  router.get(
    '/v1/experiments/:experimentId',
    read,
    validate({ params: z.object({ experimentId: Id }), query: ResultsQuery }),
    asyncHandler(async (req, res) => {
      const q = req.query as unknown as z.infer<typeof ResultsQuery>;
      const options = {
        ...(q.confidence !== undefined ? { confidence: q.confidence } : {}),
        ...(q.minSample !== undefined ? { minSample: q.minSample } : {}),
        ...(q.minExplorationShare !== undefined ? { minExplorationShare: q.minExplorationShare } : {}),
      };
      const { kind, results, bandit } = await tx(req, async (trx) => ({
        ...(await look(trx, org(req), req.params.experimentId, options)),
        bandit: await banditState(trx, org(req), req.params.experimentId),
      }));
      res.json({
        experimentId: req.params.experimentId,
        kind,
        confidence: options.confidence ?? DEFAULT_RESULT_OPTIONS.confidence,
        minSample: options.minSample ?? DEFAULT_RESULT_OPTIONS.minSample,
        ...results,
        ...(bandit ? { bandit } : {}),
      });
    }),
  );

  router.post(
    '/v1/experiments/:experimentId/decide',
    write,
    validate({ params: z.object({ experimentId: Id }), body: DecideBody }),
    asyncHandler(async (req, res) => {
      const { confidence, minSample } = req.body;
      const metric = req.body.metric as ExperimentMetric;
      const experimentId = req.params.experimentId;
      const orgId = org(req);
      const decided = await tx(req, async (trx) => {
        const { kind, results } = await look(trx, orgId, experimentId, { confidence, minSample });
        if (results.variants.length < 2)
          throw new ValidationError(
            [
              {
                path: 'params.experimentId',
                message: `experiment ${experimentId} has one variant (${results.variants[0]!.variantId}); a decision needs at least two`,
              },
            ],
            'An experiment with one variant cannot be decided',
          );
        const test = decisiveTest(results, metric);
        const winner = results.winners[metric];
        const data: ExperimentDecided = {
          experimentId,
          kind,
          ...(winner ? { winnerVariantId: winner } : {}),
          metric,
          test: test.test,
          pValue: test.pValue,
          confidence,
          variants: results.variants.map((v) => ({
            variantId: v.variantId,
            exposed: v.exposed,
            conversions: v.conversions,
            rate: v.rate,
            low: v.low,
            high: v.high,
          })),
        };
        const at = now();
        await appendDecision(rt, trx, orgId, experimentId, {
          id: randomUUID(),
          type: 'cmis.analytics.experiment-decided',
          data,
          actor: `key:${req.principal!.keyId}`,
          occurredAt: at,
        });
        await trx('exp_experiments')
          .where({ org_id: orgId, experiment_id: experimentId })
          .update({ decision: JSON.stringify(data), decided_at: at });
        void trx.executionPromise.then(
          () => rt.relay.wake(),
          () => undefined,
        );
        return { ...data, enoughSample: results.enoughSample, minSample };
      });
      res.json(decided);
    }),
  );
}
