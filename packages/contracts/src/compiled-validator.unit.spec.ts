import { eventTopicByName } from './catalog';
import { RuleAction } from './topics/rules';
import { z, type ZodTypeAny } from 'zod';
import { compiledCheck, compiledSchemaCheck, UUID_PATTERN, type CompiledCheck } from './compiled-validator';
import { topicValueSchema } from './json-schema';
import { allExampleEnvelopes } from './spec-support/examples';
import type { TopicDefinition } from './topic';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Path = Array<string | number>;

// Values put in place of every field: wrong types, edge strings, odd timestamps and ids.
const REPLACEMENTS: Json[] = [
  null,
  0,
  -1,
  1.5,
  true,
  '',
  'x',
  {},
  [],
  'a'.repeat(300),
  '😀',
  '2026-13-01T00:00:00Z',
  '2026-02-30T00:00:00Z',
  '2026-01-01t00:00:00z',
  '2026-01-01 00:00:00Z',
  '2026-01-01T00:00:00',
  '2026-01-01T00:00Z',
  '2026-01-01T00:00:00.123456789+05:30',
  '3F0C4D2E-8A61-4F7B-9C1E-2B7D5A9E4F10',
  '3f0c4d2e-8a61-4f7b-9c1e-2b7d5a9e4f1',
  '00000000-0000-0000-0000-000000000000',
  '3f0c4d2e8a614f7b9c1e2b7d5a9e4f10',
  '{3f0c4d2e-8a61-4f7b-9c1e-2b7d5a9e4f10}',
  '3f0c4d2e-8a61-4f7b-9c1e-2b7d5a9e4f1g',
  'https://example.com/x',
  'not a url',
  'someone@example.com',
  'a'.repeat(64),
  // Action kinds: a branch switched under a discriminated union.
  'pause_campaign',
  'send_notification',
  'webhook',
];

function paths(value: Json, at: Path = []): Path[] {
  if (value === null || typeof value !== 'object') return [at];
  const keys: Array<string | number> = Array.isArray(value) ? value.map((_, i) => i) : Object.keys(value);
  return [at, ...keys.flatMap((k) => paths((value as Record<string | number, Json>)[k]!, [...at, k]))];
}

function clone<T>(value: T): T {
  return structuredClone(value);
}

function setAt(root: Json, path: Path, to: Json | undefined): Json {
  if (path.length === 0) return to === undefined ? null : to;
  const copy = clone(root);
  let parent = copy as Record<string | number, Json>;
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, Json>;
  const last = path[path.length - 1]!;
  if (to === undefined) delete parent[last];
  else parent[last] = to;
  return copy;
}

/** The valid example and, for every field, the field removed, replaced and given a stranger. */
function variants(example: Json): Json[] {
  const out: Json[] = [example];
  for (const path of paths(example)) {
    if (path.length > 0) out.push(setAt(example, path, undefined));
    for (const value of REPLACEMENTS) out.push(setAt(example, path, value));
    const here = path.reduce<Json>((v, k) => (v as Record<string | number, Json>)[k]!, example);
    if (here !== null && typeof here === 'object' && !Array.isArray(here)) {
      out.push(setAt(example, [...path, 'unknownKey'], 'dropped'));
    }
  }
  return out;
}

/**
 * Runs zod and the compiled check on every variant: same verdict, and where both accept, the
 * check left exactly zod's output. Returns how many were accepted.
 */
function compareWithZod(schema: ZodTypeAny, check: CompiledCheck, all: Json[]): number {
  let accepted = 0;
  for (const variant of all) {
    const byZod = schema.safeParse(clone(variant));
    const value = clone(variant);
    const verdict = check(value);
    if (verdict !== byZod.success) {
      throw new Error(`compiled ${verdict}, zod ${byZod.success} for ${JSON.stringify(variant)}`);
    }
    if (verdict) {
      accepted += 1;
      expect(value).toEqual(byZod.data);
    }
  }
  return accepted;
}

describe('the uuid format', () => {
  it('accepts exactly what zod .uuid() accepts', () => {
    const hex = '0123456789abcdefABCDEF';
    const candidates = [
      '3f0c4d2e-8a61-4f7b-9c1e-2b7d5a9e4f10',
      '019ab3c2-7d4e-7f00-8a1b-2c3d4e5f6a7b',
      '3F0C4D2E-8A61-4F7B-9C1E-2B7D5A9E4F10',
      '00000000-0000-0000-0000-000000000000',
      'ffffffff-ffff-ffff-ffff-ffffffffffff',
      '3f0c4d2e-8a61-4f7b-9c1e-2b7d5a9e4f10\n',
      ' 3f0c4d2e-8a61-4f7b-9c1e-2b7d5a9e4f10',
      '3f0c4d2e-8a61-4f7b-9c1e_2b7d5a9e4f10',
      '3f0c4d2e8a614f7b9c1e2b7d5a9e4f10',
      '3f0c4d2e-8a61-4f7b-9c1e-2b7d5a9e4f1',
      '3f0c4d2e-8a61-4f7b-9c1e-2b7d5a9e4f100',
      '3f0c4d2e-8a61-4f7b-9c1e-2b7d5a9e4fg0',
      '',
      // Every position given a character from around the hex ranges.
      ...Array.from({ length: 36 }, (_, i) =>
        ['/', ':', '@', 'G', '`', 'g', '-', hex[i % hex.length]!].map(
          (c) =>
            `${'3f0c4d2e-8a61-4f7b-9c1e-2b7d5a9e4f10'.slice(0, i)}${c}${'3f0c4d2e-8a61-4f7b-9c1e-2b7d5a9e4f10'.slice(i + 1)}`,
        ),
      ).flat(),
    ];
    const zodUuid = z.string().uuid();
    const disagreements = candidates.filter((c) => UUID_PATTERN.test(c) !== zodUuid.safeParse(c).success);
    expect(disagreements).toEqual([]);
    expect(candidates.filter((c) => UUID_PATTERN.test(c)).length).toBeGreaterThan(5);
  });
});

describe('compiled decode check', () => {
  const cases = allExampleEnvelopes();

  it('covers every event type of the catalog', () => {
    const zodOnly = cases
      .filter(({ topic, type }) => !compiledCheck(eventTopicByName(topic)!, type))
      .map(({ type }) => type);
    expect(zodOnly).toEqual([]);
  });

  it.each(cases.map((c) => [c.type, c] as const))(
    '%s data: accepts exactly what zod accepts (as the event store checks payloads)',
    (_, { topic, type, envelope }) => {
      const schema = eventTopicByName(topic)!.events[type]!;
      const check = compiledSchemaCheck(schema)!;
      expect(check).toBeDefined();
      const accepted = compareWithZod(schema, check, variants((envelope as unknown as { data: Json }).data));
      expect(accepted).toBeGreaterThan(0);
    },
  );

  it.each(cases.map((c) => [c.type, c] as const))(
    '%s: accepts exactly what zod accepts, and leaves what zod returns',
    (_, { topic, type, envelope }) => {
      const definition: TopicDefinition = eventTopicByName(topic)!;
      const check = compiledCheck(definition, type)!;
      const schema = topicValueSchema(definition);
      const all = variants(envelope as unknown as Json);
      expect(all.length).toBeGreaterThan(100);
      const accepted = compareWithZod(schema, check, all);
      // Both accept and reject were exercised.
      expect(accepted).toBeGreaterThan(1);
      expect(accepted).toBeLessThan(all.length);
    },
  );

  it('runs the refinements JSON Schema cannot carry (userId or anonymousId)', () => {
    const { topic, type, envelope } = cases.find((c) => c.type === 'cmis.triggers.action-tracked')!;
    const check = compiledCheck(eventTopicByName(topic)!, type)!;
    const value = clone(envelope) as unknown as { data: Record<string, unknown> };
    delete value.data.userId;
    delete value.data.anonymousId;
    expect(check(value)).toBe(false);
    expect(check({ ...value, data: { ...value.data, anonymousId: 'anon-1' } })).toBe(true);
  });

  it('checks every kind of a discriminated union against its own branch only (action kinds)', () => {
    const actions: Json[] = [
      { kind: 'pause_campaign', campaignId: 'c-1' },
      { kind: 'resume_campaign', campaignId: 'c-1' },
      { kind: 'adjust_budget', campaignId: 'c-1', mode: 'increase_percent', amount: 10, maxBudget: 500 },
      {
        kind: 'send_notification',
        channel: 'email',
        recipients: ['a@example.com'],
        title: 't',
        message: 'm',
      },
      { kind: 'tag_contact', contactId: 'contact-1', tags: ['vip'] },
      { kind: 'enroll_workflow', workflowId: 'w-1', contactId: 'contact-1' },
      { kind: 'enroll_drip', dripId: 'd-1', contactId: 'contact-1' },
      { kind: 'webhook', url: 'https://hooks.example.com/x', method: 'POST', headers: {}, body: {} },
    ];
    const check = compiledSchemaCheck(RuleAction)!;
    for (const action of actions)
      expect(compareWithZod(RuleAction, check, variants(action))).toBeGreaterThan(0);
  });
});
