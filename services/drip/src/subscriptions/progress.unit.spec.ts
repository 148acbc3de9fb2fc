import { checkCampaign, type DripCampaign } from '../campaigns/campaign';
import { compileCampaign } from '../campaigns/store';
import { nextStep, onEnd, onResume, onTimer, scheduleNext, type Subscription } from './progress';

const WELCOME = {
  name: 'Welcome',
  entry: { identified: true },
  steps: [
    { id: 'day-0', templateId: 'welcome-1', delay: '0s' },
    { id: 'day-2', templateId: 'welcome-2', delay: '2d' },
    {
      id: 'day-5',
      templateId: 'welcome-3',
      delay: '3d',
      skipIf: { field: 'contact.plan', operator: 'equals', value: 'pro' },
    },
  ],
  exits: [{ event: 'order_completed' }],
  timeZone: 'Europe/Berlin',
  window: { days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], start: '09:00', end: '17:00' },
};

const campaign = (over: Partial<DripCampaign> = {}, status = 'active') => {
  const r = checkCampaign({ ...WELCOME, ...over });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return compileCampaign('drip-1', 1, r.campaign, status);
};
// 22:00 Berlin on Sunday 2026-12-06 (CET, +1).
const ENROLLED = '2026-12-06T21:00:00.000Z';
const sub = (over: Partial<Subscription> = {}): Subscription => ({
  subscriptionId: 'sub-1',
  dripId: 'drip-1',
  contactId: 'c-1',
  status: 'active',
  enrollment: 1,
  enrolledAt: ENROLLED,
  doneStepIds: [],
  ...over,
});

describe('drip progress', () => {
  it('schedules the first step at the next window opening: 22:00 Berlin waits for 09:00', () => {
    const r = scheduleNext(campaign(), sub(), ENROLLED);
    expect(r.state).toMatchObject({
      nextStepId: 'day-0',
      dueAt: ENROLLED,
      sendAt: '2026-12-07T08:00:00.000Z',
    });
    expect(r.events[0]).toMatchObject({
      type: 'cmis.drip.step-due',
      data: { stepId: 'day-0', sendAt: '2026-12-07T08:00:00.000Z' },
    });
  });

  it('requests a due step once with a stable key, then schedules the next after its delay', () => {
    const c = campaign();
    const scheduled = scheduleNext(c, sub(), ENROLLED).state;
    const fired = onTimer(c, scheduled, '2026-12-07T08:00:00.000Z');
    expect(fired.email).toMatchObject({
      idempotencyKey: 'drip:sub-1:day-0',
      step: { templateId: 'welcome-1' },
    });
    expect(fired.state).toMatchObject({
      nextStepId: 'day-2',
      sendAt: '2026-12-09T08:00:00.000Z',
      doneStepIds: ['day-0'],
    });
    // A second firing of the same timer (a retry) finds the step done: nothing is requested.
    expect(onTimer(c, fired.state, '2026-12-07T08:00:00.000Z').email).toBeUndefined();
  });

  it('uses the contact’s time zone for the window when it has one', () => {
    const r = scheduleNext(campaign(), sub(), ENROLLED, { timeZone: 'America/New_York' });
    // 16:00 New York on 2026-12-06 is inside 09:00–17:00 there.
    expect(r.state.sendAt).toBe(ENROLLED);
  });

  it('skips a step whose skip condition holds, with the reason, and completes after the last', () => {
    const c = campaign();
    const atDay5 = sub({
      doneStepIds: ['day-0', 'day-2'],
      lastStepAt: '2026-12-09T08:00:00.000Z',
      nextStepId: 'day-5',
      dueAt: '2026-12-12T08:00:00.000Z',
      sendAt: '2026-12-12T08:00:00.000Z',
    });
    const r = onTimer(c, atDay5, '2026-12-12T08:00:00.000Z', { plan: 'pro' });
    expect(r.events.map((e) => e.type)).toEqual(['cmis.drip.step-skipped', 'cmis.drip.subscriber-completed']);
    expect(r.email).toBeUndefined();
    expect(r.state.status).toBe('completed');
  });

  it('holds a due step while paused and resumes by the campaign’s mode', () => {
    const scheduled = scheduleNext(campaign(), sub(), ENROLLED).state;
    const held = onTimer(campaign({}, 'paused'), scheduled, '2026-12-07T08:00:00.000Z');
    expect(held).toMatchObject({ state: { status: 'held' }, events: [] });
    expect(held.email).toBeUndefined();
    // Resumed at 20:00 Berlin: next window opening, 09:00 the next day.
    const next = onResume(campaign(), held.state, '2026-12-07T19:00:00.000Z');
    expect(next).toMatchObject({
      state: { status: 'active', sendAt: '2026-12-08T08:00:00.000Z' },
      timer: { sendAt: '2026-12-08T08:00:00.000Z' },
    });
    const skipped = onResume(campaign({ resume: { mode: 'skip' } }), held.state, '2026-12-07T10:00:00.000Z');
    expect(skipped.events[0]).toMatchObject({
      type: 'cmis.drip.step-skipped',
      data: { stepId: 'day-0', reason: 'missed while paused' },
    });
    expect(skipped.state.nextStepId).toBe('day-2');
    const spread = onResume(
      campaign({ resume: { mode: 'spread', spreadMinutes: 60 } }),
      held.state,
      '2026-12-07T10:00:00.000Z',
    );
    const offset = Date.parse(spread.state.sendAt!) - Date.parse('2026-12-07T10:00:00.000Z');
    expect(offset).toBeGreaterThanOrEqual(0);
    expect(offset).toBeLessThan(3_600_000);
  });

  it('applies an edit to steps not yet reached and skips a removed one', () => {
    const c = campaign();
    const atDay2 = sub({
      doneStepIds: ['day-0'],
      lastStepAt: '2026-12-07T08:00:00.000Z',
      nextStepId: 'day-2',
      dueAt: '2026-12-09T08:00:00.000Z',
      sendAt: '2026-12-09T08:00:00.000Z',
    });
    const edited = campaign({
      steps: [WELCOME.steps[0]!, { id: 'day-1', templateId: 'tip', delay: '1d' }, WELCOME.steps[2]!],
    });
    expect(nextStep(edited.campaign, atDay2)?.id).toBe('day-1');
    const r = onTimer(edited, atDay2, '2026-12-09T08:00:00.000Z');
    expect(r.events[0]).toMatchObject({
      type: 'cmis.drip.step-skipped',
      data: { stepId: 'day-2', reason: 'removed from the campaign' },
    });
    expect(r.email).toBeUndefined();
    expect(r.state.nextStepId).toBe('day-1');
    void c;
  });

  it('ends on an exit or a goal once, cancelling the timer', () => {
    const r = onEnd(sub(), { kind: 'exited', reason: 'exit event order_completed', causeId: 'e-1' });
    expect(r).toMatchObject({ state: { status: 'exited' }, timer: 'cancel' });
    expect(onEnd(r.state, { kind: 'converted', goal: 'x', causeId: 'e-2' }).events).toEqual([]);
  });
});

describe('checkCampaign', () => {
  const errors = (over: Record<string, unknown>) => {
    const r = checkCampaign({ ...WELCOME, ...over });
    return r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`);
  };
  it('names each fault', () => {
    expect(errors({ steps: [] })).toEqual(['body.steps: a drip needs at least one step']);
    expect(errors({ window: { days: [], start: '09:00', end: '17:00' } })).toEqual([
      'body.window: the window has no day',
    ]);
    expect(errors({ window: { days: ['mon'], start: '17:00', end: '17:00' } })[0]).toMatch(/closes/);
    expect(errors({ steps: [{ id: 'a', templateId: 't', delay: '400d' }] })).toEqual([
      'body.steps.0.delay: at most 365 days',
    ]);
    expect(errors({ steps: [{ id: 'a', templateId: 't', delay: 'soon' }] })[0]).toMatch(
      /^body.steps.0.delay: a delay like/,
    );
    expect(errors({ timeZone: 'Mars/Base' })).toEqual(['body.timeZone: unknown time zone Mars/Base']);
    expect(
      errors({
        steps: [
          { id: 'a', templateId: 't', delay: '0s' },
          { id: 'a', templateId: 't', delay: '1d' },
        ],
      }),
    ).toEqual(['body.steps.1.id: step id a is used twice']);
    expect(
      errors({
        steps: [
          { id: 'a', templateId: 't', delay: '0s', skipIf: { field: 'metrics.x', operator: 'exists' } },
        ],
      })[0],
    ).toMatch(/^body.steps.0.skipIf/);
  });
});
