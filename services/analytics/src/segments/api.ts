// Segments over HTTP: definitions (each change a new version, backfilled), members and counts,
// and static lists uploaded as members.
import { randomUUID } from 'node:crypto';
import {
  asyncHandler,
  validate,
  ValidationError,
  withOrg,
  type ServiceRuntime,
  ifMatchVersion,
} from '@cmis/platform';
import type { Request, Router } from 'express';
import type { Knex } from 'knex';
import { z } from 'zod';
import { documentRoutes } from '../openapi';
import { scheduleBackfill } from './backfill';
import { checkSegment } from './definition';
import type { Membership } from './membership';
import type { SegmentStore } from './store';
import { SegmentNotFoundError } from './versions';

const Id = z.string().min(1).max(200);
const SegmentParams = z.object({ segmentId: Id });
const ListParams = z.object({ listId: Id });
const MembersQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1_000).default(100),
  after: Id.optional(),
});
export const MAX_LIST_UPLOAD = 10_000;
const ListUpload = z
  .object({
    add: z.array(Id).max(MAX_LIST_UPLOAD).default([]),
    remove: z.array(Id).max(MAX_LIST_UPLOAD).default([]),
  })
  .strict()
  .refine((b) => b.add.length + b.remove.length > 0, 'add or remove at least one contact id')
  .refine((b) => b.add.length + b.remove.length <= MAX_LIST_UPLOAD, `at most ${MAX_LIST_UPLOAD} ids at once`);

const SEGMENT_BODY = {
  type: 'object',
  required: ['name', 'definition'],
  properties: {
    name: { type: 'string' },
    definition: {
      description:
        'and/or/not over leaves: trait {condition}, performed {event, atLeast, withinDays}, not_performed {event, withinDays}, rfm {segment}, engagement {action: opened|clicked, atLeast, withinDays}, list {listId}',
    },
  },
};
documentRoutes([
  {
    method: 'post',
    path: '/v1/segments',
    summary: 'Define a segment (backfilled)',
    scope: 'analytics:write',
    body: SEGMENT_BODY,
  },
  { method: 'get', path: '/v1/segments', summary: "The org's segments", scope: 'analytics:read' },
  {
    method: 'get',
    path: '/v1/segments/{segmentId}',
    summary: 'A segment, current version',
    scope: 'analytics:read',
  },
  {
    method: 'put',
    path: '/v1/segments/{segmentId}',
    summary: 'Change a segment: a new version, backfilled',
    scope: 'analytics:write',
    body: SEGMENT_BODY,
  },
  {
    method: 'get',
    path: '/v1/segments/{segmentId}/members',
    summary: 'Members (?limit, ?after)',
    scope: 'analytics:read',
  },
  {
    method: 'get',
    path: '/v1/segments/{segmentId}/count',
    summary: 'How many members',
    scope: 'analytics:read',
  },
  {
    method: 'post',
    path: '/v1/lists/{listId}/members',
    summary: 'Add or remove static list members {add, remove}',
    scope: 'analytics:write',
    body: { type: 'object', properties: { add: { type: 'array' }, remove: { type: 'array' } } },
  },
]);

export function segmentRoutes(
  router: Router,
  deps: {
    rt: ServiceRuntime;
    store: SegmentStore;
    membership: Membership;
    now: () => Date;
    wake: () => void;
  },
): void {
  const { rt, store, membership, now, wake } = deps;
  const org = (req: Request) => req.principal!.orgId;
  const tx = <T>(req: Request, fn: (trx: Knex.Transaction) => Promise<T>) => withOrg(rt.db.app, org(req), fn);
  const meta = (req: Request) => ({
    actor: `key:${req.principal!.keyId}`,
    at: now().toISOString(),
    correlationId: (req.headers['x-request-id'] as string | undefined) ?? randomUUID(),
  });
  const present = async (trx: Knex.Transaction, segmentId: string) => {
    const s = await store.get(trx, segmentId);
    if (!s) throw new SegmentNotFoundError(segmentId);
    return s;
  };
  const checked = (body: unknown) => {
    const result = checkSegment(body);
    if (!result.ok) throw new ValidationError(result.errors, 'The segment definition is not valid');
    return result.segment;
  };
  const read = rt.auth.require('analytics:read');
  const write = rt.auth.require('analytics:write');
  const committed = async (orgId: string) => {
    await store.compiled.invalidate(orgId);
    wake();
  };

  router.post(
    '/v1/segments',
    write,
    asyncHandler(async (req, res) => {
      const segment = checked(req.body);
      const segmentId = randomUUID();
      const body = await tx(req, async (trx) => {
        const s = await store.execute(trx, org(req), {
          type: 'CreateSegment',
          data: { segmentId, segment },
          metadata: meta(req),
        });
        await scheduleBackfill(trx, org(req), { segmentId, version: s.version, after: '' }, now());
        return s;
      });
      await committed(org(req));
      res.status(201).location(`v1/segments/${segmentId}`).json(body);
    }),
  );

  router.put(
    '/v1/segments/:segmentId',
    write,
    validate({ params: SegmentParams }),
    asyncHandler(async (req, res) => {
      const segment = checked(req.body);
      const { segmentId } = req.params;
      const expectedVersion = ifMatchVersion(req);
      const body = await tx(req, async (trx) => {
        const s = await store.execute(trx, org(req), {
          type: 'ChangeSegment',
          data: { segmentId, segment, ...(expectedVersion !== undefined ? { expectedVersion } : {}) },
          metadata: meta(req),
        });
        await scheduleBackfill(trx, org(req), { segmentId, version: s.version, after: '' }, now());
        return s;
      });
      await committed(org(req));
      res.json(body);
    }),
  );

  router.get(
    '/v1/segments',
    read,
    asyncHandler(async (req, res) => {
      res.json({ segments: await tx(req, (trx) => store.list(trx)) });
    }),
  );

  router.get(
    '/v1/segments/:segmentId',
    read,
    validate({ params: SegmentParams }),
    asyncHandler(async (req, res) => {
      res.json(await tx(req, (trx) => present(trx, req.params.segmentId)));
    }),
  );

  router.get(
    '/v1/segments/:segmentId/members',
    read,
    validate({ params: SegmentParams }),
    asyncHandler(async (req, res) => {
      const query = MembersQuery.safeParse(req.query);
      if (!query.success)
        throw new ValidationError(
          query.error.issues.map((i) => ({ path: ['query', ...i.path].join('.'), message: i.message })),
        );
      const { limit, after } = query.data;
      const body = await tx(req, async (trx) => {
        const s = await present(trx, req.params.segmentId);
        const rows = await trx('seg_members')
          .where({ segment_id: s.segmentId })
          .modify((q) => after && q.where('contact_id', '>', after))
          .orderBy('contact_id')
          .limit(limit)
          .select('contact_id', 'version', 'entered_at');
        return {
          segmentId: s.segmentId,
          version: s.version,
          members: rows.map((r: { contact_id: string; version: number; entered_at: Date }) => ({
            contactId: r.contact_id,
            version: r.version,
            enteredAt: r.entered_at,
          })),
          ...(rows.length === limit ? { next: rows.at(-1)!.contact_id } : {}),
        };
      });
      res.json(body);
    }),
  );

  router.get(
    '/v1/segments/:segmentId/count',
    read,
    validate({ params: SegmentParams }),
    asyncHandler(async (req, res) => {
      const body = await tx(req, async (trx) => {
        const s = await present(trx, req.params.segmentId);
        const [row] = await trx('seg_members')
          .where({ segment_id: s.segmentId })
          .count<{ count: string }[]>('* as count');
        return { segmentId: s.segmentId, version: s.version, count: Number(row?.count ?? 0) };
      });
      res.json(body);
    }),
  );

  router.post(
    '/v1/lists/:listId/members',
    write,
    validate({ params: ListParams, body: ListUpload }),
    asyncHandler(async (req, res) => {
      const { add, remove } = req.body as z.infer<typeof ListUpload>;
      const listId = req.params.listId;
      const orgId = org(req);
      const changes = await tx(req, async (trx) => {
        const at = now();
        await membership.know(trx, orgId, [...add, ...remove]);
        for (let i = 0; i < add.length; i += 1_000)
          await trx('seg_list_members')
            .insert(
              add
                .slice(i, i + 1_000)
                .map((contact_id) => ({ org_id: orgId, list_id: listId, contact_id, added_at: at })),
            )
            .onConflict(['org_id', 'list_id', 'contact_id'])
            .ignore();
        if (remove.length > 0)
          await trx('seg_list_members')
            .where({ org_id: orgId, list_id: listId })
            .whereIn('contact_id', remove)
            .delete();
        let published = 0;
        for (const contactId of new Set([...add, ...remove]))
          published += await membership.evaluate(trx, orgId, contactId, { reason: `list ${listId} changed` });
        return published;
      });
      res.json({ listId, added: add.length, removed: remove.length, segmentChanges: changes });
    }),
  );
}
