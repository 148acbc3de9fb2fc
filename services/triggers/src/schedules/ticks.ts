// A schedule's next tick is a durable timer of the platform (kind schedule-tick), written in the
// same transaction as every change of the schedule; firing it appends schedule-fired and
// schedules the tick after it, in the timer's transaction.
import { scheduleFiredTopic } from '@cmis/contracts';
import { cancelTimer, scheduleTimer, type EventStore, type Logger, type TimerHandler } from '@cmis/platform';
import type { Knex } from 'knex';
import { stableUuid } from '../shared/ids';
import { planFiring, type CatchUpPolicy } from './schedule';

export const SCHEDULE_TICK = 'schedule-tick';

/** One timer per schedule, so rescheduling replaces the pending tick. */
export const scheduleTickTimerId = (scheduleId: string) => `schedule:${scheduleId}`;

type ScheduleRow = {
  org_id: string;
  schedule_id: string;
  name: string;
  cron: string;
  time_zone: string;
  catch_up: CatchUpPolicy;
  status: 'active' | 'paused';
  next_fire_at: Date | null;
};

/**
 * Makes the schedule's pending tick match its row: a timer at next_fire_at while it is active
 * and has a next tick, none otherwise. In the transaction that changed the row.
 */
export async function syncScheduleTick(
  trx: Knex.Transaction,
  schedule: { orgId: string; scheduleId: string; status: 'active' | 'paused'; nextFireAt: Date | null },
): Promise<void> {
  const timerId = scheduleTickTimerId(schedule.scheduleId);
  if (schedule.status === 'active' && schedule.nextFireAt) {
    await scheduleTimer(trx, {
      orgId: schedule.orgId,
      timerId,
      kind: SCHEDULE_TICK,
      dueAt: schedule.nextFireAt,
      payload: { scheduleId: schedule.scheduleId },
    });
  } else {
    await cancelTimer(trx, schedule.orgId, timerId);
  }
}

export interface ScheduleTickOptions {
  eventStore: EventStore;
  logger: Logger;
  now?: () => Date;
}

/**
 * Fires a due tick: plans it by the schedule's catch-up policy (planFiring), appends
 * schedule-fired to the stream schedule/<id>, advances next_fire_at and schedules the next tick.
 * The event id is derived from schedule and tick, so one tick can never be appended twice.
 */
export function scheduleTickHandler(options: ScheduleTickOptions): TimerHandler {
  const { eventStore, logger } = options;
  const now = options.now ?? (() => new Date());
  return async (trx, timer) => {
    const scheduleId = String(timer.payload.scheduleId ?? '');
    // The API changes a schedule's row, then its tick; this firing holds the tick and wants the
    // row. Waiting here could deadlock with such a change, so the firing fails at once instead
    // (lock_not_available): it rolls back, and the change then cancels or replaces the tick.
    const row = await trx('schedules')
      .where({ schedule_id: scheduleId })
      .forUpdate()
      .noWait()
      .first<ScheduleRow | undefined>();
    // A tick whose schedule is gone or paused has nothing to fire (and no next tick).
    if (!row || row.status !== 'active' || !row.next_fire_at) return;
    const at = now();
    const plan = planFiring(
      { cron: row.cron, timeZone: row.time_zone, catchUp: row.catch_up, nextFireAt: row.next_fire_at },
      at,
    );
    if (plan.fire) {
      const scheduledFor = plan.fire.toISOString();
      await eventStore.append(trx, {
        orgId: row.org_id,
        streamType: 'schedule',
        streamId: row.schedule_id,
        expectedVersion: 'any',
        events: [
          {
            id: stableUuid('schedule-fired', row.org_id, row.schedule_id, scheduledFor),
            type: 'cmis.triggers.schedule-fired',
            data: { scheduleId: row.schedule_id, name: row.name, scheduledFor, firedAt: at.toISOString() },
            metadata: {},
            topic: scheduleFiredTopic.name,
            key: `${row.org_id}:${row.schedule_id}`,
            occurredAt: at,
          },
        ],
      });
    }
    if (plan.missed > 0) {
      logger.info(
        { scheduleId: row.schedule_id, orgId: row.org_id, missed: plan.missed, catchUp: row.catch_up },
        'schedule missed ticks while no poller ran',
      );
    }
    await trx('schedules')
      .where({ schedule_id: row.schedule_id })
      .update({ next_fire_at: plan.nextFireAt, ...(plan.fire ? { last_fired_at: at } : {}) });
    await syncScheduleTick(trx, {
      orgId: row.org_id,
      scheduleId: row.schedule_id,
      status: row.status,
      nextFireAt: plan.nextFireAt,
    });
  };
}
