import { isDeepStrictEqual } from 'node:util';
import {
  admits,
  ANNOTATIONS,
  compareLimits,
  compareNumbers,
  compareStrings,
  compareUniqueItems,
  compareUnsupported,
  compareValues,
  issue,
  pointer,
  typesOf,
  type SchemaObject,
  type TypeName,
} from './compatibility-constraints';
import type { JsonSchema } from './json-schema';

/**
 * Offline BACKWARD compatibility of JSON Schemas, in the sense the schema registry uses:
 * a consumer on the `next` schema can read every message written with the `previous` one,
 * i.e. every instance `previous` accepts, `next` accepts too. Conservative: a change it cannot
 * prove safe (allOf, not, if/then, tuples, ...) is reported as `unsupported-change`; oneOf is
 * read as anyOf (a value matching two branches is not caught).
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

type Side = { node: JsonSchema; root: JsonSchema };
/** Where we are in the next schema, and in the previous one (for removed union branches). */
type Paths = { next: string; prev: string };
type Stack = ReadonlyArray<readonly [JsonSchema, JsonSchema]>;

export function checkBackwardCompatibility(previous: JsonSchema, next: JsonSchema): CompatibilityIssue[] {
  return compare({ node: previous, root: previous }, { node: next, root: next }, { next: '', prev: '' }, []);
}

export function isBackwardCompatible(previous: JsonSchema, next: JsonSchema): boolean {
  return checkBackwardCompatibility(previous, next).length === 0;
}

const into = (paths: Paths, ...segments: Array<string | number>): Paths => ({
  next: pointer(paths.next, ...segments),
  prev: pointer(paths.prev, ...segments),
});

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
  issues.push(...compareLimits(p, n, paths.next, 'minProperties', 'maxProperties'));
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
  issues.push(...compareLimits(p, n, paths.next, 'minItems', 'maxItems'));
  issues.push(...compareUniqueItems(p, n, paths.next));
  return issues;
}
