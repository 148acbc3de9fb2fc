// Publishing checks a workflow whole (shape, graph, every condition typed, webhook URLs, time
// zones) and names each fault's place; a published version is compiled once into closures.
import {
  checkCondition,
  compileCondition,
  outcomeName,
  type CompiledCondition,
  type Condition,
  type ConditionBudget,
  type EvaluationContext,
  type FieldTyping,
  type TraceEntry,
} from '@cmis/conditions';
import { checkWebhookUrl, type Allowlist, type FieldError } from '@cmis/platform';
import type { ZodIssue } from 'zod';
import type { CompiledWorkflow, ConditionContext } from '../instances/engine';
import { assertTimeZone } from '@cmis/platform';
import { checkGraph, stepIndex, WorkflowInput, type WorkflowDefinition } from './workflow';

export type CheckResult = { ok: true; definition: WorkflowDefinition } | { ok: false; errors: FieldError[] };

const pathOf = (base: string, issue: ZodIssue) => [base, ...issue.path].join('.');

/** Fields a workflow's conditions read: the event, the contact, and steps that exist. */
function fieldTyping(stepIds: Set<string>) {
  return (field: string): FieldTyping | undefined => {
    const [root, first] = field.split('.');
    if (root === 'event' || root === 'contact') return first ? { type: 'any' } : undefined;
    if (root === 'steps') {
      if (!first) return undefined;
      return stepIds.has(first) ? { type: 'any' } : { error: `steps.${first}: there is no step ${first}` };
    }
    return { error: `${field}: a workflow reads event.*, contact.* and steps.<stepId>.*` };
  };
}

/** Every condition of a definition, by the ref the engine asks for, with where it was written. */
export function conditionsOf(
  w: WorkflowDefinition,
  base = 'body',
): { ref: string; path: string; raw: unknown }[] {
  const out: { ref: string; path: string; raw: unknown }[] = [];
  if (w.entry.filter) out.push({ ref: 'entry', path: `${base}.entry.filter`, raw: w.entry.filter });
  w.goals.forEach(
    (g, i) => g.filter && out.push({ ref: `goal.${i}`, path: `${base}.goals.${i}.filter`, raw: g.filter }),
  );
  w.exits.forEach(
    (g, i) => g.filter && out.push({ ref: `exit.${i}`, path: `${base}.exits.${i}.filter`, raw: g.filter }),
  );
  w.steps.forEach((s, i) => {
    if (s.kind === 'condition')
      out.push({ ref: s.id, path: `${base}.steps.${i}.condition`, raw: s.condition });
    if (s.kind === 'wait_event' && s.filter)
      out.push({ ref: `${s.id}.filter`, path: `${base}.steps.${i}.filter`, raw: s.filter });
    if (s.kind === 'split')
      s.branches.forEach((b, j) =>
        out.push({
          ref: `${s.id}.${b.name}`,
          path: `${base}.steps.${i}.branches.${j}.condition`,
          raw: b.condition,
        }),
      );
  });
  return out;
}

export function checkWorkflow(
  body: unknown,
  options: { allowlist?: Allowlist; base?: string } = {},
): CheckResult {
  const base = options.base ?? 'body';
  const parsed = WorkflowInput.safeParse(body);
  if (!parsed.success)
    return {
      ok: false,
      errors: parsed.error.issues.map((issue) => ({ path: pathOf(base, issue), message: issue.message })),
    };
  const w = parsed.data;
  const errors: FieldError[] = checkGraph(w).map((f) => ({
    path: f.path.replace(/^body/, base),
    message: f.message,
  }));
  const stepIds = new Set(w.steps.map((s) => s.id));
  const budget: ConditionBudget = { nodes: 0, owner: 'a workflow', max: 1_000 };
  for (const c of conditionsOf(w, base)) {
    const checked = checkCondition(c.raw, { fieldType: fieldTyping(stepIds), path: c.path, budget });
    if (!checked.ok) errors.push(...checked.errors);
  }
  const zones = [
    w.timeZone,
    ...w.steps.map((s) => (s.kind === 'delay' ? s.untilTimeOfDay?.timeZone : undefined)),
  ];
  for (const zone of zones) {
    if (zone === undefined) continue;
    try {
      assertTimeZone(zone);
    } catch {
      errors.push({ path: `${base}.timeZone`, message: `unknown time zone ${zone}` });
    }
  }
  w.steps.forEach((s, i) => {
    if (s.kind !== 'webhook') return;
    const verdict = checkWebhookUrl(s.url, options.allowlist ?? []);
    if (!verdict.ok)
      errors.push({ path: `${base}.steps.${i}.url`, message: `step ${s.id}: ${verdict.reason}` });
  });
  return errors.length > 0 ? { ok: false, errors } : { ok: true, definition: w };
}

const toContext = (ctx: ConditionContext): EvaluationContext => ctx as EvaluationContext;

/** A checked definition compiled: conditions into closures, steps by id. */
export function compileWorkflow(
  workflowId: string,
  version: number,
  definition: WorkflowDefinition,
): CompiledWorkflow {
  const compiled = new Map<string, CompiledCondition>();
  for (const c of conditionsOf(definition)) compiled.set(c.ref, compileCondition(c.raw as Condition, c.ref));
  return {
    workflowId,
    version,
    definition,
    steps: stepIndex(definition),
    test(ref, ctx) {
      const condition = compiled.get(ref);
      if (!condition) return { outcome: 'failed', trace: [{ reason: `no condition ${ref}` }] };
      const trace: TraceEntry[] = [];
      return { outcome: outcomeName(condition.explain(toContext(ctx), trace)), trace };
    },
  };
}
