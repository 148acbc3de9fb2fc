import { isDeepStrictEqual } from 'node:util';
import type { CompatibilityIssue, CompatibilityIssueKind } from './compatibility';

/** Leaf checks of the compatibility checker: types, values and keyword constraints. */
export type SchemaObject = { [keyword: string]: unknown };

const TYPES = ['null', 'boolean', 'object', 'array', 'number', 'integer', 'string'] as const;
export type TypeName = (typeof TYPES)[number];

// prettier-ignore
export const ANNOTATIONS = new Set([
  '$schema', '$id', '$comment', 'title', 'description', 'default', 'examples', 'definitions', '$defs',
  'readOnly', 'writeOnly', 'contentMediaType', 'contentEncoding',
]);
// prettier-ignore
const HANDLED = new Set([
  'type', 'enum', 'const', 'anyOf', 'oneOf', '$ref', 'minLength', 'maxLength', 'pattern', 'format',
  'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf', 'required', 'properties',
  'additionalProperties', 'minProperties', 'maxProperties', 'items', 'minItems', 'maxItems', 'uniqueItems',
]);

export function pointer(path: string, ...segments: Array<string | number>): string {
  return segments.reduce<string>(
    (p, s) => `${p}/${String(s).replace(/~/g, '~0').replace(/\//g, '~1')}`,
    path,
  );
}

export function issue(kind: CompatibilityIssueKind, path: string, message: string): CompatibilityIssue {
  return { kind, path: path === '' ? '/' : path, message };
}

function typeOfValue(value: unknown): TypeName {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value as TypeName;
}

/** The JSON types a schema admits; integer stands apart from number only when declared so. */
export function typesOf(s: SchemaObject): TypeName[] {
  if (typeof s.type === 'string') return [s.type as TypeName];
  if (Array.isArray(s.type)) return s.type as TypeName[];
  const values = valuesOf(s);
  if (values) return [...new Set(values.map(typeOfValue))];
  return TYPES.filter((t) => t !== 'integer');
}

function valuesOf(s: SchemaObject): unknown[] | undefined {
  if (s.const !== undefined) return [s.const];
  return Array.isArray(s.enum) ? s.enum : undefined;
}

export const admits = (types: TypeName[], type: TypeName): boolean =>
  types.includes(type) || (type === 'integer' && types.includes('number'));

export function compareValues(p: SchemaObject, n: SchemaObject, path: string): CompatibilityIssue[] {
  const nextValues = valuesOf(n);
  if (!nextValues) return [];
  const prevValues = valuesOf(p);
  if (!prevValues)
    return [issue('enum-added', path, `values are now restricted to ${JSON.stringify(nextValues)}`)];
  if (p.const !== undefined && n.const !== undefined) {
    return isDeepStrictEqual(p.const, n.const)
      ? []
      : [issue('const-changed', path, `const ${JSON.stringify(p.const)} became ${JSON.stringify(n.const)}`)];
  }
  return prevValues
    .filter((v) => !nextValues.some((w) => isDeepStrictEqual(v, w)))
    .map((v) => issue('enum-value-removed', path, `value ${JSON.stringify(v)} is no longer accepted`));
}

function tightened(path: string, keyword: string, p: SchemaObject, n: SchemaObject): CompatibilityIssue {
  const was = p[keyword] === undefined ? 'absent' : JSON.stringify(p[keyword]);
  return issue(
    'constraint-tightened',
    pointer(path, keyword),
    `${keyword} ${was} became ${JSON.stringify(n[keyword])}`,
  );
}

const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);

/** Count limits (minLength, maxItems, ...): a higher minimum or a lower maximum tightens. */
export function compareLimits(p: SchemaObject, n: SchemaObject, path: string, min: string, max: string) {
  const issues: CompatibilityIssue[] = [];
  if ((num(n[min]) ?? 0) > (num(p[min]) ?? 0)) issues.push(tightened(path, min, p, n));
  const [was, now] = [num(p[max]), num(n[max])];
  if (now !== undefined && (was === undefined || now < was)) issues.push(tightened(path, max, p, n));
  return issues;
}

export function compareStrings(p: SchemaObject, n: SchemaObject, path: string): CompatibilityIssue[] {
  const issues = compareLimits(p, n, path, 'minLength', 'maxLength');
  for (const keyword of ['pattern', 'format']) {
    if (n[keyword] !== undefined && n[keyword] !== p[keyword]) issues.push(tightened(path, keyword, p, n));
  }
  return issues;
}

type Bound = { value: number; exclusive: boolean };

function bound(
  s: SchemaObject,
  inclusive: string,
  exclusive: string,
  pick: (a: number, b: number) => number,
) {
  const i = num(s[inclusive]);
  const e = num(s[exclusive]);
  if (e === undefined) return i === undefined ? undefined : { value: i, exclusive: false };
  if (i === undefined) return { value: e, exclusive: true };
  const value = pick(i, e);
  return { value, exclusive: value === e };
}

/** Is `n` tighter than `p` on the side where `beyond(a, b)` means a is further in? */
function tighter(p: Bound | undefined, n: Bound | undefined, beyond: (a: number, b: number) => boolean) {
  if (n === undefined) return false;
  if (p === undefined) return true;
  return beyond(n.value, p.value) || (n.value === p.value && n.exclusive && !p.exclusive);
}

export function compareNumbers(p: SchemaObject, n: SchemaObject, path: string): CompatibilityIssue[] {
  const issues: CompatibilityIssue[] = [];
  const lower = (s: SchemaObject) => bound(s, 'minimum', 'exclusiveMinimum', Math.max);
  const upper = (s: SchemaObject) => bound(s, 'maximum', 'exclusiveMaximum', Math.min);
  if (tighter(lower(p), lower(n), (a, b) => a > b)) {
    issues.push(tightened(path, n.exclusiveMinimum !== undefined ? 'exclusiveMinimum' : 'minimum', p, n));
  }
  if (tighter(upper(p), upper(n), (a, b) => a < b)) {
    issues.push(tightened(path, n.exclusiveMaximum !== undefined ? 'exclusiveMaximum' : 'maximum', p, n));
  }
  const [was, now] = [num(p.multipleOf), num(n.multipleOf)];
  if (now !== undefined && (was === undefined || !Number.isInteger(was / now))) {
    issues.push(tightened(path, 'multipleOf', p, n));
  }
  return issues;
}

export function compareUniqueItems(p: SchemaObject, n: SchemaObject, path: string): CompatibilityIssue[] {
  return n.uniqueItems === true && p.uniqueItems !== true ? [tightened(path, 'uniqueItems', p, n)] : [];
}

/** Keywords the checker does not reason about must stay exactly as they were. */
export function compareUnsupported(p: SchemaObject, n: SchemaObject, path: string): CompatibilityIssue[] {
  return Object.keys({ ...p, ...n })
    .filter((k) => !ANNOTATIONS.has(k) && !HANDLED.has(k) && !isDeepStrictEqual(p[k], n[k]))
    .map((k) => issue('unsupported-change', pointer(path, k), `cannot prove a change of ${k} compatible`));
}
