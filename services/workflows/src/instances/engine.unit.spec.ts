import { stepIndex, WorkflowInput, type WorkflowDefinition } from '../definitions/workflow';
import {
  advance,
  emptyState,
  stickyBucket,
  type CompiledWorkflow,
  type ConditionContext,
  type EngineInput,
  type InstanceState,
} from './engine';

// Conditions here are tiny predicates by ref; the real ones are @cmis/conditions (compile.ts).
function compiled(
  input: unknown,
  tests: Record<string, (ctx: ConditionContext) => boolean | 'missing'> = {},
): CompiledWorkflow {
  const definition: WorkflowDefinition = WorkflowInput.parse(input);
  return {
    workflowId: 'wf-1',
    version: 1,
    definition,
    steps: stepIndex(definition),
    test(ref, ctx) {
      const r = tests[ref]?.(ctx) ?? false;
      return { outcome: r === 'missing' ? 'missing' : r ? 'passed' : 'failed', trace: [ref] };
    },
  };
}

const CART = {
  name: 'Abandoned cart',
  entry: { event: 'cart_abandoned' },
  start: 'wait-order',
  steps: [
    {
      id: 'wait-order',
      kind: 'wait_event',
      event: 'order_completed',
      timeout: '1h',
      received: 'done',
      timedOut: 'remind',
    },
    { id: 'remind', kind: 'send_email', templateId: 'cart-reminder' },
    { id: 'done', kind: 'exit', reason: 'ordered' },
  ],
  goals: [{ event: 'order_completed' }],
  reentry: { policy: 'once_per_period', periodDays: 1 },
};

const T0 = '2026-12-06T10:00:00.000Z';
const fresh = () => emptyState({ instanceId: 'i-1', workflowId: 'wf-1', version: 1, contactId: 'c-1' });
const start: EngineInput = {
  kind: 'start',
  at: T0,
  entry: 'event',
  causeId: 'e-1',
  event: { id: 'e-1', name: 'cart_abandoned', at: T0, data: { properties: { total: 80 } } },
};

function run(wf: CompiledWorkflow, inputs: EngineInput[], contact?: Record<string, unknown>) {
  let state: InstanceState = fresh();
  const all = { events: [] as string[], effects: [] as string[], state };
  for (const input of inputs) {
    const r = advance(state, input, { workflow: wf, ...(contact ? { contact } : {}) });
    state = r.state;
    all.events.push(...r.events.map((e) => e.type.replace('cmis.workflows.', '')));
    all.effects.push(...r.effects.map((e) => e.kind));
    all.state = state;
  }
  return all;
}

describe('workflow engine', () => {
  const cart = compiled(CART);

  it('enters and waits for the order with a timeout timer and a registered wait', () => {
    const r = advance(fresh(), start, { workflow: cart });
    expect(r.events.map((e) => e.type)).toEqual([
      'cmis.workflows.instance-started',
      'cmis.workflows.instance-waiting',
    ]);
    expect(r.state).toMatchObject({
      status: 'waiting',
      stepId: 'wait-order',
      waiting: { until: '2026-12-06T11:00:00.000Z' },
    });
    expect(r.effects).toEqual([
      expect.objectContaining({ kind: 'register-wait', event: 'order_completed', since: T0 }),
      expect.objectContaining({
        kind: 'schedule-timer',
        timerId: 'i-1:wait-order:1:timeout',
        dueAt: '2026-12-06T11:00:00.000Z',
      }),
    ]);
  });

  it('times out into the reminder email with a stable idempotency key, then completes', () => {
    const r = run(cart, [
      start,
      { kind: 'timer', at: '2026-12-06T11:00:00.000Z', stepId: 'wait-order', visit: 1, purpose: 'timeout' },
    ]);
    expect(r.state.status).toBe('completed');
    expect(r.effects).toContain('send-email');
    const again = advance(
      advance(fresh(), start, { workflow: cart }).state,
      { kind: 'timer', at: '2026-12-06T11:00:00.000Z', stepId: 'wait-order', visit: 1, purpose: 'timeout' },
      { workflow: cart },
    );
    expect(again.effects.find((e) => e.kind === 'send-email')).toMatchObject({
      idempotencyKey: 'workflow:i-1:remind:1',
    });
  });

  it('takes the received branch for an event at the very instant the wait began (judged by event time)', () => {
    const r = run(cart, [
      start,
      { kind: 'event', at: T0, event: { id: 'e-2', name: 'order_completed', at: T0, data: {} } },
    ]);
    expect(r.state).toMatchObject({ status: 'exited', steps: { 'wait-order': { outcome: 'received' } } });
    expect(r.effects).not.toContain('send-email');
    expect(r.effects).toEqual(expect.arrayContaining(['clear-wait', 'cancel-timer']));
  });

  it('ignores an event from before the wait began or after its deadline', () => {
    const early = run(cart, [
      start,
      {
        kind: 'event',
        at: T0,
        event: { id: 'e-0', name: 'order_completed', at: '2026-12-06T09:59:59.000Z', data: {} },
      },
    ]);
    expect(early.state.status).toBe('waiting');
    const late = run(cart, [
      start,
      {
        kind: 'event',
        at: T0,
        event: { id: 'e-3', name: 'order_completed', at: '2026-12-06T11:00:01.000Z', data: {} },
      },
    ]);
    expect(late.state.status).toBe('waiting');
  });

  it('converts on a goal wherever the instance is, cancelling its timer', () => {
    const r = advance(
      advance(fresh(), start, { workflow: cart }).state,
      { kind: 'goal', at: T0, causeId: 'e-9', name: 'order_completed' },
      { workflow: cart },
    );
    expect(r.state.status).toBe('converted');
    expect(r.effects.map((e) => e.kind)).toEqual(['cancel-timer', 'clear-wait']);
    expect(r.events[0]).toMatchObject({
      data: { status: 'converted', causeId: 'e-9', stepId: 'wait-order' },
    });
  });

  it('ignores a stale timer (another visit) and any input after the end', () => {
    const waiting = advance(fresh(), start, { workflow: cart }).state;
    expect(
      advance(
        waiting,
        { kind: 'timer', at: T0, stepId: 'wait-order', visit: 2, purpose: 'timeout' },
        { workflow: cart },
      ).events,
    ).toEqual([]);
    const ended = advance(waiting, { kind: 'cancel', at: T0, reason: 'operator' }, { workflow: cart }).state;
    expect(
      advance(ended, { kind: 'goal', at: T0, causeId: 'x', name: 'order_completed' }, { workflow: cart })
        .events,
    ).toEqual([]);
  });

  it('branches on conditions over the entry event, the contact and earlier steps; missing takes else', () => {
    const wf = compiled(
      {
        name: 'b',
        start: 'big',
        steps: [
          { id: 'big', kind: 'condition', condition: {}, then: 'vip', else: 'tier' },
          {
            id: 'tier',
            kind: 'split',
            branches: [{ name: 'gold', condition: {}, next: 'vip' }],
            otherwise: 'bye',
          },
          { id: 'vip', kind: 'exit', reason: 'vip' },
          { id: 'bye', kind: 'exit', reason: 'plain' },
        ],
      },
      {
        big: (c) => ((c.event?.properties as { total?: number } | undefined)?.total ?? 0) > 100,
        'tier.gold': (c) => (c.contact?.tier === undefined ? 'missing' : c.contact.tier === 'gold'),
      },
    );
    expect(advance(fresh(), start, { workflow: wf }).state.lastError).toBe('plain');
    expect(advance(fresh(), start, { workflow: wf, contact: { tier: 'gold' } }).state.lastError).toBe('vip');
    const decisions = advance(fresh(), start, { workflow: wf }).decisions;
    expect(decisions.find((d) => d.stepId === 'tier')).toMatchObject({
      outcome: 'otherwise',
      inputs: { tried: [{ branch: 'gold', result: 'missing' }] },
    });
  });

  it('splits at random by weight, sticky per workflow and contact, with a holdout', () => {
    const wf = compiled({
      name: 'r',
      start: 'ab',
      steps: [
        {
          id: 'ab',
          kind: 'random_split',
          holdoutPercent: 10,
          branches: [
            { name: 'a', weight: 1 },
            { name: 'b', weight: 3 },
          ],
        },
      ],
    });
    const counts: Record<string, number> = {};
    for (let i = 0; i < 4_000; i++) {
      const s = emptyState({ instanceId: `i-${i}`, workflowId: 'wf-1', version: 1, contactId: `c-${i}` });
      const r = advance(s, start, { workflow: wf });
      const outcome = r.events.find((e) => e.type === 'cmis.workflows.step-completed')!.data as {
        outcome: string;
      };
      counts[outcome.outcome] = (counts[outcome.outcome] ?? 0) + 1;
      if (i < 50) expect(advance(s, start, { workflow: wf }).events).toEqual(r.events);
    }
    expect(counts.holdout! / 4_000).toBeCloseTo(0.1, 1);
    expect(counts.b! / counts.a!).toBeGreaterThan(2.4);
    expect(counts.b! / counts.a!).toBeLessThan(3.6);
    expect(stickyBucket('wf-1', 'c-1', 'ab')).toBe(stickyBucket('wf-1', 'c-1', 'ab'));
  });

  it('retries a failing webhook with backoff under the same delivery id, then fails with the reason', () => {
    const wf = compiled({
      name: 'w',
      start: 'hook',
      steps: [{ id: 'hook', kind: 'webhook', url: 'https://example.com/h' }],
      retry: { maxAttempts: 3, baseSeconds: 10 },
    });
    let state = advance(fresh(), start, { workflow: wf }).state;
    const ids: string[] = [];
    for (let attempt = 1; attempt <= 3; attempt++) {
      const failed = advance(
        state,
        { kind: 'effect', at: T0, stepId: 'hook', visit: 1, ok: false, reason: 'HTTP 503' },
        { workflow: wf },
      );
      state = failed.state;
      if (attempt < 3) {
        expect(failed.events[0]).toMatchObject({
          data: { attempt, retryAt: new Date(Date.parse(T0) + 10_000 * 2 ** (attempt - 1)).toISOString() },
        });
        const retried = advance(
          state,
          { kind: 'timer', at: T0, stepId: 'hook', visit: 1, purpose: 'retry' },
          { workflow: wf },
        );
        ids.push(
          ...retried.effects
            .filter((e) => e.kind === 'deliver-webhook')
            .map((e) => (e as { deliveryId: string }).deliveryId),
        );
        state = retried.state;
      }
    }
    expect(ids).toEqual(['i-1:hook:1', 'i-1:hook:1']);
    expect(state).toMatchObject({ status: 'failed', lastError: 'step hook: HTTP 503' });
  });

  it('lets an operator skip a failed-and-retrying step or retry it', () => {
    const wf = compiled({
      name: 'w',
      start: 'hook',
      steps: [
        { id: 'hook', kind: 'webhook', url: 'https://example.com/h', next: 'bye' },
        { id: 'bye', kind: 'exit' },
      ],
    });
    const s1 = advance(
      advance(fresh(), start, { workflow: wf }).state,
      { kind: 'effect', at: T0, stepId: 'hook', visit: 1, ok: false, reason: 'x' },
      { workflow: wf },
    ).state;
    expect(advance(s1, { kind: 'skip', at: T0 }, { workflow: wf }).state.status).toBe('exited');
    expect(advance(s1, { kind: 'retry', at: T0 }, { workflow: wf }).effects.map((e) => e.kind)).toEqual([
      'cancel-timer',
      'deliver-webhook',
    ]);
  });

  it('delays until a time of day in the contact’s zone and until a date from the event with an offset', () => {
    const wf = compiled({
      name: 'd',
      start: 'morning',
      steps: [
        { id: 'morning', kind: 'delay', untilTimeOfDay: { time: '09:00' }, next: 'before' },
        { id: 'before', kind: 'delay', untilField: { field: 'event.properties.renewsAt', offset: '-1d' } },
      ],
    });
    const ev: EngineInput = {
      ...start,
      at: '2026-12-06T21:00:00.000Z',
      event: {
        id: 'e',
        name: 'x',
        at: '2026-12-06T21:00:00.000Z',
        data: { properties: { renewsAt: '2026-12-20T00:00:00Z' } },
      },
    } as EngineInput;
    const r = advance(fresh(), ev, { workflow: wf, contact: { timeZone: 'Europe/Berlin' } });
    expect(r.state.waiting?.until).toBe('2026-12-07T08:00:00.000Z');
    const next = advance(
      r.state,
      { kind: 'timer', at: '2026-12-07T08:00:00.000Z', stepId: 'morning', visit: 1, purpose: 'delay' },
      { workflow: wf },
    );
    expect(next.state.waiting?.until).toBe('2026-12-19T00:00:00.000Z');
  });

  it('fails an instance that runs too many steps without waiting rather than spinning', () => {
    // A zero-length path back through a delay already due: the guard stops it.
    const wf = compiled({
      name: 'spin',
      start: 'a',
      steps: [
        { id: 'a', kind: 'delay', untilField: { field: 'event.properties.past' }, next: 'b' },
        { id: 'b', kind: 'condition', condition: {}, then: 'a', else: 'a' },
      ],
    });
    const ev = {
      ...start,
      event: { id: 'e', name: 'x', at: T0, data: { properties: { past: '2020-01-01T00:00:00Z' } } },
    } as EngineInput;
    expect(advance(fresh(), ev, { workflow: wf }).state).toMatchObject({ status: 'failed' });
  });
});
