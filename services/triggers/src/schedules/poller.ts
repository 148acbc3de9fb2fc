import {
  createTimerPoller,
  type Database,
  type EventStore,
  type Logger,
  type Metrics,
  type TimerPoller,
} from '@cmis/platform';
import { SCHEDULE_TICK, scheduleTickHandler } from './ticks';

export interface SchedulePollerOptions {
  db: Database;
  eventStore: EventStore;
  logger: Logger;
  metrics?: Metrics;
  /** Metrics label (the service's name). */
  service?: string;
  /** Called after a round that fired something (the relay's wake-up). */
  onFired?: () => void;
  /** Longest pause of an idle poller (it wakes for the next due tick on its own). */
  intervalMs?: number;
  batchSize?: number;
  perOrgBatch?: number;
  now?: () => Date;
}

/**
 * The triggers service's timer poller: schedule ticks are its only timers. Replicas share the
 * work through the platform's poller (FOR UPDATE SKIP LOCKED, fair across orgs); firing a tick,
 * its schedule-fired event and the next tick commit together.
 */
export function createSchedulePoller(options: SchedulePollerOptions): TimerPoller {
  const { db, eventStore, logger, now } = options;
  return createTimerPoller({
    db,
    logger,
    metrics: options.metrics,
    service: options.service ?? 'triggers',
    handlers: { [SCHEDULE_TICK]: scheduleTickHandler({ eventStore, logger, now }) },
    now,
    intervalMs: options.intervalMs,
    batchSize: options.batchSize,
    perOrgBatch: options.perOrgBatch,
    onFired: options.onFired,
  });
}
