// The drip HTTP API: campaigns (create, edit, activate, pause, resume, archive, audit trail),
// enrollment (one contact, or up to 10,000 a call), subscriptions and a contact's history.
import { randomUUID } from 'node:crypto';
import {
  asyncHandler,
  NotFoundError,
  UnprocessableEntityError,
  validate,
  ValidationError,
  withOrg,
  type ServiceRuntime,
  ifMatchVersion,
} from '@cmis/platform';
import type { Request, Router } from 'express';
import type { Knex } from 'knex';
import { z } from 'zod';
import { onResume } from '../subscriptions/progress';
import type { SubscriptionRunner } from '../subscriptions/runner';
import { checkCampaign } from './campaign';
import { DripNotFoundError } from './definitions';
import { CAMPAIGN_STREAM, type CampaignStore } from './store';

export const MAX_BULK = 10_000;
const RESUME_PAGE = 500;
const Id = z.string().min(1).max(200);
const DripParams = z.object({ dripId: Id });

export interface DripApiDeps {
  rt: ServiceRuntime;
  store: CampaignStore;
  runner: SubscriptionRunner;
  now: () => Date;
}

export function dripRoutes(router: Router, deps: DripApiDeps): void {
  const { rt, store, runner, now } = deps;
  const org = (req: Request) => req.principal!.orgId;
  const tx = <T>(req: Request, fn: (trx: Knex.Transaction) => Promise<T>) => withOrg(rt.db.app, org(req), fn);
  const meta = (req: Request) => ({
    actor: `key:${req.principal!.keyId}`,
    at: now().toISOString(),
    correlationId: (req.headers['x-request-id'] as string | undefined) ?? randomUUID(),
  });
  const read = rt.auth.require('drip:read');
  const write = rt.auth.require('drip:write');
  const checked = (body: unknown) => {
    const r = checkCampaign(body);
    if (!r.ok) throw new ValidationError(r.errors, 'The drip campaign is not valid');
    return r.campaign;
  };
  const present = async (trx: Knex.Transaction, dripId: string) => {
    const d = await store.get(trx, dripId);
    if (!d) throw new DripNotFoundError(dripId);
    return d;
  };
  const changed = async (req: Request) => store.campaigns.invalidate(org(req));

  router.post(
    '/v1/drips',
    write,
    asyncHandler(async (req, res) => {
      const campaign = checked(req.body);
      const dripId = randomUUID();
      const body = await tx(req, async (trx) => {
        await store.execute(trx, org(req), {
          type: 'CreateCampaign',
          data: { dripId, campaign },
          metadata: meta(req),
        });
        return present(trx, dripId);
      });
      await changed(req);
      res.status(201).location(`v1/drips/${dripId}`).json(body);
    }),
  );

  router.get(
    '/v1/drips',
    read,
    asyncHandler(async (req, res) => {
      res.json({ drips: await tx(req, (trx) => store.list(trx)) });
    }),
  );

  router.get(
    '/v1/drips/:dripId',
    read,
    validate({ params: DripParams }),
    asyncHandler(async (req, res) => {
      res.json(await tx(req, (trx) => present(trx, req.params.dripId)));
    }),
  );

  // Editing an active campaign: new or changed steps apply to subscribers who have not reached
  // them (progress goes by step id), removed steps are skipped.
  router.put(
    '/v1/drips/:dripId',
    write,
    validate({ params: DripParams }),
    asyncHandler(async (req, res) => {
      const campaign = checked(req.body);
      const expectedVersion = ifMatchVersion(req);
      const body = await tx(req, async (trx) => {
        await store.execute(trx, org(req), {
          type: 'UpdateCampaign',
          data: {
            dripId: req.params.dripId,
            campaign,
            ...(expectedVersion !== undefined ? { expectedVersion } : {}),
          },
          metadata: meta(req),
        });
        return present(trx, req.params.dripId);
      });
      await changed(req);
      res.json(body);
    }),
  );

  for (const [action, to] of [
    ['activate', 'active'],
    ['pause', 'paused'],
    ['resume', 'active'],
    ['archive', 'archived'],
  ] as const) {
    router.post(
      `/v1/drips/:dripId/${action}`,
      write,
      validate({ params: DripParams }),
      asyncHandler(async (req, res) => {
        const { dripId } = req.params;
        const before = await tx(req, (trx) => present(trx, dripId));
        if (action === 'resume' && before.status !== 'paused')
          throw new UnprocessableEntityError(`drip ${dripId} is ${before.status}, not paused`);
        const body = await tx(req, async (trx) => {
          await store.execute(trx, org(req), {
            type: 'SetStatus',
            data: { dripId, to },
            metadata: meta(req),
          });
          return present(trx, dripId);
        });
        await changed(req);
        let resumed = 0;
        if (before.status === 'paused' && to === 'active') {
          // Subscribers whose step fell due while paused, page by page, by the resume mode.
          for (;;) {
            const page = await tx(req, async (trx) => {
              const held = await trx('subscriptions')
                .where({ drip_id: dripId, status: 'held' })
                .limit(RESUME_PAGE)
                .select('subscription_id');
              const at = now();
              for (const h of held)
                await runner.progress(trx, org(req), h.subscription_id as string, at, (c, sub, contact) =>
                  onResume(c, sub, at.toISOString(), contact),
                );
              return held.length;
            });
            resumed += page;
            if (page < RESUME_PAGE) break;
          }
        }
        res.json({ ...body, ...(action === 'resume' ? { resumed } : {}) });
      }),
    );
  }

  router.get(
    '/v1/drips/:dripId/changes',
    read,
    validate({ params: DripParams }),
    asyncHandler(async (req, res) => {
      const events = await tx(req, (trx) =>
        rt.eventStore.readStream(trx, org(req), CAMPAIGN_STREAM, req.params.dripId),
      );
      if (events.length === 0) throw new DripNotFoundError(req.params.dripId);
      res.json({
        changes: events.map((e) => {
          const m = e.metadata as { actor?: string; at?: string };
          return {
            type: e.type,
            version: (e.data as { version?: number }).version,
            actor: m.actor,
            at: m.at,
          };
        }),
      });
    }),
  );

  const enrollOne = async (
    trx: Knex.Transaction,
    orgId: string,
    dripId: string,
    contactId: string,
    causeId: string,
    actor: string,
  ) => {
    const known = await trx('contacts').where({ org_id: orgId, contact_id: contactId }).first('contact_id');
    if (!known) return { contactId, enrolled: false, reason: 'unknown contact (not identified yet)' };
    const campaign = (await store.campaigns.get(orgId)).byId.get(dripId);
    if (!campaign || campaign.status !== 'active')
      return {
        contactId,
        enrolled: false,
        reason: campaign ? `the drip is ${campaign.status}` : 'the drip is not active',
      };
    return {
      contactId,
      ...(await runner.enroll(trx, orgId, campaign, {
        contactId,
        entry: 'api',
        causeId,
        at: now(),
        chain: { actor },
      })),
    };
  };

  router.post(
    '/v1/drips/:dripId/enrollments',
    write,
    validate({ params: DripParams, body: z.object({ contactId: Id, requestId: Id.optional() }).strict() }),
    asyncHandler(async (req, res) => {
      const { dripId } = req.params;
      const result = await tx(req, async (trx) => {
        await present(trx, dripId);
        return enrollOne(
          trx,
          org(req),
          dripId,
          req.body.contactId,
          req.body.requestId ?? randomUUID(),
          `key:${req.principal!.keyId}`,
        );
      });
      if (
        !result.enrolled &&
        /unknown contact|not active|is (draft|paused|archived)/.test((result as { reason: string }).reason)
      )
        throw new UnprocessableEntityError((result as { reason: string }).reason, {
          contactId: req.body.contactId,
        });
      res.status(result.enrolled ? 201 : 200).json(result);
    }),
  );

  router.post(
    '/v1/drips/:dripId/enrollments/bulk',
    write,
    validate({ params: DripParams }),
    asyncHandler(async (req, res) => {
      const body = req.body as { contactIds?: unknown };
      if (!Array.isArray(body?.contactIds))
        throw new ValidationError([{ path: 'body.contactIds', message: 'an array of contact ids' }]);
      if (body.contactIds.length > MAX_BULK)
        throw new ValidationError([
          {
            path: 'body.contactIds',
            message: `at most ${MAX_BULK} contacts a call (got ${body.contactIds.length})`,
          },
        ]);
      const parsed = z.array(Id).min(1).safeParse(body.contactIds);
      if (!parsed.success)
        throw new ValidationError(
          parsed.error.issues.map((i) => ({
            path: ['body', 'contactIds', ...i.path].join('.'),
            message: i.message,
          })),
        );
      const { dripId } = req.params;
      const causeId = randomUUID();
      const results = await tx(req, async (trx) => {
        await present(trx, dripId);
        const out = [];
        for (const contactId of new Set(parsed.data))
          out.push(
            await enrollOne(
              trx,
              org(req),
              dripId,
              contactId,
              `${causeId}:${contactId}`,
              `key:${req.principal!.keyId}`,
            ),
          );
        return out;
      });
      res.json({
        enrolled: results.filter((r) => r.enrolled).length,
        refused: results.filter((r) => !r.enrolled),
        results: results.length,
      });
    }),
  );

  router.get(
    '/v1/drips/:dripId/subscriptions',
    read,
    validate({ params: DripParams }),
    asyncHandler(async (req, res) => {
      const status = typeof req.query.status === 'string' ? req.query.status : undefined;
      const contactId = typeof req.query.contactId === 'string' ? req.query.contactId : undefined;
      const rows = await tx(req, (trx) => {
        const q = trx('subscriptions')
          .where({ drip_id: req.params.dripId })
          .orderBy('enrolled_at')
          .limit(1_000);
        if (status) q.where({ status });
        if (contactId) q.where({ contact_id: contactId });
        return q.select(
          'subscription_id',
          'contact_id',
          'status',
          'next_step_id',
          'send_at',
          'last_error',
          'enrolled_at',
          'state',
        );
      });
      res.json({
        subscriptions: rows.map((r) => ({
          subscriptionId: r.subscription_id,
          contactId: r.contact_id,
          status: r.status,
          nextStepId: r.next_step_id ?? undefined,
          sendAt: r.send_at ?? undefined,
          doneStepIds: (r.state as { doneStepIds: string[] }).doneStepIds,
          lastError: r.last_error ?? undefined,
          enrolledAt: r.enrolled_at,
        })),
      });
    }),
  );

  router.get(
    '/v1/subscriptions/:subscriptionId',
    read,
    validate({ params: z.object({ subscriptionId: Id }) }),
    asyncHandler(async (req, res) => {
      const body = await tx(req, async (trx) => {
        const row = await trx('subscriptions').where({ subscription_id: req.params.subscriptionId }).first();
        if (!row) throw new NotFoundError(`no subscription ${req.params.subscriptionId}`);
        const events = await rt.eventStore.readStream(
          trx,
          org(req),
          'drip-subscription',
          req.params.subscriptionId,
        );
        return {
          subscriptionId: row.subscription_id,
          dripId: row.drip_id,
          contactId: row.contact_id,
          status: row.status,
          lastError: row.last_error ?? undefined,
          state: row.state,
          events: events.map((e) => ({ type: e.type, data: e.data, at: e.occurredAt })),
        };
      });
      res.json(body);
    }),
  );

  router.get(
    '/v1/contacts/:contactId/history',
    read,
    validate({ params: z.object({ contactId: Id }) }),
    asyncHandler(async (req, res) => {
      const rows = await tx(req, (trx) =>
        trx('history')
          .where({ contact_id: req.params.contactId })
          .orderBy('id')
          .limit(500)
          .select('drip_id', 'subscription_id', 'step_id', 'kind', 'outcome', 'detail', 'at'),
      );
      res.json({
        contactId: req.params.contactId,
        entries: rows.map((r) => ({
          dripId: r.drip_id,
          subscriptionId: r.subscription_id ?? undefined,
          stepId: r.step_id ?? undefined,
          kind: r.kind,
          outcome: r.outcome,
          detail: r.detail,
          at: r.at,
        })),
      });
    }),
  );
}
