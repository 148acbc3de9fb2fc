import { context, createContextKey } from '@opentelemetry/api';
import type { Knex } from 'knex';
import { OrgId } from '../db';
import { currentTraceHeaders } from '../telemetry';

/** Set while a timer fires (by the poller): which timer it is. */
export const FIRING_TIMER = createContextKey('cmis.firing-timer');

export interface TimerSpec {
  orgId: string;
  /** Stable id chosen by the caller (e.g. `wait:<instanceId>:<step>`): scheduling it again replaces it. */
  timerId: string;
  /** Which handler of the service's timer poller fires it. */
  kind: string;
  dueAt: Date;
  payload?: Record<string, unknown>;
}

/** scheduleTimer was given a timer that cannot be stored; nothing was written. */
export class InvalidTimerError extends Error {
  override readonly name = 'InvalidTimerError';
}

const MAX_ID_LENGTH = 500;

/**
 * Schedules a timer in the caller's transaction, so it commits with the events that asked for it
 * (or not at all), with the active trace context: its firing continues that trace. The same timerId again replaces kind, due_at and payload and clears earlier
 * failures (a parked timer scheduled again is live again) and any lease (a round that leased the
 * old one does not fire it).
 */
export async function scheduleTimer(trx: Knex.Transaction, spec: TimerSpec): Promise<void> {
  checkSpec(spec);
  const trace = recurs(spec) ? {} : currentTraceHeaders();
  await trx.raw(
    `insert into timers (org_id, timer_id, kind, due_at, payload, traceparent, tracestate)
     values (?::uuid, ?, ?, ?, ?::jsonb, ?, ?)
     on conflict (org_id, timer_id) do update
        set kind = excluded.kind, due_at = excluded.due_at, payload = excluded.payload,
            traceparent = excluded.traceparent, tracestate = excluded.tracestate,
            attempts = 0, last_error = null, parked_at = null, lease_token = null, leased_until = null`,
    [
      spec.orgId,
      spec.timerId,
      spec.kind,
      spec.dueAt,
      JSON.stringify(spec.payload ?? {}),
      trace.traceparent ?? null,
      trace.tracestate ?? null,
    ],
  );
}

/**
 * A timer scheduled again from its own firing recurs (a schedule's next tick, a daily aging):
 * each of its firings starts a trace of its own instead of all of them growing one endless trace.
 */
function recurs(spec: TimerSpec): boolean {
  const firing = context.active().getValue(FIRING_TIMER) as { orgId: string; timerId: string } | undefined;
  return firing !== undefined && firing.orgId === spec.orgId && firing.timerId === spec.timerId;
}

/** Cancels a pending timer in the caller's transaction; false when there was none (or it fired). */
export async function cancelTimer(trx: Knex.Transaction, orgId: string, timerId: string): Promise<boolean> {
  const { rowCount } = await trx.raw<{ rowCount: number }>(
    'delete from timers where org_id = ?::uuid and timer_id = ?',
    [orgId, timerId],
  );
  return rowCount > 0;
}

function checkSpec(spec: TimerSpec): void {
  const problems: string[] = [];
  if (!OrgId.safeParse(spec.orgId).success) problems.push('orgId must be a uuid');
  for (const field of ['timerId', 'kind'] as const) {
    const value = spec[field];
    if (typeof value !== 'string' || value.length === 0 || value.length > MAX_ID_LENGTH) {
      problems.push(`${field} must be 1 to ${MAX_ID_LENGTH} characters`);
    }
  }
  if (!(spec.dueAt instanceof Date) || Number.isNaN(spec.dueAt.getTime())) {
    problems.push('dueAt must be a valid Date');
  }
  if (spec.payload !== undefined && (typeof spec.payload !== 'object' || Array.isArray(spec.payload))) {
    problems.push('payload must be an object');
  }
  if (problems.length > 0) throw new InvalidTimerError(`invalid timer: ${problems.join('; ')}`);
}
