import { simulate } from '../simulate/simulate';
import { checkWorkflow, compileWorkflow } from './compile';
import { durationMs } from './workflow';

const base = {
  name: 'w',
  entry: { event: 'signed_up', filter: { field: 'event.properties.plan', operator: 'equals', value: 'pro' } },
  start: 'wait',
  steps: [
    { id: 'wait', kind: 'delay', duration: '1d', next: 'check' },
    {
      id: 'check',
      kind: 'condition',
      condition: { field: 'steps.wait.outcome', operator: 'equals', value: 'elapsed' },
      then: 'mail',
      else: 'bye',
    },
    { id: 'mail', kind: 'send_email', templateId: 'tips', next: 'bye' },
    { id: 'bye', kind: 'exit' },
  ],
};
const errorsOf = (draft: unknown) => {
  const r = checkWorkflow(draft);
  return r.ok ? [] : r.errors;
};

describe('checkWorkflow', () => {
  it('accepts a sound workflow and fills the defaults', () => {
    const r = checkWorkflow(base);
    expect(r.ok).toBe(true);
    expect(r.ok && r.definition).toMatchObject({
      reentry: { policy: 'once', concurrent: false },
      retry: { maxAttempts: 5 },
    });
  });

  it('names the step of each graph fault', () => {
    expect(errorsOf({ ...base, start: 'nope' })).toEqual([
      { path: 'body.start', message: 'start names no step: nope' },
    ]);
    expect(errorsOf({ ...base, steps: [...base.steps, { id: 'bye', kind: 'exit' }] })[0]).toMatchObject({
      path: 'body.steps.4.id',
      message: 'step id bye is used twice',
    });
    expect(
      errorsOf({ ...base, steps: [{ id: 'wait', kind: 'delay', next: 'check' }, ...base.steps.slice(1)] })[0]!
        .message,
    ).toBe('step wait: a delay has exactly one of duration, untilTimeOfDay, untilField');
    // A cycle through a delay is fine; without one it would spin.
    const loop = {
      name: 'l',
      start: 'a',
      steps: [
        { id: 'a', kind: 'delay', duration: '1h', next: 'b' },
        { id: 'b', kind: 'condition', condition: { field: 'contact.x', operator: 'exists' }, then: 'a' },
      ],
    };
    expect(errorsOf(loop)).toEqual([]);
  });

  it('type-checks conditions where they are written and refuses unknown zones and durations', () => {
    const bad = {
      ...base,
      timeZone: 'Mars/Olympus',
      steps: [
        { ...base.steps[0], duration: '3y' },
        { ...base.steps[1], condition: { field: 'metrics.cpa', operator: '>', value: 1 } },
        ...base.steps.slice(2),
      ],
    };
    const messages = errorsOf(bad).map((e) => `${e.path}: ${e.message}`);
    expect(messages).toEqual(
      expect.arrayContaining([expect.stringMatching(/^body.steps.0.duration: a duration like/)]),
    );
    const zoneAndField = errorsOf({
      ...base,
      timeZone: 'Mars/Olympus',
      steps: [
        base.steps[0],
        { ...base.steps[1], condition: { field: 'metrics.cpa', operator: '>', value: 1 } },
        ...base.steps.slice(2),
      ],
    });
    expect(zoneAndField).toEqual(
      expect.arrayContaining([
        { path: 'body.timeZone', message: 'unknown time zone Mars/Olympus' },
        expect.objectContaining({
          path: expect.stringMatching(/^body.steps.1.condition/),
          message: expect.stringMatching(/a workflow reads event/),
        }),
      ]),
    );
  });

  it('reads durations', () => {
    expect(durationMs('90s')).toBe(90_000);
    expect(durationMs('-1d')).toBe(-86_400_000);
    expect(() => durationMs('1 day')).toThrow();
  });
});

describe('simulate', () => {
  const workflow = () => {
    const r = checkWorkflow(base);
    if (!r.ok) throw new Error('invalid');
    return compileWorkflow('wf', 1, r.definition);
  };

  it('follows the path on a virtual clock and lists the messages that would be sent', () => {
    const r = simulate(workflow(), {
      contactId: 'c',
      events: [
        { id: 'e', name: 'signed_up', at: '2026-01-01T00:00:00.000Z', data: { properties: { plan: 'pro' } } },
      ],
    });
    expect(r).toMatchObject({
      entered: true,
      status: 'exited',
      path: [
        { stepId: 'wait', outcome: 'elapsed', at: '2026-01-02T00:00:00.000Z' },
        { stepId: 'check', outcome: 'then' },
        { stepId: 'mail', outcome: 'requested' },
        { stepId: 'bye', outcome: 'exit' },
      ],
      messages: [{ stepId: 'mail', templateId: 'tips', at: '2026-01-02T00:00:00.000Z' }],
    });
  });

  it('does not enter when the entry filter fails, and says why', () => {
    const r = simulate(workflow(), {
      contactId: 'c',
      events: [
        {
          id: 'e',
          name: 'signed_up',
          at: '2026-01-01T00:00:00.000Z',
          data: { properties: { plan: 'free' } },
        },
      ],
    });
    expect(r).toMatchObject({
      entered: false,
      messages: [],
      decisions: [{ kind: 'entry', outcome: 'not_entered' }],
    });
  });
});
