// The condition language (rules' conditions and filters, workflows' branches): nested all/any/not
// groups over comparisons of one field. Pure types; checkCondition (check.ts) builds these from
// untrusted JSON.

export const OPERATORS = [
  'equals',
  'not_equals',
  '>',
  '>=',
  '<',
  '<=',
  'between',
  'in',
  'not_in',
  'contains',
  'starts_with',
  'ends_with',
  'exists',
  'not_exists',
  'changed_by_more_than_percent',
  'matches',
] as const;
export type Operator = (typeof OPERATORS)[number];

export type Scalar = string | number | boolean | null;

export type Comparison =
  | { id?: string; field: string; operator: 'equals' | 'not_equals'; value: Scalar }
  | { id?: string; field: string; operator: '>' | '>=' | '<' | '<='; value: number }
  | { id?: string; field: string; operator: 'between'; value: [number, number] }
  | { id?: string; field: string; operator: 'in' | 'not_in'; value: Scalar[] }
  | { id?: string; field: string; operator: 'contains'; value: Scalar }
  | { id?: string; field: string; operator: 'starts_with' | 'ends_with' | 'matches'; value: string }
  | { id?: string; field: string; operator: 'exists' | 'not_exists' }
  | { id?: string; field: string; operator: 'changed_by_more_than_percent'; value: number };

export type Condition = { all: Condition[] } | { any: Condition[] } | { not: Condition } | Comparison;

/**
 * What a condition reads, gathered per evaluation: the event, the contact, the entity and its
 * metrics, and a workflow's earlier steps. Each field's root names one of these (fields.ts).
 */
export interface EvaluationContext {
  event?: Record<string, unknown>;
  contact?: Record<string, unknown>;
  entity?: { type: string; id: string };
  metrics?: Record<string, number>;
  /** The entity's metrics before this observation: the base of changed_by_more_than_percent. */
  previousMetrics?: Record<string, number>;
  /** What earlier steps of a workflow recorded, by step id: `steps.<stepId>.<field>`. */
  steps?: Record<string, unknown>;
}

/** Outcome of a condition: it held, it did not, or it read a field the input lacks. */
export const FAILED = 0;
export const PASSED = 1;
export const MISSING = 2;
export type Outcome = typeof FAILED | typeof PASSED | typeof MISSING;

/** One line of an explanation: which condition passed, failed or lacked its field, and why. */
export interface TraceEntry {
  path: string;
  id?: string;
  kind: 'all' | 'any' | 'not' | 'comparison';
  field?: string;
  operator?: Operator;
  expected?: unknown;
  actual?: unknown;
  outcome: 'passed' | 'failed' | 'missing';
  reason?: string;
}

export const outcomeName = (o: Outcome): TraceEntry['outcome'] =>
  o === PASSED ? 'passed' : o === FAILED ? 'failed' : 'missing';
