import {
  asyncHandler,
  fieldErrors,
  NotFoundError,
  validate,
  ValidationError,
  withOrg,
  type ServiceRuntime,
} from '@cmis/platform';
import type { Router } from 'express';
import type { Knex } from 'knex';
import { z } from 'zod';
import { randomId } from '../shared/ids';
import { MANAGE_SCOPE, READ_SCOPE } from '../sources/api';
import { nextFireTimes } from './cron';
import { checkCron, CronSpec, ScheduleDefinition } from './schedule';
import { syncScheduleTick } from './ticks';

type ScheduleRow = {
  org_id: string;
  schedule_id: string;
  name: string;
  cron: string;
  time_zone: string;
  catch_up: string;
  status: 'active' | 'paused';
  next_fire_at: Date | null;
  last_fired_at: Date | null;
  created_at: Date;
};

const view = (row: ScheduleRow) => ({
  scheduleId: row.schedule_id,
  name: row.name,
  cron: row.cron,
  timeZone: row.time_zone,
  catchUp: row.catch_up,
  status: row.status,
  nextFireAt: row.next_fire_at?.toISOString() ?? null,
  lastFiredAt: row.last_fired_at?.toISOString() ?? null,
  createdAt: row.created_at.toISOString(),
});

const tickOf = (row: ScheduleRow) => ({
  orgId: row.org_id,
  scheduleId: row.schedule_id,
  status: row.status,
  nextFireAt: row.next_fire_at,
});

const Params = z.object({ scheduleId: z.string().min(1).max(100) });
const Count = z.coerce.number().int().min(1).max(100).default(10);
const PreviewBody = z
  .object({
    ...CronSpec,
    count: z.number().int().min(1).max(100).default(10),
    from: z.string().datetime({ offset: true }).optional(),
  })
  .strict()
  .superRefine(checkCron);

export function scheduleRoutes(rt: ServiceRuntime, router: Router): void {
  const manage = rt.auth.require(MANAGE_SCOPE);
  const read = rt.auth.require(READ_SCOPE);
  const inOrg = <T>(orgId: string, work: (trx: Knex.Transaction) => Promise<T>) =>
    withOrg(rt.db.app, orgId, work);
  const find = async (trx: Knex.Transaction, scheduleId: string) => {
    const row = await trx('schedules').where({ schedule_id: scheduleId }).first<ScheduleRow | undefined>();
    if (!row) throw new NotFoundError(`No schedule ${scheduleId} in this org`);
    return row;
  };

  router.post(
    '/v1/schedules',
    manage,
    validate({ body: ScheduleDefinition }),
    asyncHandler(async (req, res) => {
      const { orgId } = req.principal!;
      const now = new Date();
      const row = await inOrg(orgId, async (trx) => {
        const [created] = await trx('schedules')
          .insert({
            org_id: orgId,
            schedule_id: randomId('sch'),
            name: req.body.name,
            cron: req.body.cron,
            time_zone: req.body.timeZone,
            catch_up: req.body.catchUp,
            status: 'active',
            next_fire_at: nextFireTimes(req.body.cron, req.body.timeZone, now, 1)[0] ?? null,
            created_at: now,
          })
          .returning<ScheduleRow[]>('*');
        await syncScheduleTick(trx, tickOf(created!));
        return created!;
      });
      res.status(201).json(view(row));
    }),
  );

  router.post(
    '/v1/schedules/preview',
    read,
    validate({ body: PreviewBody }),
    asyncHandler(async (req, res) => {
      const from = req.body.from ? new Date(req.body.from) : new Date();
      const ticks = nextFireTimes(req.body.cron, req.body.timeZone, from, req.body.count);
      res.json({ fireTimes: ticks.map((t) => t.toISOString()) });
    }),
  );

  router.get(
    '/v1/schedules',
    read,
    asyncHandler(async (req, res) => {
      const rows = await inOrg(req.principal!.orgId, (trx) =>
        trx('schedules').select<ScheduleRow[]>('*').orderBy('created_at'),
      );
      res.json({ schedules: rows.map(view) });
    }),
  );

  router.get(
    '/v1/schedules/:scheduleId',
    read,
    validate({ params: Params }),
    asyncHandler(async (req, res) => {
      res.json(view(await inOrg(req.principal!.orgId, (trx) => find(trx, req.params.scheduleId))));
    }),
  );

  router.get(
    '/v1/schedules/:scheduleId/preview',
    read,
    validate({ params: Params }),
    asyncHandler(async (req, res) => {
      const count = Count.safeParse(req.query.count);
      if (!count.success) throw new ValidationError(fieldErrors(count.error, 'query.count'));
      const row = await inOrg(req.principal!.orgId, (trx) => find(trx, req.params.scheduleId));
      const ticks = nextFireTimes(row.cron, row.time_zone, new Date(), count.data);
      res.json({
        scheduleId: row.schedule_id,
        timeZone: row.time_zone,
        fireTimes: ticks.map((t) => t.toISOString()),
      });
    }),
  );

  const setStatus = (status: 'active' | 'paused') =>
    asyncHandler(async (req, res) => {
      const scheduleId = req.params.scheduleId!;
      const row = await inOrg(req.principal!.orgId, async (trx) => {
        const current = await find(trx, scheduleId);
        if (current.status === status) return current;
        // Resuming starts from now: ticks that fell in the pause are not fired.
        const nextFireAt =
          status === 'active'
            ? (nextFireTimes(current.cron, current.time_zone, new Date(), 1)[0] ?? null)
            : null;
        // The row first (it waits for a firing of this schedule in progress), then its tick: a
        // firing that finds the row locked by us gives up (see ticks.ts), so the two never deadlock.
        const [updated] = await trx('schedules')
          .where({ schedule_id: scheduleId })
          .update({ status, next_fire_at: nextFireAt })
          .returning<ScheduleRow[]>('*');
        await syncScheduleTick(trx, tickOf(updated!));
        return updated!;
      });
      res.json(view(row));
    });
  router.post('/v1/schedules/:scheduleId/pause', manage, validate({ params: Params }), setStatus('paused'));
  router.post('/v1/schedules/:scheduleId/resume', manage, validate({ params: Params }), setStatus('active'));

  router.delete(
    '/v1/schedules/:scheduleId',
    manage,
    validate({ params: Params }),
    asyncHandler(async (req, res) => {
      const { orgId } = req.principal!;
      const scheduleId = req.params.scheduleId!;
      const deleted = await inOrg(orgId, async (trx) => {
        // Row, then tick, as in setStatus.
        const count = await trx('schedules').where({ schedule_id: scheduleId }).delete();
        if (count > 0) await syncScheduleTick(trx, { orgId, scheduleId, status: 'paused', nextFireAt: null });
        return count;
      });
      if (deleted === 0) throw new NotFoundError(`No schedule ${req.params.scheduleId} in this org`);
      res.status(204).end();
    }),
  );
}
