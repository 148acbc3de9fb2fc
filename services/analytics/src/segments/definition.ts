// A segment definition: a tree of and/or/not over leaves (traits in the rules' condition
// language, events performed or not within a window, RFM segment, email engagement, a static
// list). Pure: checking untrusted JSON (each fault named by its path), evaluating one contact's
// facts, and when a windowed leaf's truth would next change by time alone.
import {
  PASSED,
  checkCondition,
  compileCondition,
  type Condition,
  type ConditionBudget,
  type FieldTyping,
} from '@cmis/conditions';
import { RFM_SEGMENTS } from '@cmis/contracts';
import type { FieldError } from '@cmis/platform';

export const DAY_MS = 86_400_000;
export const MAX_WINDOW_DAYS = 365;
const MAX_NODES = 200;
const MAX_DEPTH = 10;

export type Leaf =
  | { kind: 'trait'; condition: Condition }
  | { kind: 'performed'; event: string; atLeast: number; withinDays: number }
  | { kind: 'not_performed'; event: string; withinDays: number }
  | { kind: 'rfm'; segment: (typeof RFM_SEGMENTS)[number] }
  | { kind: 'engagement'; action: 'opened' | 'clicked'; atLeast: number; withinDays: number }
  | { kind: 'list'; listId: string };
export type SegmentNode = { and: SegmentNode[] } | { or: SegmentNode[] } | { not: SegmentNode } | Leaf;

export interface SegmentInput {
  name: string;
  definition: SegmentNode;
}

/** Where a counted event came from: a track call, or a human open/click of an email. */
export type EventSource = 'track' | 'email';
export interface CountedEvent {
  source: EventSource;
  event: string;
  at: number;
}

/** What one contact's evaluation reads. */
export interface ContactFacts {
  traits: Record<string, unknown>;
  /** Counted events within the longest window in use, newest first. */
  events: CountedEvent[];
  rfmSegment?: string;
  lists: Set<string>;
}

export type CheckResult = { ok: true; segment: SegmentInput } | { ok: false; errors: FieldError[] };

const traitTyping = (field: string): FieldTyping | undefined => {
  const [root, first] = field.split('.');
  if (root === 'contact' && first) return { type: 'any' };
  return { error: `${field}: a segment's trait condition reads contact.<trait>` };
};

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isText = (v: unknown, max = 200): v is string =>
  typeof v === 'string' && v.length > 0 && v.length <= max;
const isDays = (v: unknown): v is number =>
  typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= MAX_WINDOW_DAYS;

/** Checks an untrusted segment body; every fault is named with its path (`body.definition.and.1.withinDays`). */
export function checkSegment(body: unknown, base = 'body'): CheckResult {
  const errors: FieldError[] = [];
  const fail = (path: string, message: string) => {
    errors.push({ path, message });
    return undefined;
  };
  if (!isObject(body)) return { ok: false, errors: [{ path: base, message: 'must be an object' }] };
  if (!isText(body.name)) fail(`${base}.name`, 'must be a name of 1 to 200 characters');
  for (const key of Object.keys(body))
    if (key !== 'name' && key !== 'definition') fail(`${base}.${key}`, 'is not a field of a segment');
  const budget: ConditionBudget = { nodes: 0, owner: 'a segment', max: MAX_NODES };
  let nodes = 0;

  const parse = (raw: unknown, path: string, depth: number): SegmentNode | undefined => {
    if (++nodes > MAX_NODES) return fail(path, `a segment has at most ${MAX_NODES} nodes`);
    if (depth > MAX_DEPTH) return fail(path, `nested deeper than ${MAX_DEPTH}`);
    if (!isObject(raw)) return fail(path, 'must be an object: and, or, not, or a leaf with a kind');
    for (const group of ['and', 'or'] as const) {
      if (!(group in raw)) continue;
      const items = raw[group];
      if (!Array.isArray(items) || items.length === 0)
        return fail(`${path}.${group}`, 'must be a non-empty list');
      const parsed = items.map((item, i) => parse(item, `${path}.${group}.${i}`, depth + 1));
      return parsed.every(Boolean) ? ({ [group]: parsed } as SegmentNode) : undefined;
    }
    if ('not' in raw) {
      const inner = parse(raw.not, `${path}.not`, depth + 1);
      return inner ? { not: inner } : undefined;
    }
    const extra = (allowed: string[]) => {
      const bad = Object.keys(raw).filter((k) => k !== 'kind' && !allowed.includes(k));
      bad.forEach((k) => fail(`${path}.${k}`, `is not a field of a ${String(raw.kind)} leaf`));
      return bad.length > 0;
    };
    const days = () =>
      isDays(raw.withinDays) ||
      !fail(`${path}.withinDays`, `must be a whole number of days, 1 to ${MAX_WINDOW_DAYS}`);
    const atLeast = () =>
      raw.atLeast === undefined ||
      (typeof raw.atLeast === 'number' &&
        Number.isInteger(raw.atLeast) &&
        raw.atLeast >= 1 &&
        raw.atLeast <= 1_000) ||
      !fail(`${path}.atLeast`, 'must be a whole number, 1 to 1000');
    const eventName = () =>
      isText(raw.event) || !fail(`${path}.event`, 'must be an event name of 1 to 200 characters');
    switch (raw.kind) {
      case 'trait': {
        if (extra(['condition'])) return undefined;
        const checked = checkCondition(raw.condition, {
          fieldType: traitTyping,
          path: `${path}.condition`,
          budget,
        });
        if (!checked.ok) {
          errors.push(...checked.errors);
          return undefined;
        }
        return { kind: 'trait', condition: checked.condition };
      }
      case 'performed': {
        const ok = [!extra(['event', 'atLeast', 'withinDays']), eventName(), atLeast(), days()].every(
          Boolean,
        );
        return ok
          ? {
              kind: 'performed',
              event: raw.event as string,
              atLeast: (raw.atLeast as number | undefined) ?? 1,
              withinDays: raw.withinDays as number,
            }
          : undefined;
      }
      case 'not_performed': {
        const ok = [!extra(['event', 'withinDays']), eventName(), days()].every(Boolean);
        return ok
          ? { kind: 'not_performed', event: raw.event as string, withinDays: raw.withinDays as number }
          : undefined;
      }
      case 'rfm': {
        if (extra(['segment'])) return undefined;
        if (!RFM_SEGMENTS.includes(raw.segment as never))
          return fail(`${path}.segment`, `must be one of ${RFM_SEGMENTS.join(', ')}`);
        return {
          kind: 'rfm',
          segment: raw.segment as (typeof RFM_SEGMENTS)[number],
        };
      }
      case 'engagement': {
        const action =
          raw.action === 'opened' ||
          raw.action === 'clicked' ||
          !fail(`${path}.action`, 'must be opened or clicked');
        const ok = [!extra(['action', 'atLeast', 'withinDays']), action, atLeast(), days()].every(Boolean);
        return ok
          ? {
              kind: 'engagement',
              action: raw.action as 'opened' | 'clicked',
              atLeast: (raw.atLeast as number | undefined) ?? 1,
              withinDays: raw.withinDays as number,
            }
          : undefined;
      }
      case 'list': {
        if (extra(['listId'])) return undefined;
        if (!isText(raw.listId)) return fail(`${path}.listId`, 'must be a list id of 1 to 200 characters');
        return { kind: 'list', listId: raw.listId };
      }
      default:
        return fail(
          `${path}.kind`,
          'must be and, or, not, or a leaf of kind trait, performed, not_performed, rfm, engagement, list',
        );
    }
  };

  const definition =
    'definition' in body
      ? parse(body.definition, `${base}.definition`, 1)
      : fail(`${base}.definition`, 'is required');
  if (errors.length > 0 || !definition) return { ok: false, errors };
  return { ok: true, segment: { name: body.name as string, definition } };
}

/** A definition ready to evaluate: trait conditions compiled once. */
export interface CompiledSegment {
  segmentId: string;
  version: number;
  name: string;
  definition: SegmentNode;
  /** Longest window of its leaves (days), 0 when none. */
  windowDays: number;
  matches(facts: ContactFacts, now: number): boolean;
  /** When a windowed leaf's truth would change with time alone, or undefined. */
  nextChangeAt(facts: ContactFacts, now: number): number | undefined;
}

const isLeaf = (n: SegmentNode): n is Leaf => 'kind' in n;

function leavesOf(node: SegmentNode, out: Leaf[] = []): Leaf[] {
  if (isLeaf(node)) out.push(node);
  else if ('and' in node) node.and.forEach((n) => leavesOf(n, out));
  else if ('or' in node) node.or.forEach((n) => leavesOf(n, out));
  else leavesOf(node.not, out);
  return out;
}

type Windowed = { source: EventSource; event: string; atLeast: number; withinDays: number };
const windowedOf = (leaf: Leaf): Windowed | undefined =>
  leaf.kind === 'performed'
    ? { source: 'track', event: leaf.event, atLeast: leaf.atLeast, withinDays: leaf.withinDays }
    : leaf.kind === 'not_performed'
      ? { source: 'track', event: leaf.event, atLeast: 1, withinDays: leaf.withinDays }
      : leaf.kind === 'engagement'
        ? { source: 'email', event: leaf.action, atLeast: leaf.atLeast, withinDays: leaf.withinDays }
        : undefined;

/** The times of a windowed leaf's events within its window, newest first. */
const timesIn = (w: Windowed, facts: ContactFacts, now: number) => {
  const from = now - w.withinDays * DAY_MS;
  return facts.events
    .filter((e) => e.source === w.source && e.event === w.event && e.at > from)
    .map((e) => e.at);
};

export function compileSegment(segmentId: string, version: number, input: SegmentInput): CompiledSegment {
  const traits = new Map<Leaf, ReturnType<typeof compileCondition>>();
  const leaves = leavesOf(input.definition);
  leaves.forEach((l, i) => l.kind === 'trait' && traits.set(l, compileCondition(l.condition, `leaf.${i}`)));
  const windowed = leaves.map(windowedOf).filter((w): w is Windowed => w !== undefined);

  const test = (node: SegmentNode, facts: ContactFacts, now: number): boolean => {
    if ('and' in node) return node.and.every((n) => test(n, facts, now));
    if ('or' in node) return node.or.some((n) => test(n, facts, now));
    if ('not' in node) return !test(node.not, facts, now);
    switch (node.kind) {
      case 'trait':
        return traits.get(node)!.test({ contact: facts.traits }) === PASSED;
      case 'performed':
      case 'engagement':
        return timesIn(windowedOf(node)!, facts, now).length >= node.atLeast;
      case 'not_performed':
        return timesIn(windowedOf(node)!, facts, now).length === 0;
      case 'rfm':
        return facts.rfmSegment === node.segment;
      case 'list':
        return facts.lists.has(node.listId);
      default: {
        const never: never = node;
        throw new Error(`unknown leaf ${JSON.stringify(never)}`);
      }
    }
  };

  return {
    segmentId,
    version,
    name: input.name,
    definition: input.definition,
    windowDays: Math.max(0, ...windowed.map((w) => w.withinDays)),
    matches: (facts, now) => test(input.definition, facts, now),
    nextChangeAt(facts, now) {
      let next: number | undefined;
      for (const w of windowed) {
        // True while the atLeast-th newest event is in the window; it flips when that one leaves.
        const times = timesIn(w, facts, now);
        if (times.length < w.atLeast) continue;
        const at = times[w.atLeast - 1]! + w.withinDays * DAY_MS;
        if (next === undefined || at < next) next = at;
      }
      return next;
    },
  };
}
