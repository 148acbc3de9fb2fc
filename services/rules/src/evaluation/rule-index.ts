// Rules compiled once per version and indexed by trigger, ordered by priority. Pure.
import { compileCondition, type CompiledCondition, type TraceEntry } from '@cmis/conditions';
import { priorityRank, triggerKey, type RuleDefinition, type StoredRule } from '../definitions/rule';

export interface CompiledRule {
  ruleId: string;
  version: number;
  definition: RuleDefinition;
  triggerKey: string;
  filter?: CompiledCondition;
  conditions: CompiledCondition;
}

export interface RuleIndex {
  /** Enabled rules of one trigger, highest priority first (then oldest, then by id: deterministic). */
  rulesFor(key: string): readonly CompiledRule[];
  readonly size: number;
}

export function compileRule(stored: Pick<StoredRule, 'ruleId' | 'version' | 'definition'>): CompiledRule {
  const { definition } = stored;
  const compiled: CompiledRule = {
    ruleId: stored.ruleId,
    version: stored.version,
    definition,
    triggerKey: triggerKey(definition),
    conditions: compileCondition(definition.conditions, 'conditions'),
  };
  if (definition.trigger.kind === 'event' && definition.trigger.filter) {
    compiled.filter = compileCondition(definition.trigger.filter, 'trigger.filter');
  }
  return compiled;
}

/** Compiled rules by `<org>:<rule>:<version>`: a reload after one rule changed recompiles only that one. */
export function createCompiledRules(maxEntries = 50_000) {
  const memo = new Map<string, CompiledRule>();
  return (orgId: string, stored: StoredRule): CompiledRule => {
    const key = `${orgId}:${stored.ruleId}:${stored.version}`;
    let compiled = memo.get(key);
    if (!compiled) {
      compiled = compileRule(stored);
      memo.set(key, compiled);
      if (memo.size > maxEntries) memo.delete(memo.keys().next().value!);
    }
    return compiled;
  };
}

export function buildIndex(rules: Array<{ compiled: CompiledRule; createdAt: string }>): RuleIndex {
  const byTrigger = new Map<string, CompiledRule[]>();
  const sorted = rules
    .filter((r) => r.compiled.definition.enabled)
    .sort(
      (a, b) =>
        priorityRank(b.compiled.definition.priority) - priorityRank(a.compiled.definition.priority) ||
        a.createdAt.localeCompare(b.createdAt) ||
        a.compiled.ruleId.localeCompare(b.compiled.ruleId),
    );
  for (const { compiled } of sorted) {
    const list = byTrigger.get(compiled.triggerKey) ?? [];
    list.push(compiled);
    byTrigger.set(compiled.triggerKey, list);
  }
  return { rulesFor: (key) => byTrigger.get(key) ?? [], size: sorted.length };
}

export type { TraceEntry };
