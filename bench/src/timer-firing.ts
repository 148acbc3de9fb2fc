// The CMIS side of the timer benchmarks (workflow-timers, and drip-burst's reference).
import { randomUUID } from 'node:crypto';
import { scheduleFiredTopic } from '@cmis/contracts';
import { createEventStore, type Database, type TimerHandler } from '@cmis/platform';

/**
 * What a workflow's timer does when it fires: one event appended to the instance's stream, in
 * the firing's transaction. A published one (schedule-fired, a real catalog topic), so the outbox
 * queues it as well, as a workflow's step events are.
 */
export function appendOnFire(db: Database, onFire?: (lateMs: number) => void): TimerHandler {
  const store = createEventStore(db);
  return async (trx, timer) => {
    onFire?.(Date.now() - timer.dueAt.getTime());
    const firedAt = new Date();
    await store.append(
      trx,
      {
        orgId: timer.orgId,
        streamType: 'workflow-instance',
        streamId: timer.timerId,
        expectedVersion: 'any',
        events: [
          {
            id: randomUUID(),
            type: 'cmis.triggers.schedule-fired',
            data: {
              scheduleId: timer.timerId,
              name: 'wait timed out',
              scheduledFor: timer.dueAt.toISOString(),
              firedAt: firedAt.toISOString(),
            },
            metadata: {},
            topic: scheduleFiredTopic.name,
            key: `${timer.orgId}:${timer.timerId}`,
            occurredAt: firedAt,
          },
        ],
      },
      // The timer's stream has one writer, this firing (the timer row is deleted under its lease).
      { streamLocked: true },
    );
  };
}
