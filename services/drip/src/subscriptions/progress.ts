// The pure progress of one subscriber: which step is next (by step id, so an edited campaign
// applies to steps not yet reached and removed steps are skipped), when it falls due (its delay
// after the previous step), when it may be sent (the next opening of the send window in the
// contact's time zone), and what a due step, a pause, a resume or an exit does.
import { assertTimeZone, nextWindowOpening, stableHash32, type SendWindow } from '@cmis/platform';
import type { DripCampaign, DripStep } from '../campaigns/campaign';
import { delayMs } from '../campaigns/campaign';

export type SubscriptionStatus = 'active' | 'held' | 'exited' | 'completed' | 'converted';
export const ENDED: ReadonlySet<SubscriptionStatus> = new Set(['exited', 'completed', 'converted']);

export interface Subscription {
  subscriptionId: string;
  dripId: string;
  contactId: string;
  status: SubscriptionStatus;
  enrollment: number;
  enrolledAt: string;
  /** When the previous step was handled (requested or skipped); the next delay counts from it. */
  lastStepAt?: string;
  doneStepIds: string[];
  nextStepId?: string;
  dueAt?: string;
  sendAt?: string;
  /** The enrollment's event (event.* of skip conditions). */
  enrollEvent?: Record<string, unknown>;
}

/** The campaign as a subscriber's progress reads it (the current version) and its skip tests. */
export interface CompiledCampaign {
  dripId: string;
  version: number;
  campaign: DripCampaign;
  paused: boolean;
  /** Whether the step's skip condition holds (false without one). */
  skips(
    step: DripStep,
    ctx: { contact?: Record<string, unknown>; event?: Record<string, unknown> },
  ): { skip: boolean; trace: unknown };
}

type Ref = { subscriptionId: string; dripId: string; contactId: string };
export type ProgressEvent =
  | {
      type: 'cmis.drip.step-due';
      data: Ref & { stepId: string; dripVersion: number; dueAt: string; sendAt: string };
    }
  | {
      type: 'cmis.drip.step-requested';
      data: Ref & { stepId: string; dripVersion: number; templateId: string; idempotencyKey: string };
    }
  | { type: 'cmis.drip.step-skipped'; data: Ref & { stepId: string; dripVersion: number; reason: string } }
  | { type: 'cmis.drip.subscriber-exited'; data: Ref & { reason: string; causeId?: string } }
  | { type: 'cmis.drip.subscriber-completed'; data: Ref }
  | { type: 'cmis.drip.subscriber-converted'; data: Ref & { goal: string; causeId: string } };

export interface Outcome {
  state: Subscription;
  events: ProgressEvent[];
  /** The timer to set (replacing the subscription's), or cancel it. */
  timer?: { sendAt: string } | 'cancel';
  email?: { step: DripStep; idempotencyKey: string };
}

export const idempotencyKeyOf = (subscriptionId: string, stepId: string) =>
  `drip:${subscriptionId}:${stepId}`;

/** The next step: the first of the current list after the last one done that is not done. */
export function nextStep(
  campaign: DripCampaign,
  sub: Pick<Subscription, 'doneStepIds'>,
): DripStep | undefined {
  const done = new Set(sub.doneStepIds);
  let after = -1;
  campaign.steps.forEach((s, i) => {
    if (done.has(s.id)) after = i;
  });
  return campaign.steps.slice(after + 1).find((s) => !done.has(s.id));
}

export function windowFor(campaign: DripCampaign, contact?: Record<string, unknown>): SendWindow | undefined {
  if (!campaign.window) return undefined;
  const zone =
    typeof contact?.timeZone === 'string'
      ? contact.timeZone
      : typeof contact?.timezone === 'string'
        ? contact.timezone
        : undefined;
  let timeZone = campaign.timeZone;
  if (zone) {
    try {
      assertTimeZone(zone);
      timeZone = zone;
    } catch {
      // A contact's unknown zone: the campaign's.
    }
  }
  return { ...campaign.window, timeZone };
}

const ref = (s: Subscription): Ref => ({
  subscriptionId: s.subscriptionId,
  dripId: s.dripId,
  contactId: s.contactId,
});
const iso = (ms: number) => new Date(ms).toISOString();

/** Schedules the next step (or completes): due after its delay, sent at the window's next opening. */
export function scheduleNext(
  c: CompiledCampaign,
  sub: Subscription,
  at: string,
  contact?: Record<string, unknown>,
  events: ProgressEvent[] = [],
): Outcome {
  const step = nextStep(c.campaign, sub);
  if (!step) {
    const state: Subscription = { ...sub, status: 'completed' };
    delete state.nextStepId;
    delete state.sendAt;
    delete state.dueAt;
    return {
      state,
      events: [...events, { type: 'cmis.drip.subscriber-completed', data: ref(sub) }],
      timer: 'cancel',
    };
  }
  const base = Date.parse(sub.lastStepAt ?? sub.enrolledAt);
  const dueAt = iso(base + delayMs(step.delay));
  const window = windowFor(c.campaign, contact);
  const from = new Date(Math.max(Date.parse(dueAt), Date.parse(at)));
  const sendAt = (window ? nextWindowOpening(from, window) : from).toISOString();
  return {
    state: { ...sub, status: 'active', nextStepId: step.id, dueAt, sendAt },
    events: [
      ...events,
      {
        type: 'cmis.drip.step-due',
        data: { ...ref(sub), stepId: step.id, dripVersion: c.version, dueAt, sendAt },
      },
    ],
    timer: { sendAt },
  };
}

/** The subscription's timer fired at `at`. */
export function onTimer(
  c: CompiledCampaign,
  sub: Subscription,
  at: string,
  contact?: Record<string, unknown>,
): Outcome {
  if (sub.status !== 'active') return { state: sub, events: [] };
  if (c.paused) return { state: { ...sub, status: 'held' }, events: [] };
  const step = nextStep(c.campaign, sub);
  // Edited since it was scheduled: the step it was due for went away or another comes first.
  if (!step || step.id !== sub.nextStepId) {
    const events: ProgressEvent[] =
      sub.nextStepId && !c.campaign.steps.some((s) => s.id === sub.nextStepId)
        ? [
            {
              type: 'cmis.drip.step-skipped',
              data: {
                ...ref(sub),
                stepId: sub.nextStepId,
                dripVersion: c.version,
                reason: 'removed from the campaign',
              },
            },
          ]
        : [];
    return scheduleNext(c, sub, at, contact, events);
  }
  const window = windowFor(c.campaign, contact);
  const opening = window ? nextWindowOpening(new Date(at), window).toISOString() : at;
  if (opening > at || (sub.dueAt !== undefined && sub.dueAt > at)) {
    // Early or outside the window (the window or the delay changed): wait for the right moment.
    return scheduleNext(c, sub, at, contact);
  }
  const handled: Subscription = { ...sub, lastStepAt: at, doneStepIds: [...sub.doneStepIds, step.id] };
  const verdict = c.skips(step, {
    ...(contact ? { contact } : {}),
    ...(sub.enrollEvent ? { event: sub.enrollEvent } : {}),
  });
  if (verdict.skip)
    return scheduleNext(c, handled, at, contact, [
      {
        type: 'cmis.drip.step-skipped',
        data: { ...ref(sub), stepId: step.id, dripVersion: c.version, reason: 'skip condition' },
      },
    ]);
  const idempotencyKey = idempotencyKeyOf(sub.subscriptionId, step.id);
  const requested: ProgressEvent = {
    type: 'cmis.drip.step-requested',
    data: {
      ...ref(sub),
      stepId: step.id,
      dripVersion: c.version,
      templateId: step.templateId,
      idempotencyKey,
    },
  };
  return { ...scheduleNext(c, handled, at, contact, [requested]), email: { step, idempotencyKey } };
}

/** The campaign resumed: a step that fell due while paused goes by the campaign's resume mode. */
export function onResume(
  c: CompiledCampaign,
  sub: Subscription,
  at: string,
  contact?: Record<string, unknown>,
): Outcome {
  if (sub.status !== 'held') return { state: sub, events: [] };
  const active: Subscription = { ...sub, status: 'active' };
  const { mode, spreadMinutes } = c.campaign.resume;
  if (mode === 'skip' && sub.nextStepId) {
    const skipped: Subscription = {
      ...active,
      lastStepAt: at,
      doneStepIds: [...sub.doneStepIds, sub.nextStepId],
    };
    return scheduleNext(c, skipped, at, contact, [
      {
        type: 'cmis.drip.step-skipped',
        data: { ...ref(sub), stepId: sub.nextStepId, dripVersion: c.version, reason: 'missed while paused' },
      },
    ]);
  }
  const offsetMs = mode === 'spread' ? (stableHash32(sub.subscriptionId) % (spreadMinutes! * 60)) * 1_000 : 0;
  const from = iso(Date.parse(at) + offsetMs);
  const window = windowFor(c.campaign, contact);
  const sendAt = window ? nextWindowOpening(new Date(from), window).toISOString() : from;
  return { state: { ...active, sendAt }, events: [], timer: { sendAt } };
}

/** An exit event, an unsubscribe or suppression, or the goal. */
export function onEnd(
  sub: Subscription,
  end:
    | { kind: 'exited'; reason: string; causeId?: string }
    | { kind: 'converted'; goal: string; causeId: string },
): Outcome {
  if (ENDED.has(sub.status)) return { state: sub, events: [] };
  const state: Subscription = { ...sub, status: end.kind };
  delete state.sendAt;
  const event: ProgressEvent =
    end.kind === 'exited'
      ? {
          type: 'cmis.drip.subscriber-exited',
          data: { ...ref(sub), reason: end.reason, ...(end.causeId ? { causeId: end.causeId } : {}) },
        }
      : {
          type: 'cmis.drip.subscriber-converted',
          data: { ...ref(sub), goal: end.goal, causeId: end.causeId },
        };
  return { state, events: [event], timer: 'cancel' };
}
