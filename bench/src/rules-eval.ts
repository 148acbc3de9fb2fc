import { resolve } from 'node:path';
import { Engine, type NestedCondition, type RuleProperties } from 'json-rules-engine';
import { secondsSince, type Benchmark } from './bench';

const RULES = 1_000;
const EVENTS = 100_000;
/** json-rules-engine runs over this prefix of the same stream (rates are compared). */
const REFERENCE_EVENTS = 2_000;
const EVENT_NAMES = 20;

// The rules service is loaded from its build, as the bench loads services (see ingest.ts).
type Ctx = Record<string, unknown>;
interface RulesModule {
  checkRule(input: unknown): { ok: true; definition: unknown } | { ok: false; errors: unknown[] };
  compileRule(stored: { ruleId: string; version: number; definition: unknown }): unknown;
  buildIndex(rules: Array<{ compiled: unknown; createdAt: string }>): {
    rulesFor(key: string): readonly unknown[];
  };
  countMatches(rules: readonly unknown[], ctx: Ctx): number;
}
const rulesModule = (): RulesModule =>
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require(resolve(__dirname, '../../services/rules/dist/index.js')) as RulesModule;

/** A seeded generator: the same rules and events on every run. */
function prng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Leaf = { field: string; operator: string; value?: unknown };
type Cond = { all: Cond[] } | { any: Cond[] } | Leaf;

function makeRules(random: () => number) {
  const plans = ['free', 'pro', 'team', 'enterprise'];
  return Array.from({ length: RULES }, (_, i) => {
    if (i % 2 === 0) {
      const conditions: Cond = {
        all: [
          { field: 'metrics.cpa', operator: '>', value: Math.round(random() * 100) },
          {
            any: [
              {
                field: 'metrics.spend',
                operator: 'between',
                value: [Math.round(random() * 500), 500 + Math.round(random() * 1000)],
              },
              { field: 'metrics.ctr', operator: '<', value: Math.round(random() * 50) / 1000 },
            ],
          },
        ],
      };
      return {
        name: `metrics-${i}`,
        entityType: 'campaign',
        trigger: { kind: 'metrics' },
        conditions,
        actions: [{ kind: 'pause_campaign' }],
      };
    }
    const conditions: Cond = {
      all: [
        { field: 'event.properties.total', operator: '>=', value: Math.round(random() * 200) },
        { field: 'contact.plan', operator: 'in', value: plans.filter(() => random() < 0.5).concat('pro') },
      ],
    };
    return {
      name: `event-${i}`,
      entityType: 'contact',
      trigger: {
        kind: 'event',
        eventType: 'cmis.triggers.action-tracked',
        filter: { field: 'event.event', operator: 'equals', value: `Event ${i % EVENT_NAMES}` },
      },
      conditions,
      actions: [{ kind: 'tag_contact', tags: ['t'] }],
    };
  });
}

function makeEvents(random: () => number): Array<{ key: string; ctx: Ctx }> {
  const plans = ['free', 'pro', 'team', 'enterprise'];
  return Array.from({ length: EVENTS }, (_, i) =>
    i % 2 === 0
      ? {
          key: 'metrics:campaign',
          ctx: {
            entity: { type: 'campaign', id: `cmp-${i % 500}` },
            metrics: { cpa: random() * 120, spend: random() * 2000, ctr: random() * 0.06 },
          },
        }
      : {
          key: 'event:cmis.triggers.action-tracked',
          ctx: {
            event: {
              event: `Event ${Math.floor(random() * EVENT_NAMES)}`,
              properties: { total: random() * 250 },
            },
            contact: { plan: plans[Math.floor(random() * plans.length)] },
          },
        },
  );
}

// The same conditions in json-rules-engine's terms, over flattened facts ("metrics.cpa"): no
// JSONPath per condition, which is its fastest set-up.
function toJre(c: Cond): NestedCondition {
  if ('all' in c) return { all: c.all.map(toJre) };
  if ('any' in c) return { any: c.any.map(toJre) };
  const fact = c.field;
  switch (c.operator) {
    case '>':
      return { fact, operator: 'greaterThan', value: c.value };
    case '>=':
      return { fact, operator: 'greaterThanInclusive', value: c.value };
    case '<':
      return { fact, operator: 'lessThan', value: c.value };
    case 'equals':
      return { fact, operator: 'equal', value: c.value };
    case 'in':
      return { fact, operator: 'in', value: c.value };
    case 'between': {
      const [lo, hi] = c.value as [number, number];
      return {
        all: [
          { fact, operator: 'greaterThanInclusive', value: lo },
          { fact, operator: 'lessThanInclusive', value: hi },
        ],
      };
    }
    default:
      throw new Error(`no json-rules-engine translation for ${c.operator}`);
  }
}

function flatten(ctx: Ctx, prefix = '', out: Record<string, unknown> = {}): Record<string, unknown> {
  for (const [k, v] of Object.entries(ctx)) {
    const name = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) flatten(v as Ctx, name, out);
    else out[name] = v;
  }
  return out;
}

/**
 * Rule evaluations per second of the rules service's compiled rules (indexed by trigger) over a
 * stream of metrics snapshots and user actions, beside json-rules-engine on the same rules and
 * events (one engine per trigger type, built once).
 */
export const rulesEvalBench: Benchmark = {
  name: 'rules-eval',
  description: `${RULES} rules over ${EVENTS} events: compiled rules vs json-rules-engine (over the first ${REFERENCE_EVENTS})`,
  async run() {
    const random = prng(42);
    const inputs = makeRules(random);
    const events = makeEvents(random);
    const rules = rulesModule();

    const compiled = inputs.map((input, i) => {
      const checked = rules.checkRule(input);
      if (!checked.ok)
        throw new Error(`bench rule ${i} does not type-check: ${JSON.stringify(checked.errors)}`);
      return {
        compiled: rules.compileRule({ ruleId: `r-${i}`, version: 1, definition: checked.definition }),
        createdAt: '2025-01-01T00:00:00Z',
      };
    });
    const index = rules.buildIndex(compiled);

    // Warm up, then the timed pass.
    for (let i = 0; i < 5_000; i++) rules.countMatches(index.rulesFor(events[i]!.key), events[i]!.ctx);
    let evaluations = 0;
    let matches = 0;
    const started = process.hrtime.bigint();
    for (const e of events) {
      const forTrigger = index.rulesFor(e.key);
      evaluations += forTrigger.length;
      matches += rules.countMatches(forTrigger, e.ctx);
    }
    const seconds = secondsSince(started);
    const rate = evaluations / seconds;

    const engines = new Map<string, Engine>();
    inputs.forEach((input, i) => {
      const key =
        input.trigger.kind === 'metrics' ? 'metrics:campaign' : 'event:cmis.triggers.action-tracked';
      const conditions =
        'filter' in input.trigger
          ? { all: [toJre(input.trigger.filter as Cond), toJre(input.conditions)] }
          : toJre(input.conditions);
      const engine = engines.get(key) ?? new Engine([], { allowUndefinedFacts: true });
      engine.addRule({ name: `r-${i}`, conditions, event: { type: 'fired' } } as RuleProperties);
      engines.set(key, engine);
    });
    const prefix = events.slice(0, REFERENCE_EVENTS);
    await engines.get('metrics:campaign')!.run(flatten(prefix[0]!.ctx)); // warm-up
    let jreEvaluations = 0;
    let jreMatches = 0;
    let ourPrefixMatches = 0;
    const jreStarted = process.hrtime.bigint();
    for (const e of prefix) {
      const engine = engines.get(e.key)!;
      const result = await engine.run(flatten(e.ctx));
      jreEvaluations += result.results.length + result.failureResults.length;
      jreMatches += result.events.length;
    }
    const jreSeconds = secondsSince(jreStarted);
    for (const e of prefix) ourPrefixMatches += rules.countMatches(index.rulesFor(e.key), e.ctx);
    if (ourPrefixMatches !== jreMatches) {
      throw new Error(`the engines disagree on the prefix: ${ourPrefixMatches} vs ${jreMatches} matches`);
    }
    const reference = jreEvaluations / jreSeconds;
    return {
      name: 'rules-eval',
      value: Math.round(rate),
      unit: 'evaluations/s',
      reference: Math.round(reference),
      details: {
        'compiled: events': events.length,
        'compiled: rule evaluations': evaluations,
        'compiled: matches': matches,
        'compiled: seconds': seconds.toFixed(3),
        'json-rules-engine: events (prefix)': prefix.length,
        'json-rules-engine: rule evaluations': jreEvaluations,
        'json-rules-engine: seconds': jreSeconds.toFixed(3),
        'matches on the prefix (both engines)': jreMatches,
        'target ratio': '>= 50',
      },
    };
  },
};
