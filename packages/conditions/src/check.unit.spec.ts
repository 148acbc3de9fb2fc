import { checkCondition, MAX_CONDITIONS, MAX_DEPTH, type CheckConditionOptions } from './check';
import { compileCondition } from './compile';
import { PASSED } from './conditions';
import { lookupField, type FieldTable } from './fields';

// A workflow branch's scope: the event, the contact and earlier steps' data.
const branchFields: FieldTable = {
  event: { fields: { event: 'string', properties: 'any' } },
  contact: 'any',
  steps: { each: { each: 'any' } },
};
const inBranch: CheckConditionOptions = {
  fieldType: (field) => lookupField(field, branchFields),
  path: 'body.steps.2.when',
};

const errorsOf = (input: unknown, options: CheckConditionOptions = inBranch) => {
  const result = checkCondition(input, options);
  if (result.ok) throw new Error('expected the condition to be refused');
  return result.errors;
};

describe('checkCondition: untrusted JSON to a condition tree', () => {
  it('returns the checked tree, which compiles and reads earlier steps', () => {
    const input = {
      all: [
        { id: 'opened', field: 'steps.wait-for-open.opened', operator: 'equals', value: true },
        { not: { field: 'contact.plan', operator: 'in', value: ['free'] } },
        { any: [{ field: 'event.properties.total', operator: '>', value: 100 }] },
      ],
    };
    const result = checkCondition(input, inBranch);
    expect(result).toEqual({ ok: true, condition: input });
    if (!result.ok) return;
    const ctx = {
      contact: { plan: 'pro' },
      event: { properties: { total: 120 } },
      steps: { 'wait-for-open': { opened: true } },
    };
    expect(compileCondition(result.condition).test(ctx)).toBe(PASSED);
  });

  it('drops nothing and adds nothing: no value on exists, the id kept', () => {
    expect(checkCondition({ id: 'x', field: 'contact.email', operator: 'exists' }, inBranch)).toEqual({
      ok: true,
      condition: { id: 'x', field: 'contact.email', operator: 'exists' },
    });
  });

  it('names the path of every fault under the prefix', () => {
    expect(
      errorsOf({
        any: [
          { field: 'steps.s1.total', operator: 'gt', value: 1 },
          { field: 'event.event', operator: '>', value: 1 },
          { field: 'event.event', operator: 'equals', value: 3 },
          { field: 'contact.plan', operator: 'matches', value: '(' },
          { field: 'contact.plan', operator: 'equals', value: 'a', weight: 2 },
          { all: [] },
        ],
      }),
    ).toEqual([
      { path: 'body.steps.2.when.any.0.operator', message: expect.stringContaining('unknown operator "gt"') },
      { path: 'body.steps.2.when.any.1.operator', message: '> compares numbers; event.event is a string' },
      { path: 'body.steps.2.when.any.2.value', message: 'cannot compare event.event (a string) with 3' },
      { path: 'body.steps.2.when.any.3.value', message: expect.stringContaining('not a valid RE2 pattern') },
      { path: 'body.steps.2.when.any.4', message: 'unknown field(s): weight' },
      { path: 'body.steps.2.when.any.5.all', message: 'all takes a non-empty list of conditions' },
    ]);
    expect(errorsOf('x', { ...inBranch, path: undefined })).toEqual([
      { path: '', message: expect.stringContaining('a condition is an object') },
    ]);
  });

  it('says a field is unknown when the caller has no type for it, or gives the caller’s reason', () => {
    expect(errorsOf({ field: 'metrics.cpa', operator: '>', value: 1 })).toEqual([
      { path: 'body.steps.2.when.field', message: 'unknown field metrics.cpa' },
    ]);
    const withReason: CheckConditionOptions = {
      fieldType: (field) => ({ error: `unknown field ${field}: branches read event.*, contact.*, steps.*` }),
    };
    expect(errorsOf({ field: 'metrics.cpa', operator: 'exists' }, withReason)).toEqual([
      { path: 'field', message: 'unknown field metrics.cpa: branches read event.*, contact.*, steps.*' },
    ]);
  });

  it('checks the path of a field before asking the caller', () => {
    const asked: string[] = [];
    const options: CheckConditionOptions = {
      fieldType: (field) => {
        asked.push(field);
        return { type: 'any' };
      },
    };
    expect(errorsOf({ field: 'contact..plan', operator: 'exists' }, options)).toEqual([
      { path: 'field', message: 'field contact..plan is not a dotted path of names' },
    ]);
    expect(asked).toEqual([]);
  });

  it('bounds depth, and counts one budget across the trees that share it', () => {
    let deep: unknown = { field: 'contact.plan', operator: 'exists' };
    for (let i = 0; i <= MAX_DEPTH; i++) deep = { not: deep };
    expect(errorsOf(deep)[0]!.message).toBe(`conditions nest at most ${MAX_DEPTH} deep`);

    const comparisons = (n: number) => ({
      all: Array.from({ length: n }, () => ({ field: 'contact.plan', operator: 'exists' })),
    });
    // n comparisons and their group: n + 1 conditions.
    expect(checkCondition(comparisons(MAX_CONDITIONS - 1), inBranch).ok).toBe(true);
    expect(errorsOf(comparisons(MAX_CONDITIONS))).toEqual([
      {
        path: `body.steps.2.when.all.${MAX_CONDITIONS - 1}`,
        message: `a definition has at most ${MAX_CONDITIONS} conditions`,
      },
    ]);

    const budget = { nodes: 0, max: 5, owner: 'a workflow' };
    expect(checkCondition(comparisons(3), { ...inBranch, budget }).ok).toBe(true);
    expect(budget.nodes).toBe(4);
    expect(checkCondition(comparisons(3), { ...inBranch, path: 'second', budget })).toEqual({
      ok: false,
      errors: [{ path: 'second.all.0', message: 'a workflow has at most 5 conditions' }],
    });
    // Already reported once: a later tree on the spent budget fails without repeating it.
    expect(checkCondition(comparisons(1), { ...inBranch, budget })).toEqual({ ok: false, errors: [] });
  });
});
