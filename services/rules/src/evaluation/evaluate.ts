// Evaluates the rules of one trigger against one context. Pure and deterministic: the same rules
// and context give the same verdicts, in priority order.
import {
  FAILED,
  MISSING,
  PASSED,
  missingFields,
  passedComparisons,
  type EvaluationContext,
  type TraceEntry,
} from '@cmis/conditions';
import type { CompiledRule } from './rule-index';

export type Verdict =
  | { rule: CompiledRule; outcome: 'matched'; matchedConditions: string[] }
  | { rule: CompiledRule; outcome: 'missing'; missing: string[] };

/** Matched rules and rules that could not decide for a missing field; plain non-matches are dropped. */
export function evaluateRules(rules: readonly CompiledRule[], ctx: EvaluationContext): Verdict[] {
  const verdicts: Verdict[] = [];
  for (const rule of rules) {
    if (rule.filter) {
      const f = rule.filter.test(ctx);
      if (f === FAILED) continue;
      if (f === MISSING) {
        verdicts.push({ rule, outcome: 'missing', missing: explainMissing(rule, ctx) });
        continue;
      }
    }
    const o = rule.conditions.test(ctx);
    if (o === PASSED) {
      const trace: TraceEntry[] = [];
      rule.conditions.explain(ctx, trace);
      verdicts.push({ rule, outcome: 'matched', matchedConditions: passedComparisons(trace) });
    } else if (o === MISSING) {
      verdicts.push({ rule, outcome: 'missing', missing: explainMissing(rule, ctx) });
    }
  }
  return verdicts;
}

/** Counts the rules that match; the benchmark's loop (no allocation on a non-match). */
export function countMatches(rules: readonly CompiledRule[], ctx: EvaluationContext): number {
  let matched = 0;
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i]!;
    if (rule.filter && rule.filter.test(ctx) !== PASSED) continue;
    if (rule.conditions.test(ctx) === PASSED) matched++;
  }
  return matched;
}

function explainMissing(rule: CompiledRule, ctx: EvaluationContext): string[] {
  const trace: TraceEntry[] = [];
  rule.filter?.explain(ctx, trace);
  rule.conditions.explain(ctx, trace);
  return missingFields(trace);
}
