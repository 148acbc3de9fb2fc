// Compiles a checked condition tree once into closures: no interpretation of the tree per event.
// Pure and deterministic: the outcome depends only on the condition and the context.
import { RE2 } from 're2-wasm';
import {
  FAILED,
  MISSING,
  outcomeName,
  PASSED,
  type Comparison,
  type Condition,
  type EvaluationContext,
  type Outcome,
  type Scalar,
  type TraceEntry,
} from './conditions';
import type { FieldRoot } from './fields';

/** Strings longer than this are not matched against a pattern (RE2 is linear; this bounds the work). */
export const MAX_MATCH_INPUT = 64 * 1024;

export interface CompiledCondition {
  /** The fast path: passed, failed, or missing a field. */
  test(ctx: EvaluationContext): Outcome;
  /** The same decision, explained condition by condition into `trace`. */
  explain(ctx: EvaluationContext, trace: TraceEntry[]): Outcome;
}

/** Reads one field from a context. */
export type FieldGetter = (ctx: EvaluationContext) => unknown;

// Every root of fields.ts reads its part of the context; a field of any other root reads nothing.
const ROOTS: Record<FieldRoot, FieldGetter> = {
  event: (ctx) => ctx.event,
  contact: (ctx) => ctx.contact,
  metrics: (ctx) => ctx.metrics,
  entity: (ctx) => ctx.entity,
  steps: (ctx) => ctx.steps,
};
const NOTHING: FieldGetter = () => undefined;

/** Reads a dotted field: the root names the part of the context, the rest walks objects. */
export function compileGetter(field: string): FieldGetter {
  const [root, ...path] = field.split('.');
  const rootOf: FieldGetter = Object.prototype.hasOwnProperty.call(ROOTS, root!)
    ? ROOTS[root as FieldRoot]
    : NOTHING;
  if (path.length === 1) {
    const key = path[0]!;
    return (ctx) => {
      const base = rootOf(ctx) as Record<string, unknown> | undefined;
      return base != null && Object.prototype.hasOwnProperty.call(base, key) ? base[key] : undefined;
    };
  }
  return (ctx) => {
    let value: unknown = rootOf(ctx);
    for (const key of path) {
      if (value === null || typeof value !== 'object' || !Object.prototype.hasOwnProperty.call(value, key)) {
        return undefined;
      }
      value = (value as Record<string, unknown>)[key];
    }
    return value;
  };
}

type Predicate = (actual: unknown, ctx: EvaluationContext) => boolean;

function predicateOf(c: Comparison): Predicate {
  switch (c.operator) {
    case 'equals': {
      const v = c.value;
      return (a) => a === v;
    }
    case 'not_equals': {
      const v = c.value;
      return (a) => a !== v;
    }
    case '>': {
      const v = c.value;
      return (a) => typeof a === 'number' && a > v;
    }
    case '>=': {
      const v = c.value;
      return (a) => typeof a === 'number' && a >= v;
    }
    case '<': {
      const v = c.value;
      return (a) => typeof a === 'number' && a < v;
    }
    case '<=': {
      const v = c.value;
      return (a) => typeof a === 'number' && a <= v;
    }
    case 'between': {
      const [lo, hi] = c.value;
      return (a) => typeof a === 'number' && a >= lo && a <= hi;
    }
    case 'in': {
      const set = new Set<unknown>(c.value);
      return (a) => set.has(a);
    }
    case 'not_in': {
      const set = new Set<unknown>(c.value);
      return (a) => !set.has(a);
    }
    case 'contains': {
      const v: Scalar = c.value;
      return (a) =>
        typeof a === 'string' ? typeof v === 'string' && a.includes(v) : Array.isArray(a) && a.includes(v);
    }
    case 'starts_with': {
      const v = c.value;
      return (a) => typeof a === 'string' && a.startsWith(v);
    }
    case 'ends_with': {
      const v = c.value;
      return (a) => typeof a === 'string' && a.endsWith(v);
    }
    case 'matches': {
      const re = compilePattern(c.value);
      return (a) => typeof a === 'string' && a.length <= MAX_MATCH_INPUT && re.test(a);
    }
    case 'exists':
      return (a) => a !== null;
    case 'not_exists':
      return (a) => a === null;
    case 'changed_by_more_than_percent': {
      const percent = c.value;
      const previousOf = previousGetter(c.field);
      return (a, ctx) => {
        const before = previousOf(ctx);
        if (typeof a !== 'number' || typeof before !== 'number') return false;
        if (before === 0) return a !== 0;
        return (Math.abs(a - before) / Math.abs(before)) * 100 > percent;
      };
    }
    default:
      return unreachable(c);
  }
}

/** A linear-time (RE2) pattern; throws SyntaxError for what RE2 cannot compile. */
export function compilePattern(pattern: string): { test(input: string): boolean } {
  return new RE2(pattern, 'u');
}

function previousGetter(field: string): FieldGetter {
  const name = field.split('.')[1]!;
  return (ctx) => ctx.previousMetrics?.[name];
}

const readsPresence = (c: Comparison) => c.operator === 'exists' || c.operator === 'not_exists';

function compileComparison(c: Comparison, path: string): CompiledCondition {
  const get = compileGetter(c.field);
  const holds = predicateOf(c);
  const presence = readsPresence(c);
  const test = (ctx: EvaluationContext): Outcome => {
    const actual = get(ctx);
    if (actual === undefined) return presence ? (c.operator === 'not_exists' ? PASSED : FAILED) : MISSING;
    return holds(actual, ctx) ? PASSED : FAILED;
  };
  return {
    test,
    explain(ctx, trace) {
      const outcome = test(ctx);
      const actual = get(ctx);
      const entry: TraceEntry = {
        path,
        kind: 'comparison',
        field: c.field,
        operator: c.operator,
        actual,
        outcome: outcomeName(outcome),
      };
      if (c.id !== undefined) entry.id = c.id;
      if ('value' in c) entry.expected = c.value;
      if (outcome === MISSING) entry.reason = `${c.field} is missing`;
      else if (c.operator === 'changed_by_more_than_percent') {
        const before = previousGetter(c.field)(ctx);
        entry.reason =
          typeof before === 'number' ? `previous value ${before}` : 'no previous value to compare with';
      }
      trace.push(entry);
      return outcome;
    },
  };
}

// all: FAILED wins over MISSING (one false condition decides); any: PASSED wins over MISSING.
function compileGroup(kind: 'all' | 'any', children: CompiledCondition[], path: string): CompiledCondition {
  const decisive = kind === 'all' ? FAILED : PASSED;
  const otherwise = kind === 'all' ? PASSED : FAILED;
  const test = (ctx: EvaluationContext): Outcome => {
    let missing = false;
    for (let i = 0; i < children.length; i++) {
      const o = children[i]!.test(ctx);
      if (o === decisive) return decisive;
      if (o === MISSING) missing = true;
    }
    return missing ? MISSING : otherwise;
  };
  return {
    test,
    explain(ctx, trace) {
      const entry: TraceEntry = { path, kind, outcome: 'passed' };
      trace.push(entry);
      // Every child is explained, not only up to the decisive one: the marketer sees the whole rule.
      let missing = false;
      let decided = false;
      for (const child of children) {
        const o = child.explain(ctx, trace);
        if (o === decisive) decided = true;
        if (o === MISSING) missing = true;
      }
      const outcome = decided ? decisive : missing ? MISSING : otherwise;
      entry.outcome = outcomeName(outcome);
      return outcome;
    },
  };
}

function compileNot(child: CompiledCondition, path: string): CompiledCondition {
  const invert = (o: Outcome): Outcome => (o === MISSING ? MISSING : o === PASSED ? FAILED : PASSED);
  return {
    test: (ctx) => invert(child.test(ctx)),
    explain(ctx, trace) {
      const entry: TraceEntry = { path, kind: 'not', outcome: 'passed' };
      trace.push(entry);
      const outcome = invert(child.explain(ctx, trace));
      entry.outcome = outcomeName(outcome);
      return outcome;
    },
  };
}

/** Compiles a condition whose paths in explanations start at `path` (e.g. `conditions`). */
export function compileCondition(condition: Condition, path = 'conditions'): CompiledCondition {
  if ('all' in condition) {
    return compileGroup(
      'all',
      condition.all.map((c, i) => compileCondition(c, `${path}.all.${i}`)),
      path,
    );
  }
  if ('any' in condition) {
    return compileGroup(
      'any',
      condition.any.map((c, i) => compileCondition(c, `${path}.any.${i}`)),
      path,
    );
  }
  if ('not' in condition) return compileNot(compileCondition(condition.not, `${path}.not`), path);
  return compileComparison(condition, path);
}

/** Ids (or paths) of the comparisons that passed, from an explanation. */
export function passedComparisons(trace: TraceEntry[]): string[] {
  return trace.filter((t) => t.kind === 'comparison' && t.outcome === 'passed').map((t) => t.id ?? t.path);
}

/** Fields an explanation found missing. */
export function missingFields(trace: TraceEntry[]): string[] {
  return [
    ...new Set(trace.filter((t) => t.kind === 'comparison' && t.outcome === 'missing').map((t) => t.field!)),
  ];
}

function unreachable(value: never): never {
  throw new Error(`unhandled comparison ${JSON.stringify(value)}`);
}
