import {
  FAILED,
  MISSING,
  PASSED,
  type Condition,
  type EvaluationContext,
  type TraceEntry,
} from './conditions';
import { compileCondition, compileGetter, missingFields, passedComparisons } from './compile';

const campaign: EvaluationContext = {
  entity: { type: 'campaign', id: 'cmp-1' },
  metrics: { cpa: 55, spend: 1200, ctr: 0.02, zero: 0 },
  previousMetrics: { cpa: 40, spend: 1000, ctr: 0.02, zero: 0 },
};
const signup: EvaluationContext = {
  event: {
    event: 'Order Completed',
    properties: { total: 120, tags: ['vip', 'eu'], coupon: null, sku: 'SKU-42-XL' },
  },
  contact: { plan: 'pro', email: 'ana@example.com', country: 'PT' },
};

const outcome = (condition: Condition, ctx: EvaluationContext) => compileCondition(condition).test(ctx);

describe('compiled conditions: every operator', () => {
  it.each<[string, Condition, EvaluationContext, number]>([
    [
      'equals on a string',
      { field: 'event.event', operator: 'equals', value: 'Order Completed' },
      signup,
      PASSED,
    ],
    [
      'equals of another type never holds',
      { field: 'metrics.cpa', operator: 'equals', value: '55' },
      campaign,
      FAILED,
    ],
    ['not_equals', { field: 'contact.plan', operator: 'not_equals', value: 'free' }, signup, PASSED],
    ['> holds above', { field: 'metrics.cpa', operator: '>', value: 50 }, campaign, PASSED],
    ['> fails at the bound', { field: 'metrics.cpa', operator: '>', value: 55 }, campaign, FAILED],
    ['>= holds at the bound', { field: 'metrics.cpa', operator: '>=', value: 55 }, campaign, PASSED],
    ['<', { field: 'metrics.cpa', operator: '<', value: 55 }, campaign, FAILED],
    ['<=', { field: 'metrics.cpa', operator: '<=', value: 55 }, campaign, PASSED],
    ['> on a string value fails', { field: 'contact.plan', operator: '>', value: 1 }, signup, FAILED],
    [
      'between inclusive',
      { field: 'metrics.spend', operator: 'between', value: [1000, 1200] },
      campaign,
      PASSED,
    ],
    ['between outside', { field: 'metrics.spend', operator: 'between', value: [0, 1199] }, campaign, FAILED],
    ['in', { field: 'contact.country', operator: 'in', value: ['PT', 'ES'] }, signup, PASSED],
    ['not_in', { field: 'contact.country', operator: 'not_in', value: ['PT', 'ES'] }, signup, FAILED],
    [
      'contains in a string',
      { field: 'contact.email', operator: 'contains', value: '@example' },
      signup,
      PASSED,
    ],
    [
      'contains in a list',
      { field: 'event.properties.tags', operator: 'contains', value: 'vip' },
      signup,
      PASSED,
    ],
    [
      'contains not in the list',
      { field: 'event.properties.tags', operator: 'contains', value: 'us' },
      signup,
      FAILED,
    ],
    [
      'starts_with',
      { field: 'event.properties.sku', operator: 'starts_with', value: 'SKU-' },
      signup,
      PASSED,
    ],
    ['ends_with', { field: 'event.properties.sku', operator: 'ends_with', value: '-S' }, signup, FAILED],
    ['exists', { field: 'contact.email', operator: 'exists' }, signup, PASSED],
    ['exists is false for null', { field: 'event.properties.coupon', operator: 'exists' }, signup, FAILED],
    [
      'exists is false for absent (never missing)',
      { field: 'contact.phone', operator: 'exists' },
      signup,
      FAILED,
    ],
    ['not_exists for absent', { field: 'contact.phone', operator: 'not_exists' }, signup, PASSED],
    ['not_exists for a value', { field: 'contact.plan', operator: 'not_exists' }, signup, FAILED],
    [
      'changed by more than 30%: 40 -> 55 is 37.5%',
      { field: 'metrics.cpa', operator: 'changed_by_more_than_percent', value: 30 },
      campaign,
      PASSED,
    ],
    [
      'changed by more than 40%: 40 -> 55 is 37.5%',
      { field: 'metrics.cpa', operator: 'changed_by_more_than_percent', value: 40 },
      campaign,
      FAILED,
    ],
    [
      'changed by more than 20%: 1000 -> 1200 is 20% exactly',
      { field: 'metrics.spend', operator: 'changed_by_more_than_percent', value: 20 },
      campaign,
      FAILED,
    ],
    [
      'unchanged from zero',
      { field: 'metrics.zero', operator: 'changed_by_more_than_percent', value: 1 },
      campaign,
      FAILED,
    ],
    [
      'no previous value: not changed',
      { field: 'metrics.cpa', operator: 'changed_by_more_than_percent', value: 1 },
      { metrics: { cpa: 9 } },
      FAILED,
    ],
    [
      'matches (RE2)',
      { field: 'event.properties.sku', operator: 'matches', value: '^SKU-\\d+-(S|M|XL)$' },
      signup,
      PASSED,
    ],
    ['matches fails', { field: 'contact.email', operator: 'matches', value: '@corp\\.com$' }, signup, FAILED],
  ])('%s', (_name, condition, ctx, expected) => {
    expect(outcome(condition, ctx)).toBe(expected);
  });

  it('runs a catastrophic-backtracking pattern in linear time', () => {
    const evil = compileCondition({ field: 'contact.name', operator: 'matches', value: '^(a+)+$' });
    const started = process.hrtime.bigint();
    expect(evil.test({ contact: { name: `${'a'.repeat(50_000)}!` } })).toBe(FAILED);
    expect(Number(process.hrtime.bigint() - started) / 1e6).toBeLessThan(2_000);
  });

  it('does not read inherited properties as fields', () => {
    expect(outcome({ field: 'contact.constructor', operator: 'exists' }, signup)).toBe(FAILED);
    expect(outcome({ field: 'contact.toString', operator: 'equals', value: 'x' }, signup)).toBe(MISSING);
  });
});

describe('compiled conditions: groups and missing fields', () => {
  const high = { id: 'high-cpa', field: 'metrics.cpa', operator: '>', value: 50 } as const;
  const absent = { field: 'metrics.roas', operator: '<', value: 1 } as const;
  const low = { field: 'metrics.spend', operator: '<', value: 10 } as const;

  it('all: every condition; a false one decides even beside a missing one', () => {
    expect(outcome({ all: [high, { field: 'metrics.spend', operator: '>', value: 100 }] }, campaign)).toBe(
      PASSED,
    );
    expect(outcome({ all: [high, low] }, campaign)).toBe(FAILED);
    expect(outcome({ all: [absent, low] }, campaign)).toBe(FAILED);
    expect(outcome({ all: [high, absent] }, campaign)).toBe(MISSING);
  });

  it('any: one condition; a true one decides even beside a missing one', () => {
    expect(outcome({ any: [low, high] }, campaign)).toBe(PASSED);
    expect(outcome({ any: [absent, high] }, campaign)).toBe(PASSED);
    expect(outcome({ any: [absent, low] }, campaign)).toBe(MISSING);
    expect(outcome({ any: [low] }, campaign)).toBe(FAILED);
  });

  it('not inverts, and keeps missing missing', () => {
    expect(outcome({ not: high }, campaign)).toBe(FAILED);
    expect(outcome({ not: low }, campaign)).toBe(PASSED);
    expect(outcome({ not: absent }, campaign)).toBe(MISSING);
  });

  it('explains every condition with its path, and agrees with the fast path', () => {
    const rule: Condition = { all: [high, { any: [low, absent] }, { not: low }] };
    const compiled = compileCondition(rule);
    const trace: TraceEntry[] = [];
    expect(compiled.explain(campaign, trace)).toBe(compiled.test(campaign));
    expect(trace.map((t) => [t.path, t.outcome])).toEqual([
      ['conditions', 'missing'],
      ['conditions.all.0', 'passed'],
      ['conditions.all.1', 'missing'],
      ['conditions.all.1.any.0', 'failed'],
      ['conditions.all.1.any.1', 'missing'],
      ['conditions.all.2', 'passed'],
      ['conditions.all.2.not', 'failed'],
    ]);
    expect(trace[1]).toMatchObject({ id: 'high-cpa', field: 'metrics.cpa', expected: 50, actual: 55 });
    expect(trace[4]).toMatchObject({ reason: 'metrics.roas is missing' });
    expect(missingFields(trace)).toEqual(['metrics.roas']);
    expect(passedComparisons(trace)).toEqual(['high-cpa']);
  });

  it('is deterministic: the same input gives the same outcome', () => {
    const compiled = compileCondition({ any: [high, absent] });
    const outcomes = Array.from({ length: 5 }, () => compiled.test(campaign));
    expect(new Set(outcomes)).toEqual(new Set([PASSED]));
  });
});

describe('compiled conditions: earlier steps of a workflow', () => {
  const afterSteps: EvaluationContext = {
    event: { event: 'Order Completed' },
    contact: { plan: 'pro' },
    steps: {
      'wait-for-open': { opened: true, openedAt: '2026-01-02T10:00:00Z' },
      'check-order': { order: { total: 120, items: ['sku-1'] } },
      'no-data': null,
    },
  };

  it('reads steps.<stepId>.<field> at any depth', () => {
    expect(compileGetter('steps.wait-for-open.opened')(afterSteps)).toBe(true);
    expect(compileGetter('steps.check-order.order.total')(afterSteps)).toBe(120);
    expect(compileGetter('steps.check-order')(afterSteps)).toEqual({
      order: { total: 120, items: ['sku-1'] },
    });
    expect(outcome({ field: 'steps.check-order.order.total', operator: '>=', value: 100 }, afterSteps)).toBe(
      PASSED,
    );
    expect(
      outcome({ field: 'steps.check-order.order.items', operator: 'contains', value: 'sku-2' }, afterSteps),
    ).toBe(FAILED);
  });

  it('mixes steps with the event and the contact in one tree', () => {
    const branch: Condition = {
      all: [
        { field: 'event.event', operator: 'equals', value: 'Order Completed' },
        { field: 'contact.plan', operator: 'in', value: ['pro', 'team'] },
        { field: 'steps.wait-for-open.opened', operator: 'equals', value: true },
      ],
    };
    expect(outcome(branch, afterSteps)).toBe(PASSED);
    const trace: TraceEntry[] = [];
    compileCondition({ field: 'steps.later-step.clicked', operator: 'equals', value: true }).explain(
      afterSteps,
      trace,
    );
    expect(trace).toEqual([
      expect.objectContaining({ outcome: 'missing', reason: 'steps.later-step.clicked is missing' }),
    ]);
  });

  it('finds a step that has not run missing, and exists false for it', () => {
    const notRun = { field: 'steps.later-step.clicked', operator: 'equals', value: true } as const;
    expect(outcome(notRun, afterSteps)).toBe(MISSING);
    expect(outcome(notRun, { event: {} })).toBe(MISSING);
    expect(outcome({ field: 'steps.no-data.x', operator: 'equals', value: 1 }, afterSteps)).toBe(MISSING);
    expect(outcome({ field: 'steps.later-step', operator: 'exists' }, afterSteps)).toBe(FAILED);
    expect(outcome({ field: 'steps.later-step', operator: 'not_exists' }, afterSteps)).toBe(PASSED);
  });

  it('does not read inherited properties of the steps record, nor roots it does not know', () => {
    expect(compileGetter('steps.constructor')(afterSteps)).toBeUndefined();
    expect(compileGetter('steps.__proto__.x')(afterSteps)).toBeUndefined();
    expect(compileGetter('constructor.name')(afterSteps)).toBeUndefined();
    expect(compileGetter('previousMetrics.cpa')({ previousMetrics: { cpa: 3 } })).toBeUndefined();
  });
});
