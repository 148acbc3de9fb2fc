// The type checker of a condition tree from untrusted JSON: every fault is reported with the path
// of the part at fault (`body.conditions.all.0.operator`), so a 400 says exactly what to fix. Pure.
import { compilePattern } from './compile';
import { OPERATORS, type Comparison, type Condition, type Operator, type Scalar } from './conditions';
import { checkFieldPath, type FieldType, type FieldTyping } from './fields';

export const MAX_CONDITIONS = 200;
export const MAX_DEPTH = 10;
export const MAX_LIST = 1000;
export const MAX_TEXT = 1000;

/** A fault and where it is (the shape of the platform's FieldError). */
export interface ConditionError {
  path: string;
  message: string;
}

/** How many conditions a definition may hold; share one between the trees of one definition. */
export interface ConditionBudget {
  /** Conditions (groups and comparisons) counted so far. */
  nodes: number;
  /** At most this many in all (default MAX_CONDITIONS). */
  max?: number;
  /** Whose limit it is, in its message `${owner} has at most N conditions` (default 'a definition'). */
  owner?: string;
}

export interface CheckConditionOptions {
  /** The type of a field where the condition is used, or why it cannot be read; undefined: unknown. */
  fieldType(field: string): FieldTyping | undefined;
  /** Prefixes every error path (e.g. `body.conditions`). */
  path?: string;
  /** A budget shared with other trees; each call counts from zero without one. */
  budget?: ConditionBudget;
}

/**
 * `errors` is empty only when a shared budget had run out before this tree: the check that used
 * it up reported that once.
 */
export type CheckConditionResult =
  { ok: true; condition: Condition } | { ok: false; errors: ConditionError[] };

const GROUP_KEYS = ['all', 'any', 'not'] as const;
const COMPARISON_KEYS = new Set(['id', 'field', 'operator', 'value']);

/** Checks an untrusted condition tree: its shape, each field's type and each operator's operands. */
export function checkCondition(input: unknown, options: CheckConditionOptions): CheckConditionResult {
  const errors: ConditionError[] = [];
  const budget = options.budget ?? { nodes: 0 };
  const max = budget.max ?? MAX_CONDITIONS;
  const prefix = options.path ?? '';
  const at = (parts: Array<string | number>) => [prefix, ...parts].filter((p) => p !== '').join('.');

  const parse = (raw: unknown, path: Array<string | number>, depth: number): Condition | undefined => {
    const fail = (message: string, ...more: Array<string | number>) => {
      errors.push({ path: at([...path, ...more]), message });
      return undefined;
    };
    budget.nodes += 1;
    if (budget.nodes === max + 1)
      return fail(`${budget.owner ?? 'a definition'} has at most ${max} conditions`);
    if (budget.nodes > max) return undefined;
    if (depth > MAX_DEPTH) return fail(`conditions nest at most ${MAX_DEPTH} deep`);
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
      return fail(
        'a condition is an object: {all: [...]}, {any: [...]}, {not: {...}} or {field, operator, value}',
      );
    }
    const obj = raw as Record<string, unknown>;
    const keys = Object.keys(obj);
    const group = GROUP_KEYS.find((g) => g in obj);
    if (group) {
      if (keys.length !== 1)
        return fail(`a ${group} group has no other fields: ${keys.filter((k) => k !== group).join(', ')}`);
      if (group === 'not') {
        const inner = parse(obj.not, [...path, 'not'], depth + 1);
        return inner && { not: inner };
      }
      const list = obj[group];
      if (!Array.isArray(list) || list.length === 0)
        return fail(`${group} takes a non-empty list of conditions`, group);
      const children = list.map((c, i) => parse(c, [...path, group, i], depth + 1));
      if (children.some((c) => c === undefined)) return undefined;
      return group === 'all' ? { all: children as Condition[] } : { any: children as Condition[] };
    }
    const unknown = keys.filter((k) => !COMPARISON_KEYS.has(k));
    if (unknown.length > 0) return fail(`unknown field(s): ${unknown.join(', ')}`);
    if (obj.id !== undefined && (typeof obj.id !== 'string' || obj.id.length === 0 || obj.id.length > 100)) {
      return fail('id is a string of 1 to 100 characters', 'id');
    }
    if (typeof obj.field !== 'string') return fail('field is required (e.g. metrics.cpa)', 'field');
    if (typeof obj.operator !== 'string' || !(OPERATORS as readonly string[]).includes(obj.operator)) {
      return fail(
        `unknown operator ${JSON.stringify(obj.operator)}; one of ${OPERATORS.join(', ')}`,
        'operator',
      );
    }
    const operator = obj.operator as Operator;
    const malformed = checkFieldPath(obj.field);
    const typed = malformed !== undefined ? { error: malformed } : options.fieldType(obj.field);
    if (typed === undefined) return fail(`unknown field ${obj.field}`, 'field');
    if ('error' in typed) return fail(typed.error, 'field');
    const message = checkOperands(operator, typed.type, obj.field, obj.value, 'value' in obj);
    if (message) return fail(message.text, ...(message.at === 'value' ? ['value'] : ['operator']));
    const comparison = {
      field: obj.field,
      operator,
      ...('value' in obj ? { value: obj.value } : {}),
    } as Comparison;
    if (typeof obj.id === 'string') comparison.id = obj.id;
    return comparison;
  };

  const condition = parse(input, [], 0);
  return condition !== undefined && errors.length === 0 ? { ok: true, condition } : { ok: false, errors };
}

const isScalar = (v: unknown): v is Scalar =>
  v === null ||
  typeof v === 'string' ||
  typeof v === 'boolean' ||
  (typeof v === 'number' && Number.isFinite(v));
const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const typeOfScalar = (v: Scalar): FieldType | 'other' =>
  typeof v === 'number' ? 'number' : typeof v === 'string' ? 'string' : 'other';

function checkOperands(
  operator: Operator,
  field: FieldType,
  name: string,
  value: unknown,
  hasValue: boolean,
): { at: 'value' | 'operator'; text: string } | undefined {
  const v = (text: string) => ({ at: 'value' as const, text });
  const incompatible = (wants: string) => ({
    at: 'operator' as const,
    text: `${operator} compares ${wants}; ${name} is a ${field}`,
  });
  const sameType = (scalar: Scalar) => {
    const t = typeOfScalar(scalar);
    return field === 'any' || t === field || scalar === null;
  };
  switch (operator) {
    case 'exists':
    case 'not_exists':
      return hasValue ? v(`${operator} takes no value`) : undefined;
    case 'equals':
    case 'not_equals':
      if (!isScalar(value)) return v(`${operator} takes a string, number, boolean or null`);
      if (!sameType(value)) return v(`cannot compare ${name} (a ${field}) with ${JSON.stringify(value)}`);
      return undefined;
    case '>':
    case '>=':
    case '<':
    case '<=':
      if (field === 'string') return incompatible('numbers');
      return isNumber(value) ? undefined : v(`${operator} takes a number`);
    case 'between':
      if (field === 'string') return incompatible('numbers');
      if (!Array.isArray(value) || value.length !== 2 || !value.every(isNumber))
        return v('between takes [low, high]');
      return value[0]! <= value[1]! ? undefined : v('between takes [low, high] with low <= high');
    case 'in':
    case 'not_in':
      if (!Array.isArray(value) || value.length === 0 || value.length > MAX_LIST || !value.every(isScalar)) {
        return v(`${operator} takes a list of 1 to ${MAX_LIST} strings, numbers or booleans`);
      }
      {
        const bad = value.findIndex((x) => !sameType(x));
        return bad < 0
          ? undefined
          : v(`cannot compare ${name} (a ${field}) with ${JSON.stringify(value[bad])}`);
      }
    case 'contains':
      if (field === 'number') return incompatible('strings or lists');
      if (!isScalar(value)) return v('contains takes a string, number or boolean');
      return typeof value === 'string' && value.length > MAX_TEXT
        ? v(`at most ${MAX_TEXT} characters`)
        : undefined;
    case 'starts_with':
    case 'ends_with':
      if (field === 'number') return incompatible('strings');
      if (typeof value !== 'string' || value.length === 0 || value.length > MAX_TEXT) {
        return v(`${operator} takes a string of 1 to ${MAX_TEXT} characters`);
      }
      return undefined;
    case 'matches':
      if (field === 'number') return incompatible('strings');
      if (typeof value !== 'string' || value.length === 0 || value.length > MAX_TEXT) {
        return v(`matches takes a pattern of 1 to ${MAX_TEXT} characters`);
      }
      try {
        compilePattern(value);
      } catch (error) {
        return v(`not a valid RE2 pattern: ${(error as Error).message}`);
      }
      return undefined;
    case 'changed_by_more_than_percent':
      // The previous value is the entity's previous metrics (EvaluationContext.previousMetrics).
      if (field !== 'number' || !name.startsWith('metrics.')) {
        return incompatible('a metric with its previous value');
      }
      return isNumber(value) && value > 0
        ? undefined
        : v('changed_by_more_than_percent takes a percentage above 0');
    default:
      return unreachable(operator);
  }
}

function unreachable(value: never): never {
  throw new Error(`unhandled ${JSON.stringify(value)}`);
}
