// Simulate: evaluates a draft rule against a sample and explains which condition passed or failed.
// Nothing is stored, no cooldown is taken, no action is requested.
import { asyncHandler, validate, type Allowlist, type Resolver, type ServiceRuntime } from '@cmis/platform';
import type { Router } from 'express';
import { z } from 'zod';
import { resolveAction } from '../actions/actions';
import {
  FAILED,
  MISSING,
  PASSED,
  missingFields,
  passedComparisons,
  type EvaluationContext,
  type TraceEntry,
} from '@cmis/conditions';
import { checkDefinition } from '../definitions/api';
import { compileRule } from '../evaluation/rule-index';

export const Sample = z
  .object({
    event: z.record(z.unknown()).optional(),
    contact: z.record(z.unknown()).optional(),
    entity: z
      .object({ type: z.string().min(1), id: z.string().min(1) })
      .strict()
      .optional(),
    metrics: z.record(z.number().finite()).optional(),
    previousMetrics: z.record(z.number().finite()).optional(),
  })
  .strict();

export function simulateRoutes(
  router: Router,
  deps: { rt: ServiceRuntime; allowlist: Allowlist; resolve: Resolver },
): void {
  const { rt, allowlist, resolve } = deps;
  router.post(
    '/v1/rules/simulate',
    rt.auth.require('rules:read'),
    validate({ body: z.object({ rule: z.unknown(), sample: Sample }).strict() }),
    asyncHandler(async (req, res) => {
      const { rule: draft, sample } = req.body as { rule: unknown; sample: z.infer<typeof Sample> };
      const definition = await checkDefinition(draft, 'body.rule', allowlist, resolve);
      const compiled = compileRule({ ruleId: 'simulation', version: 1, definition });
      const entity =
        sample.entity ??
        (definition.trigger.kind === 'event' ? undefined : { type: definition.entityType, id: 'sample' });
      const ctx: EvaluationContext = {
        ...(sample.event ? { event: sample.event } : {}),
        ...(sample.contact ? { contact: sample.contact } : {}),
        ...(entity ? { entity } : {}),
        ...(sample.metrics ? { metrics: sample.metrics } : {}),
        ...(sample.previousMetrics ? { previousMetrics: sample.previousMetrics } : {}),
      };
      const trace: TraceEntry[] = [];
      const filter = compiled.filter ? compiled.filter.explain(ctx, trace) : PASSED;
      const conditions = filter === FAILED ? FAILED : compiled.conditions.explain(ctx, trace);
      const outcome =
        filter === FAILED
          ? 'filtered_out'
          : conditions === PASSED
            ? 'matched'
            : conditions === MISSING
              ? 'missing_fields'
              : 'not_matched';
      const subject = entity?.id ?? String(sample.event?.userId ?? sample.event?.anonymousId ?? 'sample');
      const target = entity ? { subject, entity } : { subject, contactId: subject };
      const matched = passedComparisons(trace);
      res.json({
        matched: outcome === 'matched',
        outcome,
        ...(outcome === 'missing_fields' ? { missingFields: missingFields(trace) } : {}),
        explanation: trace,
        wouldRequest:
          outcome === 'matched'
            ? definition.actions.map((a) =>
                resolveAction(
                  a,
                  definition,
                  ctx,
                  target,
                  trace
                    .filter((t) => t.kind === 'comparison' && matched.includes(t.id ?? t.path))
                    .map((t) => t.field!),
                ),
              )
            : [],
      });
    }),
  );
}
