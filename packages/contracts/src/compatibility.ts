import { isDeepStrictEqual } from 'node:util';
import type { JsonSchema } from './json-schema';

/**
 * Offline BACKWARD compatibility of JSON Schemas, in the sense the schema registry uses:
 * a consumer on the `next` schema can read every message written with the `previous` one,
 * i.e. every instance `previous` accepts, `next` accepts too. Conservative: a change it cannot
 * prove safe (allOf, not, if/then, tuples, ...) is reported as `unsupported-change`.
 */
export type CompatibilityIssueKind =
  | 'type-changed'
  | 'type-narrowed'
  | 'property-newly-required'
  | 'property-removed-from-closed-content-model'
  | 'property-added-to-open-content-model'
  | 'additional-properties-closed'
  | 'enum-value-removed'
  | 'enum-added'
  | 'const-changed'
  | 'union-branch-removed'
  | 'constraint-tightened'
  | 'unsupported-change';

export interface CompatibilityIssue {
  kind: CompatibilityIssueKind;
  /** JSON Pointer into the next schema (into the previous one for removed union branches). */
  path: string;
  message: string;
}

type SchemaObject = { [keyword: string]: unknown };
type Side = { node: JsonSchema; root: JsonSchema };
/** Where we are in the next schema, and in the previous one (for removed union branches). */
type Paths = { next: string; prev: string };
type Stack = ReadonlyArray<readonly [JsonSchema, JsonSchema]>;

const TYPES = ['null', 'boolean', 'object', 'array', 'number', 'integer', 'string'] as const;
type TypeName = (typeof TYPES)[number];

const ANNOTATIONS = new Set([
  '$schema',
  '$id',
  '$comment',
  'title',
  'description',
  'default',
  'examples',
  'definitions',
  '$defs',
  'readOnly',
  'writeOnly',
  'contentMediaType',
  'contentEncoding',
]);
const HANDLED = new Set([
  'type',
  'enum',
  'const',
  'anyOf',
  'oneOf',
  '$ref',
  'minLength',
  'maxLength',
  'pattern',
  'format',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'multipleOf',
  'required',
  'properties',
  'additionalProperties',
  'minProperties',
  'maxProperties',
  'items',
  'minItems',
  'maxItems',
  'uniqueItems',
]);

export function checkBackwardCompatibility(previous: JsonSchema, next: JsonSchema): CompatibilityIssue[] {
  return compare({ node: previous, root: previous }, { node: next, root: next }, { next: '', prev: '' }, []);
}

export function isBackwardCompatible(previous: JsonSchema, next: JsonSchema): boolean {
  return checkBackwardCompatibility(previous, next).length === 0;
}

function pointer(path: string, ...segments: Array<string | number>): string {
  return segments.reduce<string>(
    (p, s) => `${p}/${String(s).replace(/~/g, '~0').replace(/\//g, '~1')}`,
    path,
  );
}

const into = (paths: Paths, ...segments: Array<string | number>): Paths => ({
  next: pointer(paths.next, ...segments),
  prev: pointer(paths.prev, ...segments),
});

function issue(kind: CompatibilityIssueKind, path: string, message: string): CompatibilityIssue {
  return { kind, path: path === '' ? '/' : path, message };
}

function resolve(side: Side): Side {
  let node = side.node;
  for (let hops = 0; typeof node === 'object' && typeof node.$ref === 'string'; hops++) {
    const ref = node.$ref;
    if (!ref.startsWith('#') || hops > 32) throw new Error(`cannot resolve $ref ${ref}`);
    const found = ref
      .slice(1)
      .split('/')
      .filter((s) => s !== '')
      .map((s) => decodeURIComponent(s).replace(/~1/g, '/').replace(/~0/g, '~'))
      .reduce<unknown>((at, s) => (at as SchemaObject | undefined)?.[s], side.root);
    if (typeof found !== 'object' && typeof found !== 'boolean')
      throw new Error(`cannot resolve $ref ${ref}`);
    node = found as JsonSchema;
  }
  return { node, root: side.root };
}

const asObject = (s: JsonSchema): SchemaObject => (s === true ? {} : s === false ? { not: {} } : s);
const isAnything = (s: SchemaObject): boolean => Object.keys(s).every((k) => ANNOTATIONS.has(k));
const unionKeyword = (s: SchemaObject): 'anyOf' | 'oneOf' | undefined =>
  Array.isArray(s.anyOf) ? 'anyOf' : Array.isArray(s.oneOf) ? 'oneOf' : undefined;

function compare(prevSide: Side, nextSide: Side, paths: Paths, stack: Stack): CompatibilityIssue[] {
  const prev = resolve(prevSide);
  const next = resolve(nextSide);
  // A recursive schema met again on the same pair: assume it holds (coinduction).
  if (stack.some(([p, n]) => p === prev.node && n === next.node)) return [];
  const inner: Stack = [...stack, [prev.node, next.node]];
  const p = asObject(prev.node);
  const n = asObject(next.node);
  if (prev.node === false || isAnything(n)) return [];
  if (next.node === false) return [issue('type-narrowed', paths.next, 'nothing is accepted any more')];

  const prevUnion = unionKeyword(p);
  if (prevUnion) {
    // Every branch a writer could have used must still be readable; sibling keywords only narrow it.
    return (p[prevUnion] as JsonSchema[]).flatMap((branch, i) =>
      compare(
        { node: branch, root: prev.root },
        next,
        { ...paths, prev: pointer(paths.prev, prevUnion, i) },
        inner,
      ),
    );
  }
  const nextUnion = unionKeyword(n);
  if (nextUnion) {
    const types = typesOf(p);
    if (types.length > 1) {
      // e.g. type [string, null] read by anyOf [{string}, {null}]: each type may find its own branch.
      return types.flatMap((type) => compare({ node: { ...p, type }, root: prev.root }, next, paths, inner));
    }
    return compareToUnion(prev, next, n, nextUnion, paths, inner);
  }
  return compareFlat(prev, next, p, n, paths, inner);
}

function compareToUnion(
  prev: Side,
  next: Side,
  n: SchemaObject,
  keyword: 'anyOf' | 'oneOf',
  paths: Paths,
  stack: Stack,
): CompatibilityIssue[] {
  const { anyOf: _a, oneOf: _o, ...siblings } = n;
  const rest = compare(prev, { node: siblings, root: next.root }, paths, stack);
  const attempts = (n[keyword] as JsonSchema[]).map((branch, i) => {
    const at = { ...paths, next: pointer(paths.next, keyword, i) };
    return {
      branch: asObject(resolve({ node: branch, root: next.root }).node),
      issues: compare(prev, { node: branch, root: next.root }, at, stack),
    };
  });
  if (attempts.some((a) => a.issues.length === 0)) return rest;
  // A property pinned to one value (like an event's `type`) pairs the previous branch with its successor.
  const p = asObject(prev.node);
  for (const name of Object.keys((p.properties ?? {}) as object)) {
    const value = discriminatorValue(p, name);
    if (value === undefined) continue;
    const pinned = attempts.map((a) => discriminatorValue(a.branch, name));
    const same = attempts.filter((_, i) => isDeepStrictEqual(pinned[i], value));
    if (same.length === 1) return [...rest, ...same[0]!.issues];
    if (same.length === 0 && pinned.every((v) => v !== undefined)) {
      const shown = `${name} = ${JSON.stringify(value)}`;
      return [...rest, issue('union-branch-removed', paths.prev, `no branch accepts ${shown} any more`)];
    }
  }
  const closest = attempts.reduce((best, a) => (a.issues.length < best.issues.length ? a : best));
  return [...rest, ...closest.issues];
}

function discriminatorValue(s: SchemaObject, name: string): unknown {
  const property = (s.properties as Record<string, JsonSchema> | undefined)?.[name];
  if (typeof property !== 'object') return undefined;
  if (property.const !== undefined) return property.const;
  return Array.isArray(property.enum) && property.enum.length === 1 ? property.enum[0] : undefined;
}

function typeOfValue(value: unknown): TypeName {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value as TypeName;
}

/** The JSON types a schema admits; integer stands apart from number only when declared so. */
function typesOf(s: SchemaObject): TypeName[] {
  if (typeof s.type === 'string') return [s.type as TypeName];
  if (Array.isArray(s.type)) return s.type as TypeName[];
  const values = valuesOf(s);
  if (values) return [...new Set(values.map(typeOfValue))];
  return [...TYPES].filter((t) => t !== 'integer');
}

function valuesOf(s: SchemaObject): unknown[] | undefined {
  if (s.const !== undefined) return [s.const];
  return Array.isArray(s.enum) ? s.enum : undefined;
}

const admits = (types: TypeName[], type: TypeName): boolean =>
  types.includes(type) || (type === 'integer' && types.includes('number'));

function compareFlat(prev: Side, next: Side, p: SchemaObject, n: SchemaObject, paths: Paths, stack: Stack) {
  const issues: CompatibilityIssue[] = [];
  const prevTypes = typesOf(p);
  const nextTypes = typesOf(n);
  // number read as integer still takes the integral values: narrowed, not changed.
  const kept = prevTypes.filter(
    (t) => admits(nextTypes, t) || (t === 'number' && nextTypes.includes('integer')),
  );
  const lost = prevTypes.filter((t) => !admits(nextTypes, t));
  if (kept.length === 0) {
    issues.push(
      issue('type-changed', paths.next, `type ${prevTypes.join('|')} became ${nextTypes.join('|')}`),
    );
    return issues;
  }
  if (lost.length > 0)
    issues.push(issue('type-narrowed', paths.next, `type ${lost.join('|')} is no longer accepted`));

  issues.push(...compareValues(p, n, paths.next));
  issues.push(...compareUnsupported(p, n, paths.next));
  const has = (t: TypeName) => kept.includes(t);
  if (has('string')) issues.push(...compareStrings(p, n, paths.next));
  if (has('number') || has('integer')) issues.push(...compareNumbers(p, n, paths.next));
  if (has('object')) issues.push(...compareObjects(prev, next, p, n, paths, stack));
  if (has('array')) issues.push(...compareArrays(prev, next, p, n, paths, stack));
  return issues;
}

function compareValues(p: SchemaObject, n: SchemaObject, path: string): CompatibilityIssue[] {
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

function compareStrings(p: SchemaObject, n: SchemaObject, path: string): CompatibilityIssue[] {
  const issues: CompatibilityIssue[] = [];
  if ((num(n.minLength) ?? 0) > (num(p.minLength) ?? 0)) issues.push(tightened(path, 'minLength', p, n));
  if (num(n.maxLength) !== undefined && !(num(p.maxLength)! <= num(n.maxLength)!)) {
    issues.push(tightened(path, 'maxLength', p, n));
  }
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
  if (i === undefined && e === undefined) return undefined;
  if (i === undefined) return { value: e!, exclusive: true };
  if (e === undefined) return { value: i, exclusive: false };
  const value = pick(i, e);
  return { value, exclusive: value === e };
}

/** Is `n` tighter than `p` on the side where `beyond(a, b)` means a is further in? */
function tighter(p: Bound | undefined, n: Bound | undefined, beyond: (a: number, b: number) => boolean) {
  if (n === undefined) return false;
  if (p === undefined) return true;
  return beyond(n.value, p.value) || (n.value === p.value && n.exclusive && !p.exclusive);
}

function compareNumbers(p: SchemaObject, n: SchemaObject, path: string): CompatibilityIssue[] {
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

const additional = (s: SchemaObject): JsonSchema =>
  s.additionalProperties === undefined ? true : (s.additionalProperties as JsonSchema);

function compareObjects(
  prev: Side,
  next: Side,
  p: SchemaObject,
  n: SchemaObject,
  paths: Paths,
  stack: Stack,
) {
  const issues: CompatibilityIssue[] = [];
  const prevProps = (p.properties ?? {}) as Record<string, JsonSchema>;
  const nextProps = (n.properties ?? {}) as Record<string, JsonSchema>;
  const prevRequired = new Set((p.required ?? []) as string[]);
  for (const name of (n.required ?? []) as string[]) {
    if (!prevRequired.has(name)) {
      issues.push(
        issue('property-newly-required', pointer(paths.next, 'properties', name), `${name} is now required`),
      );
    }
  }
  const prevAdditional = additional(p);
  const nextAdditional = additional(n);
  for (const name of new Set([...Object.keys(prevProps), ...Object.keys(nextProps)])) {
    const at = into(paths, 'properties', name);
    const was = prevProps[name];
    const now = nextProps[name];
    if (was !== undefined && now !== undefined) {
      issues.push(...compare({ node: was, root: prev.root }, { node: now, root: next.root }, at, stack));
    } else if (now !== undefined) {
      // Old writers could have sent `name` as any additional property.
      const found = compare(
        { node: prevAdditional, root: prev.root },
        { node: now, root: next.root },
        at,
        stack,
      );
      if (found.length > 0) {
        const why = `${name} was allowed as an additional property and is now constrained`;
        issues.push(issue('property-added-to-open-content-model', at.next, why));
      }
    } else if (was !== undefined) {
      if (nextAdditional === false) {
        const why = `${name} was allowed and additional properties are closed`;
        issues.push(issue('property-removed-from-closed-content-model', at.next, why));
      } else {
        const additionalAt = { ...at, next: pointer(paths.next, 'additionalProperties') };
        issues.push(
          ...compare(
            { node: was, root: prev.root },
            { node: nextAdditional, root: next.root },
            additionalAt,
            stack,
          ),
        );
      }
    }
  }
  if (nextAdditional === false && prevAdditional !== false) {
    issues.push(
      issue(
        'additional-properties-closed',
        pointer(paths.next, 'additionalProperties'),
        'additional properties are no longer accepted',
      ),
    );
  } else if (prevAdditional !== false) {
    const at = into(paths, 'additionalProperties');
    issues.push(
      ...compare(
        { node: prevAdditional, root: prev.root },
        { node: nextAdditional, root: next.root },
        at,
        stack,
      ),
    );
  }
  if ((num(n.minProperties) ?? 0) > (num(p.minProperties) ?? 0))
    issues.push(tightened(paths.next, 'minProperties', p, n));
  if (num(n.maxProperties) !== undefined && !(num(p.maxProperties)! <= num(n.maxProperties)!)) {
    issues.push(tightened(paths.next, 'maxProperties', p, n));
  }
  return issues;
}

function compareArrays(prev: Side, next: Side, p: SchemaObject, n: SchemaObject, paths: Paths, stack: Stack) {
  const issues: CompatibilityIssue[] = [];
  const [was, now] = [p.items ?? true, n.items ?? true];
  if (Array.isArray(was) || Array.isArray(now)) {
    if (!isDeepStrictEqual(was, now)) {
      issues.push(issue('unsupported-change', pointer(paths.next, 'items'), 'tuple items changed'));
    }
  } else {
    const at = into(paths, 'items');
    issues.push(
      ...compare(
        { node: was as JsonSchema, root: prev.root },
        { node: now as JsonSchema, root: next.root },
        at,
        stack,
      ),
    );
  }
  if ((num(n.minItems) ?? 0) > (num(p.minItems) ?? 0)) issues.push(tightened(paths.next, 'minItems', p, n));
  if (num(n.maxItems) !== undefined && !(num(p.maxItems)! <= num(n.maxItems)!)) {
    issues.push(tightened(paths.next, 'maxItems', p, n));
  }
  if (n.uniqueItems === true && p.uniqueItems !== true)
    issues.push(tightened(paths.next, 'uniqueItems', p, n));
  return issues;
}

/** Keywords this checker does not reason about must stay exactly as they were. */
function compareUnsupported(p: SchemaObject, n: SchemaObject, path: string): CompatibilityIssue[] {
  return Object.keys({ ...p, ...n })
    .filter((k) => !ANNOTATIONS.has(k) && !HANDLED.has(k) && !isDeepStrictEqual(p[k], n[k]))
    .map((k) => issue('unsupported-change', pointer(path, k), `cannot prove a change of ${k} compatible`));
}
