// The workflows HTTP API: drafts, publishing, versions, the audit trail, enrollment, instances
// (failed ones retried, skipped or cancelled), a contact's history, simulation, backtests and
// migrations between versions.
import { randomUUID } from 'node:crypto';
import {
  asyncHandler,
  newWebhookSecret,
  NotFoundError,
  validate,
  ValidationError,
  withOrg,
  type Allowlist,
  type InvalidatingCache,
  type ServiceRuntime,
  ifMatchVersion,
} from '@cmis/platform';
import type { Request, Router } from 'express';
import type { Knex } from 'knex';
import { z } from 'zod';
import type { ActiveIndex } from '../instances/consumer';
import { enrollLatest } from '../instances/enroll';
import { ENDED, type EngineInput, type InstanceState, type TrackedEvent } from '../instances/engine';
import { INSTANCE_STREAM, trackedOf, type Runner } from '../instances/runner';
import { addToTotals, simulate, type BacktestTotals } from '../simulate/simulate';
import { checkWorkflow, compileWorkflow } from './compile';
import { WorkflowNotFoundError, type WorkflowCommand } from './definitions';
import { WORKFLOW_STREAM, type WorkflowStore } from './store';

const Id = z.string().min(1).max(200);
const WorkflowParams = z.object({ workflowId: Id });
const InstanceParams = z.object({ instanceId: Id });
const Draft = z.record(z.unknown()).refine((d) => JSON.stringify(d).length <= 512 * 1024, 'at most 512 KiB');
const SimEvent = z.object({
  name: z.string().min(1).max(200),
  at: z.string().datetime({ offset: true }),
  properties: z.record(z.unknown()).default({}),
});
const MAX_BACKTEST_CONTACTS = 100_000;
const InstancesQuery = z.object({
  status: z
    .enum(['running', 'waiting', 'completed', 'converted', 'exited', 'failed', 'cancelled'])
    .optional(),
  limit: z.coerce.number().int().min(1).max(1_000).default(100),
});
const HistoryQuery = z.object({
  workflowId: Id.optional(),
  limit: z.coerce.number().int().min(1).max(1_000).default(200),
});

/** Parses a part of the request; a fault is a 400 naming the field. */
function parse<S extends z.ZodTypeAny>(schema: S, value: unknown, base: string): z.output<S> {
  const r = schema.safeParse(value);
  if (!r.success)
    throw new ValidationError(
      r.error.issues.map((i) => ({ path: [base, ...i.path].join('.'), message: i.message })),
    );
  return r.data;
}

export interface WorkflowsApiDeps {
  rt: ServiceRuntime;
  store: WorkflowStore;
  runner: Runner;
  index: InvalidatingCache<ActiveIndex>;
  allowlist: Allowlist;
  now: () => Date;
}

export function workflowsRoutes(router: Router, deps: WorkflowsApiDeps): void {
  const { rt, store, runner, index, allowlist, now } = deps;
  const org = (req: Request) => req.principal!.orgId;
  const tx = <T>(req: Request, fn: (trx: Knex.Transaction) => Promise<T>) => withOrg(rt.db.app, org(req), fn);
  const meta = (req: Request) => ({
    actor: `key:${req.principal!.keyId}`,
    at: now().toISOString(),
    correlationId: (req.headers['x-request-id'] as string | undefined) ?? randomUUID(),
  });
  const present = async (trx: Knex.Transaction, workflowId: string) => {
    const w = await store.get(trx, workflowId);
    if (!w) throw new WorkflowNotFoundError(workflowId);
    return w;
  };
  const read = rt.auth.require('workflows:read');
  const write = rt.auth.require('workflows:write');

  router.post(
    '/v1/workflows',
    write,
    validate({ body: Draft }),
    asyncHandler(async (req, res) => {
      const workflowId = randomUUID();
      const body = await tx(req, async (trx) => {
        await store.execute(trx, org(req), {
          type: 'CreateWorkflow',
          data: { workflowId, draft: req.body },
          metadata: meta(req),
        });
        return present(trx, workflowId);
      });
      res.status(201).location(`v1/workflows/${workflowId}`).json(body);
    }),
  );

  router.get(
    '/v1/workflows',
    read,
    asyncHandler(async (req, res) => {
      res.json({ workflows: await tx(req, (trx) => store.list(trx)) });
    }),
  );

  router.get(
    '/v1/workflows/:workflowId',
    read,
    validate({ params: WorkflowParams }),
    asyncHandler(async (req, res) => {
      res.json(await tx(req, (trx) => present(trx, req.params.workflowId)));
    }),
  );

  router.put(
    '/v1/workflows/:workflowId/draft',
    write,
    validate({ params: WorkflowParams, body: Draft }),
    asyncHandler(async (req, res) => {
      const expectedRevision = ifMatchVersion(req);
      const body = await tx(req, async (trx) => {
        await store.execute(trx, org(req), {
          type: 'UpdateDraft',
          data: {
            workflowId: req.params.workflowId,
            draft: req.body,
            ...(expectedRevision !== undefined ? { expectedRevision } : {}),
          },
          metadata: meta(req),
        });
        return present(trx, req.params.workflowId);
      });
      res.json(body);
    }),
  );

  router.post(
    '/v1/workflows/:workflowId/validate',
    read,
    validate({ params: WorkflowParams }),
    asyncHandler(async (req, res) => {
      const w = await tx(req, (trx) => present(trx, req.params.workflowId));
      const checked = checkWorkflow(w.draft, { allowlist, base: 'draft' });
      res.json(checked.ok ? { valid: true, errors: [] } : { valid: false, errors: checked.errors });
    }),
  );

  router.post(
    '/v1/workflows/:workflowId/publish',
    write,
    validate({ params: WorkflowParams }),
    asyncHandler(async (req, res) => {
      const { workflowId } = req.params;
      const result = await tx(req, async (trx) => {
        const w = await present(trx, workflowId);
        const checked = checkWorkflow(w.draft, { allowlist, base: 'draft' });
        if (!checked.ok) throw new ValidationError(checked.errors, 'The workflow cannot be published');
        const command: WorkflowCommand = {
          type: 'PublishWorkflow',
          data: { workflowId, definition: checked.definition },
          metadata: meta(req),
        };
        const state = await store.execute(trx, org(req), command);
        let secret: string | undefined;
        if (checked.definition.steps.some((s) => s.kind === 'webhook')) {
          const existing = await trx('webhook_secrets').where({ workflow_id: workflowId }).first('secret');
          if (!existing) {
            secret = newWebhookSecret();
            await trx('webhook_secrets').insert({ org_id: org(req), workflow_id: workflowId, secret });
          }
        }
        return { version: state.status === 'absent' ? 0 : state.latestVersion!, secret };
      });
      await index.invalidate(org(req));
      res.status(201).json({
        workflowId,
        version: result.version,
        ...(result.secret ? { webhookSecret: result.secret } : {}),
      });
    }),
  );

  router.post(
    '/v1/workflows/:workflowId/archive',
    write,
    validate({ params: WorkflowParams }),
    asyncHandler(async (req, res) => {
      const body = await tx(req, async (trx) => {
        await store.execute(trx, org(req), {
          type: 'ArchiveWorkflow',
          data: { workflowId: req.params.workflowId },
          metadata: meta(req),
        });
        return present(trx, req.params.workflowId);
      });
      await index.invalidate(org(req));
      res.json(body);
    }),
  );

  router.get(
    '/v1/workflows/:workflowId/versions/:version',
    read,
    asyncHandler(async (req, res) => {
      const { workflowId, version } = parse(
        WorkflowParams.extend({ version: z.coerce.number().int().positive() }),
        req.params,
        'params',
      );
      const v = await tx(req, (trx) => store.version(trx, workflowId, version));
      if (!v) throw new NotFoundError(`workflow ${workflowId} has no version ${version}`);
      res.json(v);
    }),
  );

  // The audit trail: every change to the workflow, who made it, when, from which version.
  router.get(
    '/v1/workflows/:workflowId/changes',
    read,
    validate({ params: WorkflowParams }),
    asyncHandler(async (req, res) => {
      const events = await tx(req, (trx) =>
        rt.eventStore.readStream(trx, org(req), WORKFLOW_STREAM, req.params.workflowId),
      );
      if (events.length === 0) throw new WorkflowNotFoundError(req.params.workflowId);
      res.json({
        changes: events.map((e) => ({
          version: e.streamVersion,
          type: e.type,
          data: e.data,
          actor: (e.metadata as { actor?: string }).actor,
          at: (e.metadata as { at?: string }).at,
        })),
      });
    }),
  );

  router.post(
    '/v1/workflows/:workflowId/enrollments',
    write,
    validate({
      params: WorkflowParams,
      body: z.object({ contactId: Id, requestId: Id.optional() }).strict(),
    }),
    asyncHandler(async (req, res) => {
      const outcome = await tx(req, (trx) =>
        enrollLatest(
          trx,
          org(req),
          { store, runner },
          {
            workflowId: req.params.workflowId,
            contactId: req.body.contactId,
            entry: 'api',
            causeId: req.body.requestId ?? randomUUID(),
            at: now(),
            chain: { actor: `key:${req.principal!.keyId}` },
          },
        ),
      );
      res
        .status(outcome.entered ? 201 : 200)
        .json(
          outcome.entered
            ? { entered: true, instanceId: outcome.instanceId, status: outcome.state.status }
            : outcome,
        );
    }),
  );

  router.get(
    '/v1/workflows/:workflowId/instances',
    read,
    validate({ params: WorkflowParams }),
    asyncHandler(async (req, res) => {
      const q = parse(InstancesQuery, req.query, 'query');
      const rows = await tx(req, (trx) => {
        const query = trx('instances')
          .where({ workflow_id: req.params.workflowId })
          .orderBy('updated_at', 'desc')
          .limit(q.limit);
        if (q.status) query.where({ status: q.status });
        return query.select(
          'instance_id',
          'version',
          'contact_id',
          'status',
          'step_id',
          'last_error',
          'started_at',
          'updated_at',
        );
      });
      res.json({ instances: rows.map(instanceView) });
    }),
  );

  router.get(
    '/v1/instances/:instanceId',
    read,
    validate({ params: InstanceParams }),
    asyncHandler(async (req, res) => {
      const body = await tx(req, async (trx) => {
        const row = await trx('instances').where({ instance_id: req.params.instanceId }).first();
        if (!row) throw new NotFoundError(`no instance ${req.params.instanceId}`);
        const events = await rt.eventStore.readStream(trx, org(req), INSTANCE_STREAM, req.params.instanceId);
        return {
          ...instanceView(row),
          workflowId: row.workflow_id,
          state: row.state,
          events: events.map((e) => ({ type: e.type, data: e.data, at: e.occurredAt })),
        };
      });
      res.json(body);
    }),
  );

  for (const action of ['retry', 'skip', 'cancel'] as const) {
    router.post(
      `/v1/instances/:instanceId/${action}`,
      write,
      validate({ params: InstanceParams }),
      asyncHandler(async (req, res) => {
        const state = await tx(req, async (trx) => {
          const row = await trx('instances')
            .where({ instance_id: req.params.instanceId })
            .first('status', 'state');
          if (!row) throw new NotFoundError(`no instance ${req.params.instanceId}`);
          const current = row.state as InstanceState;
          const at = now().toISOString();
          // A failed instance is revived by retry or skip (back where it failed); an ended one is done.
          if (ENDED.has(current.status) && !(action !== 'cancel' && current.status === 'failed'))
            throw new ValidationError(
              [{ path: 'instanceId', message: `the instance is ${current.status}` }],
              'Nothing to do',
            );
          const input: EngineInput =
            action === 'cancel'
              ? { kind: 'cancel', at, reason: `cancelled by key:${req.principal!.keyId}` }
              : { kind: action, at };
          return runner.advance(trx, org(req), req.params.instanceId, input, {
            actor: `key:${req.principal!.keyId}`,
          });
        });
        res.json({ instanceId: req.params.instanceId, status: state!.status, stepId: state!.stepId });
      }),
    );
  }

  // Why did this contact get, or not get, this message: every decision with its inputs.
  router.get(
    '/v1/contacts/:contactId/history',
    read,
    validate({ params: z.object({ contactId: Id }) }),
    asyncHandler(async (req, res) => {
      const q = parse(HistoryQuery, req.query, 'query');
      const rows = await tx(req, (trx) => {
        const query = trx('history').where({ contact_id: req.params.contactId }).orderBy('id').limit(q.limit);
        if (q.workflowId) query.where({ workflow_id: q.workflowId });
        return query.select('workflow_id', 'instance_id', 'step_id', 'kind', 'outcome', 'inputs', 'at');
      });
      res.json({
        contactId: req.params.contactId,
        decisions: rows.map((r) => ({
          workflowId: r.workflow_id,
          instanceId: r.instance_id ?? undefined,
          stepId: r.step_id ?? undefined,
          kind: r.kind,
          outcome: r.outcome,
          inputs: r.inputs,
          at: r.at,
        })),
      });
    }),
  );

  // A draft (or a version) for a sample contact and timed events, on a virtual clock: nothing is sent.
  router.post(
    '/v1/workflows/:workflowId/simulate',
    read,
    validate({
      params: WorkflowParams,
      body: z
        .object({
          version: z.number().int().positive().optional(),
          contactId: Id.default('sample'),
          contact: z.record(z.unknown()).optional(),
          events: z.array(SimEvent).min(1).max(1_000),
        })
        .strict(),
    }),
    asyncHandler(async (req, res) => {
      const compiled = await tx(req, (trx) => compiledFor(trx, req.params.workflowId, req.body.version));
      const events: TrackedEvent[] = req.body.events.map((e: z.infer<typeof SimEvent>, i: number) => ({
        id: `sim-${i}`,
        name: e.name,
        at: new Date(e.at).toISOString(),
        data: { properties: e.properties },
      }));
      res.json(
        simulate(compiled, {
          contactId: req.body.contactId,
          ...(req.body.contact ? { contact: req.body.contact } : {}),
          events,
        }),
      );
    }),
  );

  // Replays the recorded track calls of a time range through a draft or version, read-only.
  router.post(
    '/v1/workflows/:workflowId/backtest',
    read,
    validate({
      params: WorkflowParams,
      body: z
        .object({
          version: z.number().int().positive().optional(),
          from: z.string().datetime({ offset: true }),
          to: z.string().datetime({ offset: true }),
        })
        .strict(),
    }),
    asyncHandler(async (req, res) => {
      const body = await tx(req, async (trx) => {
        const compiled = await compiledFor(trx, req.params.workflowId, req.body.version);
        const totals: BacktestTotals = {
          contacts: 0,
          entered: 0,
          converted: 0,
          exited: 0,
          completed: 0,
          stillRunning: 0,
          messages: {},
        };
        const rows = await trx('contact_events')
          .where('occurred_at', '>=', req.body.from)
          .where('occurred_at', '<', req.body.to)
          .orderBy(['contact_id', 'occurred_at'])
          .select('event_id', 'contact_id', 'name', 'occurred_at', 'data');
        const byContact = new Map<string, TrackedEvent[]>();
        for (const r of rows) {
          if (!byContact.has(r.contact_id) && byContact.size >= MAX_BACKTEST_CONTACTS) break;
          byContact.set(r.contact_id, [...(byContact.get(r.contact_id) ?? []), trackedOf(r)]);
        }
        const traits = new Map<string, Record<string, unknown>>(
          (
            await trx('contacts')
              .whereIn('contact_id', [...byContact.keys()])
              .select('contact_id', 'traits')
          ).map((r) => [r.contact_id as string, r.traits as Record<string, unknown>]),
        );
        for (const [contactId, events] of byContact) {
          const contact = traits.get(contactId);
          addToTotals(
            totals,
            simulate(compiled, { contactId, ...(contact ? { contact } : {}), events, until: req.body.to }),
          );
        }
        return {
          workflowId: req.params.workflowId,
          version: compiled.version,
          from: req.body.from,
          to: req.body.to,
          events: rows.length,
          ...totals,
        };
      });
      res.json(body);
    }),
  );

  // Moves running instances of one version to another with a step mapping; dryRun lists the moves.
  router.post(
    '/v1/workflows/:workflowId/migrations',
    write,
    validate({
      params: WorkflowParams,
      body: z
        .object({
          fromVersion: z.number().int().positive(),
          toVersion: z.number().int().positive(),
          mapping: z.record(z.string()).default({}),
          dryRun: z.boolean().default(true),
        })
        .strict(),
    }),
    asyncHandler(async (req, res) => {
      const { fromVersion, toVersion, mapping, dryRun } = req.body as {
        fromVersion: number;
        toVersion: number;
        mapping: Record<string, string>;
        dryRun: boolean;
      };
      const body = await tx(req, async (trx) => {
        const target = await compiledFor(trx, req.params.workflowId, toVersion);
        const bad = Object.entries(mapping).filter(([, to]) => !target.steps.has(to));
        if (bad.length > 0)
          throw new ValidationError(
            bad.map(([from, to]) => ({
              path: `body.mapping.${from}`,
              message: `version ${toVersion} has no step ${to}`,
            })),
            'The mapping is not valid',
          );
        const rows = await trx('instances')
          .where({ workflow_id: req.params.workflowId, version: fromVersion })
          .whereIn('status', ['running', 'waiting'])
          .forUpdate()
          .select('instance_id', 'contact_id', 'step_id');
        const moves = rows.map((r) => {
          const to =
            mapping[r.step_id as string] ??
            (target.steps.has(r.step_id as string) ? (r.step_id as string) : undefined);
          return {
            instanceId: r.instance_id as string,
            contactId: r.contact_id as string,
            fromStepId: r.step_id as string,
            ...(to ? { toStepId: to } : { stays: `version ${toVersion} has no step ${r.step_id}; map it` }),
          };
        });
        if (!dryRun) {
          for (const m of moves) {
            if (!('toStepId' in m) || !m.toStepId) continue;
            await runner.advance(
              trx,
              org(req),
              m.instanceId,
              { kind: 'migrate', at: now().toISOString(), toStepId: m.toStepId },
              { actor: `key:${req.principal!.keyId}` },
              toVersion,
            );
          }
        }
        return { dryRun, fromVersion, toVersion, moves };
      });
      res.json(body);
    }),
  );

  const compiledFor = async (trx: Knex.Transaction, workflowId: string, version?: number) => {
    const w = await present(trx, workflowId);
    if (version !== undefined) {
      const v = await store.version(trx, workflowId, version);
      if (!v) throw new NotFoundError(`workflow ${workflowId} has no version ${version}`);
      return compileWorkflow(workflowId, version, v.definition);
    }
    const checked = checkWorkflow(w.draft, { allowlist, base: 'draft' });
    if (!checked.ok) throw new ValidationError(checked.errors, 'The draft is not valid');
    return compileWorkflow(workflowId, (w.latestVersion ?? 0) + 1, checked.definition);
  };
}

const instanceView = (r: Record<string, unknown>) => ({
  instanceId: r.instance_id,
  version: r.version,
  contactId: r.contact_id,
  status: r.status,
  stepId: r.step_id ?? undefined,
  lastError: r.last_error ?? undefined,
  startedAt: r.started_at,
  updatedAt: r.updated_at,
});
