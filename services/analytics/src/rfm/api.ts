// RFM over HTTP: a contact's scores, the org's grid (R×F counts, counts per named segment) and
// the window setting (a change re-scores every buyer at once).
import { asyncHandler, NotFoundError, validate, withOrg, type ServiceRuntime } from '@cmis/platform';
import type { Request, Router } from 'express';
import type { Knex } from 'knex';
import { z } from 'zod';
import { RFM_SEGMENTS } from '@cmis/contracts';
import { documentRoutes } from '../openapi';
import type { Rfm } from './scores';

const ContactParams = z.object({ contactId: z.string().min(1).max(200) });
const Settings = z.object({ windowDays: z.number().int().min(1).max(3_650) }).strict();

documentRoutes([
  {
    method: 'get',
    path: '/v1/rfm/contacts/{contactId}',
    summary: "A contact's RFM scores and segment",
    scope: 'analytics:read',
  },
  {
    method: 'get',
    path: '/v1/rfm/grid',
    summary: 'Buyers per recency × frequency, and per named segment',
    scope: 'analytics:read',
  },
  {
    method: 'put',
    path: '/v1/rfm/settings',
    summary: 'The RFM window in days (re-scores every buyer)',
    scope: 'analytics:write',
    body: {
      type: 'object',
      required: ['windowDays'],
      properties: { windowDays: { type: 'integer', minimum: 1, maximum: 3650 } },
    },
  },
]);

export function rfmRoutes(router: Router, deps: { rt: ServiceRuntime; rfm: Rfm }): void {
  const { rt, rfm } = deps;
  const org = (req: Request) => req.principal!.orgId;
  const tx = <T>(req: Request, fn: (trx: Knex.Transaction) => Promise<T>) => withOrg(rt.db.app, org(req), fn);
  const read = rt.auth.require('analytics:read');
  const write = rt.auth.require('analytics:write');

  router.get(
    '/v1/rfm/contacts/:contactId',
    read,
    validate({ params: ContactParams }),
    asyncHandler(async (req, res) => {
      const row = await tx(req, (trx) =>
        trx('rfm_scores').where({ contact_id: req.params.contactId }).first(),
      );
      if (!row) throw new NotFoundError(`no orders of contact ${req.params.contactId}`);
      res.json({
        contactId: row.contact_id,
        recency: row.recency,
        frequency: row.frequency,
        monetary: row.monetary,
        segment: row.segment,
        orders: row.orders,
        revenue: Number(row.revenue),
        lastOrderAt: row.last_order_at,
        inWindow: row.in_window,
        updatedAt: row.updated_at,
      });
    }),
  );

  router.get(
    '/v1/rfm/grid',
    read,
    asyncHandler(async (req, res) => {
      const body = await tx(req, async (trx) => {
        const cells = await trx('rfm_scores')
          .groupBy('recency', 'frequency')
          .orderBy(['recency', 'frequency'])
          .select('recency', 'frequency', trx.raw('count(*)::int as contacts'));
        const bySegment = await trx('rfm_scores')
          .groupBy('segment')
          .select('segment', trx.raw('count(*)::int as contacts'));
        const segments = Object.fromEntries(RFM_SEGMENTS.map((s) => [s, 0]));
        for (const r of bySegment) segments[r.segment as string] = r.contacts as number;
        const settings = await trx('rfm_settings').first('window_days');
        return { windowDays: settings?.window_days ?? null, cells, segments };
      });
      res.json(body);
    }),
  );

  router.put(
    '/v1/rfm/settings',
    write,
    validate({ body: Settings }),
    asyncHandler(async (req, res) => {
      const { windowDays } = req.body as z.infer<typeof Settings>;
      const orgId = org(req);
      const changes = await tx(req, async (trx) => {
        const fresh = (await trx('rfm_settings').where({ org_id: orgId }).first()) === undefined;
        await trx('rfm_settings')
          .insert({ org_id: orgId, window_days: windowDays })
          .onConflict('org_id')
          .merge();
        if (fresh) await rfm.scheduleAging(trx, orgId);
        return rfm.rescoreOrg(trx, orgId);
      });
      res.json({ windowDays, segmentChanges: changes });
    }),
  );
}
