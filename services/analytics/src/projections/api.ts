// The measures API: email, rule effectiveness (with before/after metrics of campaign actions),
// funnels, ROI, trends; the org's measure settings; rebuilding the org's projections.
import { asyncHandler, NotFoundError, validate, ValidationError, withOrg } from '@cmis/platform';
import type { Request, Router } from 'express';
import type { Knex } from 'knex';
import { z } from 'zod';
import { documentRoutes } from '../openapi';
import type { SliceContext } from '../slice';
import { revenueByOrigin } from './attribution';
import {
  beforeAfter,
  BUCKETS,
  DEFAULT_RANGE_MS,
  emailMeasures,
  rangeFaults,
  roi,
  TREND_METRICS,
  DERIVED_METRICS,
  trendValue,
  type TrendMetric,
} from './measures';
import * as q from './queries';
import type { Rebuilder } from './rebuild';
import {
  attributionOf,
  MeasureSettings,
  MeasureSettingsChange,
  readSettings,
  writeSettings,
} from './settings';

const Id = z.string().min(1).max(200);
const Time = z.string().datetime({ offset: true, message: 'must be an ISO 8601 date-time with offset' });
const RangeQuery = z.object({ from: Time.optional(), to: Time.optional() });
const ORIGIN_KINDS = ['rule', 'workflow', 'drip', 'broadcast', 'transactional'] as const;
const OriginParam = z
  .string()
  .regex(
    new RegExp(`^(${ORIGIN_KINDS.join('|')})(:.+)?$`),
    `must be <kind> or <kind>:<id>, kind one of ${ORIGIN_KINDS.join(', ')}`,
  );
const MAX_WINDOW_HOURS = 24 * 30;

documentRoutes([
  {
    method: 'get',
    path: '/v1/measures/email',
    summary: 'Email measures over from..to, optionally of one origin (origin=<kind>[:<id>])',
    scope: 'analytics:read',
  },
  {
    method: 'get',
    path: '/v1/measures/rules',
    summary: 'Effectiveness of every rule: firings, suppressed firings, actions requested, succeeded, failed',
    scope: 'analytics:read',
  },
  {
    method: 'get',
    path: '/v1/measures/rules/{ruleId}',
    summary: "One rule's effectiveness, with its campaign actions' metrics windowHours before and after",
    scope: 'analytics:read',
  },
  {
    method: 'get',
    path: '/v1/measures/funnels/workflow/{id}',
    summary: 'Workflow funnel: entered, each step, each message, converted, exited',
    scope: 'analytics:read',
  },
  {
    method: 'get',
    path: '/v1/measures/funnels/drip/{id}',
    summary: 'Drip funnel: entered, each step, each message, converted, exited',
    scope: 'analytics:read',
  },
  {
    method: 'get',
    path: '/v1/measures/funnels/broadcast/{id}',
    summary:
      'Broadcast funnel: requested, sent, delivered, opened, clicked, converted (attributed), unsubscribed',
    scope: 'analytics:read',
  },
  {
    method: 'get',
    path: '/v1/measures/roi',
    summary: 'ROI (attributed revenue over cost) by campaign, workflow or drip (groupBy)',
    scope: 'analytics:read',
  },
  {
    method: 'get',
    path: '/v1/measures/trends',
    summary: 'A metric in hour, day or week buckets, optionally grouped by ad platform',
    scope: 'analytics:read',
  },
  {
    method: 'get',
    path: '/v1/settings',
    summary: "The org's attribution model, windows and per-message cost",
    scope: 'analytics:read',
  },
  {
    method: 'put',
    path: '/v1/settings',
    summary: "Change the org's attribution model, windows or per-message cost",
    scope: 'analytics:write',
    body: {
      type: 'object',
      properties: {
        attributionModel: { enum: ['last_touch', 'first_touch', 'linear'] },
        clickWindowDays: { type: 'integer', minimum: 0, maximum: 90 },
        openWindowDays: { type: 'integer', minimum: 0, maximum: 30 },
        messageCost: { type: 'number', minimum: 0 },
      },
      additionalProperties: false,
    },
  },
  {
    method: 'post',
    path: '/v1/projections/rebuild',
    summary: "Delete the org's projection rows and replay them from the topics (202; poll the status)",
    scope: 'analytics:write',
  },
  {
    method: 'get',
    path: '/v1/projections/rebuild/{rebuildId}',
    summary: 'Status of a rebuild',
    scope: 'analytics:read',
  },
]);

export function projectionRoutes(router: Router, ctx: SliceContext, rebuilder: Rebuilder): void {
  const { rt, now } = ctx;
  const read = rt.auth.require('analytics:read');
  const write = rt.auth.require('analytics:write');
  const org = (req: Request) => req.principal!.orgId;
  const tx = <T>(req: Request, fn: (trx: Knex.Transaction) => Promise<T>) => withOrg(rt.db.app, org(req), fn);
  const rangeOf = (query: { from?: string; to?: string }, bucket?: (typeof BUCKETS)[number]): q.Range => {
    const to = query.to ? new Date(query.to) : now();
    const from = query.from ? new Date(query.from) : new Date(to.getTime() - DEFAULT_RANGE_MS);
    const faults = rangeFaults(from, to, bucket);
    if (faults.length > 0) throw new ValidationError(faults);
    return { from, to };
  };
  const originOf = (param?: string): q.Origin | undefined => {
    if (!param) return undefined;
    const i = param.indexOf(':');
    return i < 0 ? { kind: param } : { kind: param.slice(0, i), id: param.slice(i + 1) };
  };
  const span = (r: q.Range) => ({ from: r.from.toISOString(), to: r.to.toISOString() });

  router.get(
    '/v1/measures/email',
    read,
    validate({ query: RangeQuery.extend({ origin: OriginParam.optional() }).strict() }),
    asyncHandler(async (req, res) => {
      const range = rangeOf(req.query);
      const origin = originOf(req.query.origin);
      const counts = await tx(req, (trx) => q.emailCounts(trx, range, origin));
      res.json({ ...span(range), ...(origin ? { origin } : {}), ...emailMeasures(counts) });
    }),
  );

  router.get(
    '/v1/measures/rules',
    read,
    validate({ query: RangeQuery.strict() }),
    asyncHandler(async (req, res) => {
      const range = rangeOf(req.query);
      res.json({ ...span(range), rules: await tx(req, (trx) => q.ruleCounts(trx, range)) });
    }),
  );

  router.get(
    '/v1/measures/rules/:ruleId',
    read,
    validate({
      params: z.object({ ruleId: Id }),
      query: RangeQuery.extend({
        windowHours: z.coerce.number().int().min(1).max(MAX_WINDOW_HOURS).optional(),
      }).strict(),
    }),
    asyncHandler(async (req, res) => {
      const range = rangeOf(req.query);
      const windowMs = Number(req.query.windowHours ?? 24) * 3_600_000;
      const body = await tx(req, async (trx) => {
        const [counts] = await q.ruleCounts(trx, range, req.params.ruleId);
        const actions = await q.campaignActions(trx, range, req.params.ruleId);
        const campaignActions = [];
        for (const a of actions) {
          const t = a.at.getTime();
          const before = await q.entitySummary(trx, a.campaignId, new Date(t - windowMs), a.at);
          const after = await q.entitySummary(trx, a.campaignId, a.at, new Date(t + windowMs));
          campaignActions.push({ ...a, at: a.at.toISOString(), ...beforeAfter(before, after) });
        }
        return {
          ...(counts ?? {
            firings: 0,
            suppressedFirings: 0,
            actionsRequested: 0,
            actionsSucceeded: 0,
            actionsFailed: 0,
          }),
          ruleId: req.params.ruleId,
          windowHours: windowMs / 3_600_000,
          campaignActions,
        };
      });
      res.json({ ...span(range), ...body });
    }),
  );

  const FunnelParams = z.object({ id: Id });
  const messagesByStep = (rows: Awaited<ReturnType<typeof q.messageFunnelRows>>) => {
    const steps = new Map<string, Record<string, number>>();
    for (const r of rows) {
      const key = r.step_id ?? '(none)';
      const s = steps.get(key) ?? {};
      s[r.type] = r.n;
      steps.set(key, s);
    }
    return [...steps].map(([stepId, counts]) => ({ stepId, ...counts }));
  };

  router.get(
    '/v1/measures/funnels/workflow/:id',
    read,
    validate({ params: FunnelParams }),
    asyncHandler(async (req, res) => {
      const body = await tx(req, async (trx) => {
        const rows = await q.workflowFunnelRows(trx, req.params.id);
        const messages = await q.messageFunnelRows(trx, { kind: 'workflow', id: req.params.id });
        const count = (type: string, status?: string) =>
          rows
            .filter((r) => r.type === type && (status === undefined || r.status === status))
            .reduce((s, r) => s + r.n, 0);
        const steps = new Map<
          string,
          { stepId: string; completed: number; outcomes: Record<string, number> }
        >();
        for (const r of rows.filter((r) => r.type === 'step')) {
          const s = steps.get(r.step_id!) ?? { stepId: r.step_id!, completed: 0, outcomes: {} };
          s.completed += r.n;
          s.outcomes[r.status ?? 'unknown'] = r.n;
          steps.set(r.step_id!, s);
        }
        return {
          workflowId: req.params.id,
          entered: count('started'),
          steps: [...steps.values()],
          messages: messagesByStep(messages),
          converted: count('ended', 'converted'),
          exited: count('ended', 'exited'),
          completed: count('ended', 'completed'),
          failed: count('ended', 'failed'),
          cancelled: count('ended', 'cancelled'),
        };
      });
      res.json(body);
    }),
  );

  router.get(
    '/v1/measures/funnels/drip/:id',
    read,
    validate({ params: FunnelParams }),
    asyncHandler(async (req, res) => {
      const body = await tx(req, async (trx) => {
        const rows = await q.dripFunnelRows(trx, req.params.id);
        const messages = await q.messageFunnelRows(trx, { kind: 'drip', id: req.params.id });
        const count = (type: string) => rows.filter((r) => r.type === type).reduce((s, r) => s + r.n, 0);
        const steps = new Map<string, Record<string, number | string>>();
        for (const r of rows.filter((r) => r.step_id !== null)) {
          const s = steps.get(r.step_id!) ?? { stepId: r.step_id! };
          s[r.type] = r.n;
          steps.set(r.step_id!, s);
        }
        return {
          dripId: req.params.id,
          entered: count('enrolled'),
          steps: [...steps.values()],
          messages: messagesByStep(messages),
          converted: count('converted'),
          exited: count('exited'),
          completed: count('completed'),
        };
      });
      res.json(body);
    }),
  );

  router.get(
    '/v1/measures/funnels/broadcast/:id',
    read,
    validate({ params: FunnelParams, query: RangeQuery.strict() }),
    asyncHandler(async (req, res) => {
      const range = rangeOf(req.query);
      const origin = { kind: 'broadcast', id: req.params.id };
      const body = await tx(req, async (trx) => {
        const counts = await q.emailCounts(trx, range, origin);
        const settings = attributionOf(await readSettings(trx));
        const attributed = revenueByOrigin((await q.credits(trx, range, settings, origin)).credits).get(
          `broadcast:${req.params.id}`,
        );
        return {
          broadcastId: req.params.id,
          ...span(range),
          entered: counts.requested,
          sent: counts.sent,
          delivered: counts.delivered,
          opened: counts.uniqueOpens,
          clicked: counts.uniqueClicks,
          converted: attributed?.conversions ?? 0,
          revenue: attributed?.revenue ?? 0,
          exited: counts.unsubscribes + counts.bounces + counts.complaints,
          unsubscribed: counts.unsubscribes,
        };
      });
      res.json(body);
    }),
  );

  router.get(
    '/v1/measures/roi',
    read,
    validate({ query: RangeQuery.extend({ groupBy: z.enum(['campaign', 'workflow', 'drip']) }).strict() }),
    asyncHandler(async (req, res) => {
      const range = rangeOf(req.query);
      const { groupBy } = req.query;
      const body = await tx(req, async (trx) => {
        const settings = await readSettings(trx);
        if (groupBy === 'campaign') {
          const { spend, revenue } = await q.campaignSpendAndRevenue(trx, range);
          const byId = new Map<
            string,
            { campaignId: string; platforms: string[]; cost: number; revenue: number; conversions: number }
          >();
          const entry = (id: string) => {
            const e = byId.get(id) ?? { campaignId: id, platforms: [], cost: 0, revenue: 0, conversions: 0 };
            byId.set(id, e);
            return e;
          };
          for (const s of spend) {
            const e = entry(s.entity_id);
            e.cost += Number(s.spend);
            e.platforms.push(s.platform);
          }
          for (const r of revenue) {
            const e = entry(r.campaign);
            e.revenue += Number(r.revenue);
            e.conversions += r.conversions;
          }
          return [...byId.values()].map((e) => ({ ...e, ...roi(e.revenue, e.cost) }));
        }
        const sent = await q.sentByOrigin(trx, range, groupBy);
        const credited = revenueByOrigin(
          (await q.credits(trx, range, attributionOf(settings), { kind: groupBy })).credits,
        );
        const ids = new Set([
          ...sent.keys(),
          ...[...credited.keys()].map((k) => k.slice(groupBy.length + 1)),
        ]);
        return [...ids].sort().map((id) => {
          const c = credited.get(`${groupBy}:${id}`);
          const messages = sent.get(id) ?? 0;
          return {
            [`${groupBy}Id`]: id,
            messagesSent: messages,
            conversions: c?.conversions ?? 0,
            ...roi(c?.revenue ?? 0, messages * settings.messageCost),
          };
        });
      });
      res.json({ ...span(range), groupBy, rows: body });
    }),
  );

  const METRIC_NAMES = Object.keys(TREND_METRICS) as [TrendMetric, ...TrendMetric[]];
  router.get(
    '/v1/measures/trends',
    read,
    validate({
      query: RangeQuery.extend({
        metric: z.enum(METRIC_NAMES, {
          errorMap: () => ({ message: `unknown metric; known: ${METRIC_NAMES.join(', ')}` }),
        }),
        bucket: z.enum(BUCKETS).default('day'),
        groupBy: z.enum(['platform']).optional(),
      }).strict(),
    }),
    asyncHandler(async (req, res) => {
      const { metric, bucket, groupBy } = req.query;
      const source = TREND_METRICS[metric];
      if (groupBy === 'platform' && source !== 'ads')
        throw new ValidationError([
          { path: 'query.groupBy', message: `${metric} is not an ad metric: it has no platform` },
        ]);
      const range = rangeOf(req.query, bucket);
      const derived = (DERIVED_METRICS as Record<string, readonly string[]>)[metric];
      const components =
        source === 'ads'
          ? [...(derived ?? [metric])]
          : source === 'email'
            ? [EMAIL_TYPES[metric]!]
            : [metric];
      const rows = await tx(req, (trx) =>
        q.trendSums(trx, source, components, bucket, range, groupBy === 'platform'),
      );
      const series = new Map<string, Array<{ at: string; value: number | null }>>();
      for (const r of rows) {
        const points = series.get(r.group) ?? [];
        const sums = source === 'email' || source === 'rules' ? { [metric]: r.sums.n ?? 0 } : r.sums;
        points.push({ at: r.bucket.toISOString(), value: trendValue(metric, sums) });
        series.set(r.group, points);
      }
      res.json({
        ...span(range),
        metric,
        bucket,
        ...(groupBy ? { groupBy } : {}),
        series: [...series].map(([group, points]) => ({ ...(groupBy ? { platform: group } : {}), points })),
      });
    }),
  );

  router.get(
    '/v1/settings',
    read,
    asyncHandler(async (req, res) => {
      res.json(await tx(req, (trx) => readSettings(trx)));
    }),
  );

  router.put(
    '/v1/settings',
    write,
    validate({ body: MeasureSettingsChange }),
    asyncHandler(async (req, res) => {
      const body = await tx(req, async (trx) => {
        const next = MeasureSettings.parse({ ...(await readSettings(trx)), ...(req.body as object) });
        await writeSettings(trx, org(req), next, now());
        return next;
      });
      res.json(body);
    }),
  );

  router.post(
    '/v1/projections/rebuild',
    write,
    asyncHandler(async (req, res) => {
      const status = await rebuilder.start(org(req));
      res.status(202).location(`v1/projections/rebuild/${status.rebuildId}`).json(status);
    }),
  );

  router.get(
    '/v1/projections/rebuild/:rebuildId',
    read,
    validate({ params: z.object({ rebuildId: Id }) }),
    asyncHandler(async (req, res) => {
      const status = rebuilder.get(org(req), req.params.rebuildId);
      if (!status) throw new NotFoundError(`no rebuild ${req.params.rebuildId}`);
      res.json(status);
    }),
  );
}

const EMAIL_TYPES: Partial<Record<TrendMetric, string>> = {
  'email.sent': 'sent',
  'email.delivered': 'delivered',
  'email.opens': 'opened',
  'email.clicks': 'clicked',
  'email.bounces': 'bounced',
  'email.complaints': 'complained',
  'email.unsubscribes': 'unsubscribed',
};
