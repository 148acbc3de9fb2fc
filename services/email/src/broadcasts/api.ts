// Audiences (static lists uploaded through the API, or following an analytics segment: see
// segments.ts) and broadcasts: create, start, pause, resume, and read with their counts.
import { randomUUID } from 'node:crypto';
import {
  asyncHandler,
  ConflictError,
  NotFoundError,
  validate,
  withOrg,
  type ServiceRuntime,
} from '@cmis/platform';
import type { Router } from 'express';
import type { Knex } from 'knex';
import { z } from 'zod';
import { AudienceInput, BroadcastInput, type BroadcastDefinition, type BroadcastStatus } from './broadcast';
import type { BroadcastWorker } from './worker';

const IdParams = z.object({ id: z.string().min(1).max(100) });
const INSERT_CHUNK = 5_000;

export function broadcastRoutes(
  router: Router,
  deps: { rt: ServiceRuntime; broadcasts: BroadcastWorker; now: () => Date },
): void {
  const { rt, broadcasts, now } = deps;

  router.post(
    '/v1/audiences',
    rt.auth.require('email:manage'),
    validate({ body: AudienceInput }),
    asyncHandler(async (req, res) => {
      const { orgId } = req.principal!;
      const audienceId = randomUUID();
      const { name, segmentId } = req.body as AudienceInput;
      const members = (req.body as AudienceInput).members ?? [];
      await withOrg(rt.db.app, orgId, async (trx) => {
        await trx('audiences').insert({
          org_id: orgId,
          audience_id: audienceId,
          name,
          size: members.length,
          segment_id: segmentId ?? null,
          created_at: now(),
        });
        for (let i = 0; i < members.length; i += INSERT_CHUNK) {
          const chunk = members.slice(i, i + INSERT_CHUNK).map((m, j) => ({
            position: i + j,
            contact_id: 'contactId' in m ? m.contactId : null,
            address: 'address' in m ? m.address : null,
          }));
          await trx.raw(
            `insert into audience_members (org_id, audience_id, position, contact_id, address)
             select ?::uuid, ?, x.position, x.contact_id, x.address
               from jsonb_to_recordset(?::jsonb) as x(position integer, contact_id text, address text)`,
            [orgId, audienceId, JSON.stringify(chunk)],
          );
        }
      });
      res.status(201).json({ audienceId, name, size: members.length, ...(segmentId ? { segmentId } : {}) });
    }),
  );

  router.get(
    '/v1/audiences/:id',
    rt.auth.require('email:read'),
    validate({ params: IdParams }),
    asyncHandler(async (req, res) => {
      const { orgId } = req.principal!;
      const row = await withOrg(rt.db.app, orgId, (trx) =>
        trx('audiences').where({ org_id: orgId, audience_id: req.params.id }).first(),
      );
      if (!row) throw new NotFoundError(`No audience ${req.params.id}`);
      res.json({
        audienceId: row.audience_id,
        name: row.name,
        size: row.size,
        ...(row.segment_id ? { segmentId: row.segment_id } : {}),
      });
    }),
  );

  router.post(
    '/v1/broadcasts',
    rt.auth.require('email:manage'),
    validate({ body: BroadcastInput }),
    asyncHandler(async (req, res) => {
      const { orgId } = req.principal!;
      const broadcastId = randomUUID();
      const definition: BroadcastDefinition = req.body;
      await withOrg(rt.db.app, orgId, async (trx) => {
        const audience = await trx('audiences')
          .where({ org_id: orgId, audience_id: definition.audienceId })
          .first();
        if (!audience) throw new NotFoundError(`No audience ${definition.audienceId}`);
        await trx('broadcasts').insert({
          org_id: orgId,
          broadcast_id: broadcastId,
          definition: JSON.stringify(definition),
          status: 'draft',
          phase: definition.abTest ? 'test' : 'rest',
          created_at: now(),
        });
      });
      res.status(201).json({ broadcastId, status: 'draft' });
    }),
  );

  const transition = (
    path: string,
    from: BroadcastStatus[],
    act: (
      trx: Knex.Transaction,
      orgId: string,
      row: { broadcast_id: string; definition: BroadcastDefinition; status: BroadcastStatus },
    ) => Promise<BroadcastStatus>,
  ) =>
    router.post(
      `/v1/broadcasts/:id/${path}`,
      rt.auth.require('email:manage'),
      validate({ params: IdParams }),
      asyncHandler(async (req, res) => {
        const { orgId } = req.principal!;
        const status = await withOrg(rt.db.app, orgId, async (trx) => {
          const row = await trx('broadcasts')
            .where({ org_id: orgId, broadcast_id: req.params.id })
            .forUpdate()
            .first();
          if (!row) throw new NotFoundError(`No broadcast ${req.params.id}`);
          if (!from.includes(row.status))
            throw new ConflictError(`A ${row.status} broadcast cannot ${path}`, { status: row.status });
          return act(trx, orgId, row);
        });
        broadcasts.wake();
        res.json({ broadcastId: req.params.id, status });
      }),
    );

  transition('start', ['draft'], async (trx, orgId, row) => {
    const at = now();
    // A segment's audience is taken as it is now (locked against its consumer): who enters later
    // is not sent to, who leaves before their turn is not either.
    const audience = await trx('audiences')
      .where({ org_id: orgId, audience_id: row.definition.audienceId })
      .forUpdate()
      .first('size', 'segment_id', 'next_position');
    await trx('broadcasts')
      .where({ org_id: orgId, broadcast_id: row.broadcast_id })
      .update({
        status: 'sending',
        next_at: at,
        audience_end: audience?.segment_id ? audience.next_position : null,
      });
    await broadcasts.publish(
      trx,
      orgId,
      row.broadcast_id,
      'cmis.email.broadcast-started',
      {
        broadcastId: row.broadcast_id,
        audienceId: row.definition.audienceId,
        recipients: audience?.size ?? 0,
      },
      at,
    );
    return 'sending';
  });

  transition('pause', ['sending', 'testing'], async (trx, orgId, row) => {
    const at = now();
    await trx('broadcasts')
      .where({ org_id: orgId, broadcast_id: row.broadcast_id })
      .update({ status: 'paused', paused_reason: 'paused by user', next_at: null });
    await broadcasts.publish(
      trx,
      orgId,
      row.broadcast_id,
      'cmis.email.broadcast-paused',
      { broadcastId: row.broadcast_id, reason: 'paused by user', by: 'user' },
      at,
    );
    return 'paused';
  });

  // A resumed test share whose sending had finished starts its decision wait again.
  transition('resume', ['paused'], async (trx, orgId, row) => {
    await trx('broadcasts')
      .where({ org_id: orgId, broadcast_id: row.broadcast_id })
      .update({ status: 'sending', paused_reason: null, next_at: now() });
    return 'sending';
  });

  router.get(
    '/v1/broadcasts/:id',
    rt.auth.require('email:read'),
    validate({ params: IdParams }),
    asyncHandler(async (req, res) => {
      const { orgId } = req.principal!;
      const found = await withOrg(rt.db.app, orgId, async (trx) => {
        const row = await trx('broadcasts').where({ org_id: orgId, broadcast_id: req.params.id }).first();
        if (!row) return undefined;
        const counts = await trx('messages')
          .where({ org_id: orgId })
          .whereRaw(`origin->>'kind' = 'broadcast' and origin->>'id' = ?`, [req.params.id])
          .groupBy('status')
          .select('status', trx.raw('count(*)::int as n'));
        return { row, counts };
      });
      if (!found) throw new NotFoundError(`No broadcast ${req.params.id}`);
      const { row, counts } = found;
      res.json({
        broadcastId: row.broadcast_id,
        status: row.status,
        phase: row.phase,
        requested: row.requested,
        winnerVariantId: row.winner_variant_id ?? undefined,
        decideAt: row.decide_at ?? undefined,
        pausedReason: row.paused_reason ?? undefined,
        messages: Object.fromEntries(counts.map((c: { status: string; n: number }) => [c.status, c.n])),
        definition: row.definition,
      });
    }),
  );
}
