// The type checker of rule definitions: every fault is reported with the path of the field at
// fault (`body.conditions.all.0.operator`), so a 400 says exactly what to fix. Pure.
import { checkWebhookUrl, type Allowlist, type FieldError } from '@cmis/platform';
import { z, type ZodIssue } from 'zod';
import {
  OPERATORS,
  type Comparison,
  type Condition,
  type Operator,
  type Scalar,
} from '../conditions/conditions';
import { compilePattern } from '../conditions/compile';
import { fieldType, type EventTriggerType, type FieldType } from '../conditions/fields';
import { RuleInput, type RuleDefinition } from './rule';

export const MAX_RULE_BYTES = 64 * 1024;
export const MAX_CONDITIONS = 200;
export const MAX_DEPTH = 10;
export const MAX_LIST = 1000;
export const MAX_TEXT = 1000;

export type CheckResult = { ok: true; definition: RuleDefinition } | { ok: false; errors: FieldError[] };

type Scope = { kind: 'event'; eventType: EventTriggerType } | { kind: 'metrics' | 'schedule' };

/** Checks an untrusted rule definition; `base` prefixes every error path (e.g. `body`). */
export function checkRule(input: unknown, base = 'body', allowlist: Allowlist = []): CheckResult {
  const at = (...parts: Array<string | number>) => [base, ...parts].filter((p) => p !== '').join('.');
  const size = Buffer.byteLength(JSON.stringify(input) ?? '');
  if (size > MAX_RULE_BYTES) {
    return {
      ok: false,
      errors: [{ path: base, message: `rule is ${size} bytes; at most ${MAX_RULE_BYTES}` }],
    };
  }
  const parsed = RuleInput.safeParse(input);
  if (!parsed.success) return { ok: false, errors: parsed.error.issues.map((i) => issueError(i, at)) };
  const rule = parsed.data;
  const errors: FieldError[] = [];
  const scope: Scope =
    rule.trigger.kind === 'event' ? { kind: 'event', eventType: rule.trigger.eventType } : rule.trigger;
  const budget = { nodes: 0 };

  const conditions = parseCondition(rule.conditions, ['conditions'], scope, errors, at, budget, 0);
  let trigger: RuleDefinition['trigger'] = rule.trigger as RuleDefinition['trigger'];
  if (rule.trigger.kind === 'event' && rule.trigger.filter !== undefined) {
    const filter = parseCondition(rule.trigger.filter, ['trigger', 'filter'], scope, errors, at, budget, 0);
    trigger = { kind: 'event', eventType: rule.trigger.eventType, ...(filter ? { filter } : {}) };
  }

  rule.actions.forEach((action, i) => {
    const campaignScoped = rule.trigger.kind !== 'event' && rule.entityType === 'campaign';
    switch (action.kind) {
      case 'pause_campaign':
      case 'resume_campaign':
      case 'adjust_budget':
        if (action.campaignId === undefined && !campaignScoped) {
          errors.push({
            path: at('actions', i, 'campaignId'),
            message: `${action.kind} needs a campaignId: the rule does not watch campaign metrics`,
          });
        }
        if (
          action.kind === 'adjust_budget' &&
          action.minBudget !== undefined &&
          action.maxBudget !== undefined &&
          action.minBudget > action.maxBudget
        ) {
          errors.push({ path: at('actions', i, 'minBudget'), message: 'minBudget is above maxBudget' });
        }
        break;
      case 'tag_contact':
      case 'enroll_workflow':
      case 'enroll_drip':
        if (action.contactId === undefined && rule.trigger.kind !== 'event') {
          errors.push({
            path: at('actions', i, 'contactId'),
            message: `${action.kind} needs a contactId: only event rules fire for a contact`,
          });
        }
        break;
      case 'webhook': {
        const checked = checkWebhookUrl(action.url, allowlist);
        if (!checked.ok) errors.push({ path: at('actions', i, 'url'), message: `url ${checked.reason}` });
        break;
      }
      case 'send_notification':
        // Email notifications go to the email service as requests to these addresses.
        if (action.channel === 'email')
          action.recipients.forEach((recipient, r) => {
            if (!isEmailAddress(recipient))
              errors.push({ path: at('actions', i, 'recipients', r), message: 'must be an email address' });
          });
        break;
      default:
        unreachable(action);
    }
  });

  if (errors.length > 0 || conditions === undefined) return { ok: false, errors };
  return { ok: true, definition: { ...rule, trigger, conditions } };
}

export const isEmailAddress = (text: string) => z.string().email().max(320).safeParse(text).success;

function issueError(issue: ZodIssue, at: (...p: Array<string | number>) => string): FieldError {
  if (issue.code === 'unrecognized_keys') {
    return { path: at(...issue.path), message: `unknown field(s): ${issue.keys.join(', ')}` };
  }
  return { path: at(...issue.path), message: issue.message };
}

const GROUP_KEYS = ['all', 'any', 'not'] as const;
const COMPARISON_KEYS = new Set(['id', 'field', 'operator', 'value']);

function parseCondition(
  raw: unknown,
  path: Array<string | number>,
  scope: Scope,
  errors: FieldError[],
  at: (...p: Array<string | number>) => string,
  budget: { nodes: number },
  depth: number,
): Condition | undefined {
  const fail = (message: string, ...more: Array<string | number>) => {
    errors.push({ path: at(...path, ...more), message });
    return undefined;
  };
  budget.nodes += 1;
  if (budget.nodes === MAX_CONDITIONS + 1) return fail(`a rule has at most ${MAX_CONDITIONS} conditions`);
  if (budget.nodes > MAX_CONDITIONS) return undefined;
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
      const inner = parseCondition(obj.not, [...path, 'not'], scope, errors, at, budget, depth + 1);
      return inner && { not: inner };
    }
    const list = obj[group];
    if (!Array.isArray(list) || list.length === 0)
      return fail(`${group} takes a non-empty list of conditions`, group);
    const children = list.map((c, i) =>
      parseCondition(c, [...path, group, i], scope, errors, at, budget, depth + 1),
    );
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
  const typed = fieldType(obj.field, scope);
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
