// Fires the workflow step timers: delays, retries and wait timeouts. A wait's timeout is kept on
// the wall clock, but it judges that the awaited event did not come, and an event that came in
// time may still be unread in the user-actions consumer's lag (workflows was down past the
// deadline, or is behind under load). So a timeout first asks whether that consumer has read the
// contact's partition through the deadline; until it has, the timer is put back a moment, up to a
// cap, and the late-read event wins the wait (it is judged by its event time) or its goal ends it.
import { scheduleTimer, type ReadThrough, type ServiceRuntime, type TimerHandler } from '@cmis/platform';
import { STEP_TIMER, type Runner } from './runner';

/** How long after its deadline a timeout waits at most for the consumer to read through it. */
export const TIMEOUT_READ_THROUGH_CAP_MS = 60_000;
/** The pause before a held timeout asks again. */
const ASK_AGAIN_MS = 500;

export interface StepTimerPayload {
  instanceId: string;
  /** The instance's contact (absent on timers scheduled before it was carried). */
  contactId?: string;
  stepId: string;
  visit: number;
  purpose: 'delay' | 'timeout' | 'retry';
  /** A held timeout's own due time (the timer row's is when it asks again). */
  deadline?: string;
  /** The user-actions offset a held timeout waits for the consumer to reach. */
  readTo?: number;
}

export function stepTimerHandler(deps: {
  rt: Pick<ServiceRuntime, 'logger'>;
  runner: Runner;
  readThrough: ReadThrough;
  now: () => Date;
  capMs?: number;
}): TimerHandler {
  const { rt, runner, readThrough, now } = deps;
  const capMs = deps.capMs ?? TIMEOUT_READ_THROUGH_CAP_MS;

  /** True when the timeout was put back to ask again; false when it fires now. */
  const hold = async (
    trx: Parameters<TimerHandler>[0],
    timer: Parameters<TimerHandler>[1],
    p: StepTimerPayload,
    deadline: Date,
  ): Promise<boolean> => {
    const contactId =
      p.contactId ??
      (
        (await trx('instances')
          .where({ org_id: timer.orgId, instance_id: p.instanceId })
          .first('contact_id')) as { contact_id: string } | undefined
      )?.contact_id;
    if (contactId === undefined) return false; // the runner records the stale timer
    const key = `${timer.orgId}:${contactId}`;
    const check = await readThrough.check(key, deadline, p.readTo).catch((err: unknown) => {
      rt.logger.warn({ err, orgId: timer.orgId }, 'consumer offsets unreadable; wait timeout held');
      return undefined;
    });
    if (check?.reached) return false;
    const waitedMs = now().getTime() - deadline.getTime();
    if (waitedMs >= capMs) {
      rt.logger.warn(
        { orgId: timer.orgId, instanceId: p.instanceId, stepId: p.stepId, waitedMs, ...check },
        'wait timeout fires before the user-actions consumer read the contact partition through its deadline',
      );
      return false;
    }
    await scheduleTimer(trx, {
      orgId: timer.orgId,
      timerId: timer.timerId,
      kind: STEP_TIMER,
      dueAt: new Date(now().getTime() + ASK_AGAIN_MS),
      payload: {
        ...p,
        deadline: deadline.toISOString(),
        ...(check ? { readTo: check.target } : {}),
      } satisfies StepTimerPayload,
    });
    return true;
  };

  return async (trx, timer) => {
    const p = timer.payload as unknown as StepTimerPayload;
    const deadline = p.deadline ? new Date(p.deadline) : timer.dueAt;
    if (p.purpose === 'timeout' && (await hold(trx, timer, p, deadline))) return;
    await runner.advance(trx, timer.orgId, p.instanceId, {
      kind: 'timer',
      at: deadline.toISOString(),
      stepId: p.stepId,
      visit: p.visit,
      purpose: p.purpose,
    });
  };
}
