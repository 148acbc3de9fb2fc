import { scheduleFiredTopic } from '@cmis/contracts';
import { Wakeup, withSystem, type Database, type EventStore, type Logger } from '@cmis/platform';
import { stableUuid } from '../shared/ids';
import { planFiring, type CatchUpPolicy } from './schedule';

export interface SchedulePollerOptions {
  db: Database;
  eventStore: EventStore;
  logger: Logger;
  /** Called after a round that fired something (the relay's wake-up). */
  onFired?: () => void;
  intervalMs?: number;
  batchSize?: number;
  now?: () => Date;
}

type DueRow = {
  org_id: string;
  schedule_id: string;
  name: string;
  cron: string;
  time_zone: string;
  catch_up: CatchUpPolicy;
  next_fire_at: Date;
};

/**
 * Fires due schedules. Each round locks due rows with FOR UPDATE SKIP LOCKED, so replicas share
 * the work and never take the same row; appending the schedule-fired event and advancing
 * next_fire_at commit together, so a tick fires exactly once (the event id, derived from the
 * schedule and tick, makes a second append of one tick impossible as well).
 */
export function createSchedulePoller(options: SchedulePollerOptions) {
  const { db, eventStore, logger } = options;
  const intervalMs = options.intervalMs ?? 1_000;
  const batchSize = options.batchSize ?? 100;
  const now = options.now ?? (() => new Date());
  let running = false;
  let loop: Promise<void> | undefined;
  const wakeup = new Wakeup();

  async function runOnce(): Promise<number> {
    const at = now();
    const fired = await withSystem(db.owner, async (trx) => {
      const due = await trx('schedules')
        .where('status', 'active')
        .whereNotNull('next_fire_at')
        .where('next_fire_at', '<=', at)
        .orderBy('next_fire_at')
        .limit(batchSize)
        .forUpdate()
        .skipLocked()
        .select<DueRow[]>('org_id', 'schedule_id', 'name', 'cron', 'time_zone', 'catch_up', 'next_fire_at');
      let count = 0;
      for (const row of due) {
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
                data: {
                  scheduleId: row.schedule_id,
                  name: row.name,
                  scheduledFor,
                  firedAt: at.toISOString(),
                },
                metadata: {},
                topic: scheduleFiredTopic.name,
                key: `${row.org_id}:${row.schedule_id}`,
                occurredAt: at,
              },
            ],
          });
          count += 1;
        }
        if (plan.missed > 0) {
          logger.info(
            { scheduleId: row.schedule_id, orgId: row.org_id, missed: plan.missed, catchUp: row.catch_up },
            'schedule missed ticks while no poller ran',
          );
        }
        await trx('schedules')
          .where({ org_id: row.org_id, schedule_id: row.schedule_id })
          .update({ next_fire_at: plan.nextFireAt, ...(plan.fire ? { last_fired_at: at } : {}) });
      }
      return count;
    });
    if (fired > 0) options.onFired?.();
    return fired;
  }

  return {
    runOnce,
    start() {
      if (running) return;
      running = true;
      loop = (async () => {
        while (running) {
          wakeup.reset();
          try {
            await runOnce();
          } catch (error) {
            logger.error({ err: error }, 'schedule poller round failed');
          }
          if (running) await wakeup.wait(intervalMs);
        }
      })();
    },
    async stop() {
      running = false;
      wakeup.wake();
      await loop;
    },
  };
}
