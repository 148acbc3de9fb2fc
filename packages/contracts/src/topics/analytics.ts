// The analytics service's contracts: segment membership changes, RFM segment moves, experiment
// decisions, bandit allocations and budget recommendations. Workflows and drip enter and exit on
// segment events; the email service acts on experiment decisions; workflows' random splits follow
// allocations; a rule can act on a recommendation.
import { z } from 'zod';
import { defineTopic } from '../topic';
import { DAY_MS, JsonObject, NonEmpty, Timestamp } from './common';

const segmentRef = {
  segmentId: NonEmpty,
  segmentVersion: z.number().int().positive(),
  contactId: NonEmpty,
};

export const SegmentEntered = z
  .object({
    ...segmentRef,
    causeId: NonEmpty.optional().describe('The event that moved the contact in, if one did'),
  })
  .describe('A contact entered a segment');
export type SegmentEntered = z.infer<typeof SegmentEntered>;

export const SegmentExited = z
  .object({
    ...segmentRef,
    causeId: NonEmpty.optional(),
    reason: NonEmpty.describe('An event, time passing (a window closed), or the definition changed'),
  })
  .describe('A contact left a segment');
export type SegmentExited = z.infer<typeof SegmentExited>;

export const RFM_SEGMENTS = [
  'champions',
  'loyal',
  'potential_loyalist',
  'new_customers',
  'promising',
  'need_attention',
  'about_to_sleep',
  'at_risk',
  'cant_lose_them',
  'hibernating',
  'lost',
] as const;

export const RfmChanged = z
  .object({
    contactId: NonEmpty,
    recency: z.number().int().min(1).max(5),
    frequency: z.number().int().min(1).max(5),
    monetary: z.number().int().min(1).max(5),
    segment: z.enum(RFM_SEGMENTS),
    previousSegment: z.enum(RFM_SEGMENTS).optional(),
  })
  .describe("A contact's RFM segment changed");
export type RfmChanged = z.infer<typeof RfmChanged>;

export const segmentEventsTopic = defineTopic({
  name: 'cmis.analytics.segments.v1',
  service: 'analytics',
  description: 'Segment membership as it changes (entered, exited) and RFM segment moves.',
  keyDescription: 'subject is the contact',
  retentionMs: 90 * DAY_MS,
  schemaVersion: 1,
  events: {
    'cmis.analytics.segment-entered': SegmentEntered,
    'cmis.analytics.segment-exited': SegmentExited,
    'cmis.analytics.rfm-changed': RfmChanged,
  },
});

const VariantResult = z.object({
  variantId: NonEmpty,
  exposed: z.number().int().nonnegative(),
  conversions: z.number().int().nonnegative(),
  rate: z.number().min(0).max(1),
  low: z.number().describe('Lower bound of the rate’s confidence interval'),
  high: z.number().describe('Upper bound'),
});

export const ExperimentDecided = z
  .object({
    experimentId: NonEmpty.describe(
      'An email A/B test id, a workflow random split, a drip variant test, a rule holdout',
    ),
    kind: z.enum(['email', 'workflow_split', 'drip', 'rule_holdout']),
    winnerVariantId: NonEmpty.optional().describe('Absent: no winner, the configured fallback applies'),
    metric: NonEmpty.describe('e.g. human unique clicks, conversions, revenue per contact'),
    test: NonEmpty.describe('two-proportion z, chi-squared, Welch t, mSPRT'),
    pValue: z.number().min(0).max(1),
    confidence: z.number().min(0).max(1),
    variants: z.array(VariantResult).min(2),
  })
  .describe('An experiment was decided, with its statistics');
export type ExperimentDecided = z.infer<typeof ExperimentDecided>;

export const BudgetRecommended = z
  .object({
    recommendationId: NonEmpty,
    platform: NonEmpty.optional(),
    fromCampaignId: NonEmpty,
    toCampaignId: NonEmpty,
    amount: z.number().positive(),
    reason: NonEmpty,
    metrics: JsonObject.describe('The CPAs and spends it was computed from'),
  })
  .describe('Move budget from a high-CPA campaign to a low-CPA one, within bounds');
export type BudgetRecommended = z.infer<typeof BudgetRecommended>;

/** Weights may miss 1 or the floor by rounding; anything further is a fault. */
const WEIGHT_TOLERANCE = 1e-6;

export const AllocationUpdated = z
  .object({
    experimentId: NonEmpty.describe('The split: <workflowId>:<stepId> for a workflow random split'),
    kind: z.enum(['email', 'workflow_split', 'drip']),
    workflowId: NonEmpty.optional().describe('For a workflow split: the workflow'),
    stepId: NonEmpty.optional().describe('For a workflow split: its random_split step'),
    metric: NonEmpty.describe('What the bandit optimises, e.g. conversion'),
    explorationShare: z
      .number()
      .min(0)
      .max(1)
      .describe('The least weight any variant gets (at most 1 / the number of variants)'),
    revision: z
      .number()
      .int()
      .positive()
      .describe('Grows with every allocation of the experiment: keep the highest one seen'),
    asOf: Timestamp.describe('When the allocation was computed'),
    variants: z
      .array(
        z.object({
          variantId: NonEmpty,
          weight: z.number().min(0).max(1).describe('Share of new units; the weights sum to 1'),
          exposed: z.number().int().nonnegative(),
          conversions: z.number().int().nonnegative(),
        }),
      )
      .min(2),
  })
  .superRefine((a, ctx) => {
    const sum = a.variants.reduce((s, v) => s + v.weight, 0);
    if (Math.abs(sum - 1) > WEIGHT_TOLERANCE)
      ctx.addIssue({ code: 'custom', path: ['variants'], message: `the weights sum to ${sum}, not 1` });
    if (a.explorationShare * a.variants.length > 1 + WEIGHT_TOLERANCE)
      ctx.addIssue({
        code: 'custom',
        path: ['explorationShare'],
        message: `explorationShare ${a.explorationShare} is above 1/${a.variants.length}`,
      });
    a.variants.forEach((v, i) => {
      if (v.weight < a.explorationShare - WEIGHT_TOLERANCE)
        ctx.addIssue({
          code: 'custom',
          path: ['variants', i, 'weight'],
          message: `variant ${v.variantId}: weight ${v.weight} is below the exploration share`,
        });
    });
    if (new Set(a.variants.map((v) => v.variantId)).size !== a.variants.length)
      ctx.addIssue({ code: 'custom', path: ['variants'], message: 'a variant is listed twice' });
    if (a.kind === 'workflow_split' && (a.workflowId === undefined || a.stepId === undefined))
      ctx.addIssue({
        code: 'custom',
        path: ['kind'],
        message: 'a workflow split names workflowId and stepId',
      });
  })
  .describe(
    'A split allocated by a bandit has new weights: Thompson sampling over the metric, each variant keeping the exploration share',
  );
export type AllocationUpdated = z.infer<typeof AllocationUpdated>;

export const analyticsDecisionsTopic = defineTopic({
  name: 'cmis.analytics.decisions.v1',
  service: 'analytics',
  description:
    'Decisions others act on: experiment winners, bandit allocations of splits, budget recommendations.',
  keyDescription: 'subject is the experiment or the org (recommendations)',
  retentionMs: 90 * DAY_MS,
  schemaVersion: 2,
  events: {
    'cmis.analytics.experiment-decided': ExperimentDecided,
    'cmis.analytics.budget-recommended': BudgetRecommended,
    'cmis.analytics.allocation-updated': AllocationUpdated,
  },
});

const Rate = z.number().min(0).nullable().describe('null when its base is 0');

export const MeasuresPublished = z
  .object({
    periodStart: z.string().datetime({ offset: true }),
    periodEnd: z.string().datetime({ offset: true }),
    email: z
      .object({
        requested: z.number().int().nonnegative(),
        sent: z.number().int().nonnegative(),
        delivered: z.number().int().nonnegative(),
        uniqueOpens: z.number().int().nonnegative().describe('Human, unique per message'),
        uniqueClicks: z.number().int().nonnegative().describe('Human, unique per message'),
        machineOpens: z.number().int().nonnegative(),
        machineClicks: z.number().int().nonnegative(),
        bounces: z.number().int().nonnegative(),
        complaints: z.number().int().nonnegative(),
        unsubscribes: z.number().int().nonnegative(),
        openRate: Rate,
        clickRate: Rate,
        bounceRate: Rate,
        complaintRate: Rate,
      })
      .describe('The org’s email in the period'),
    rules: z
      .array(
        z.object({
          ruleId: NonEmpty,
          firings: z.number().int().nonnegative(),
          suppressedFirings: z.number().int().nonnegative(),
          actionsRequested: z.number().int().nonnegative(),
          actionsSucceeded: z.number().int().nonnegative(),
          actionsFailed: z.number().int().nonnegative(),
        }),
      )
      .describe('Rule effectiveness in the period, per rule that did something'),
  })
  .describe('An org’s measures over one period (published at the period’s end)');
export type MeasuresPublished = z.infer<typeof MeasuresPublished>;

export const analyticsMeasuresTopic = defineTopic({
  name: 'cmis.analytics.measures.v1',
  service: 'analytics',
  description: 'Periodic measures per org: email counts and rates, rule effectiveness.',
  keyDescription: 'subject is the org',
  retentionMs: 365 * DAY_MS,
  schemaVersion: 1,
  events: {
    'cmis.analytics.measures-published': MeasuresPublished,
  },
});
