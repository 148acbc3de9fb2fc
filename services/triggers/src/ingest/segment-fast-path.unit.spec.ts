// The hand-written fast path of parseCall must agree with the zod schemas on every input it takes.
import { contactsTopic, userActionsTopic } from '@cmis/contracts';
import type { z } from 'zod';
import { isValidated } from '../shared/fact';
import { parseSegmentBatch } from './batch';
import { CALL_TYPES, parseCall } from './segment';

const receivedAt = new Date('2025-06-01T12:00:00Z');
const ctx = () => {
  let n = 0;
  return { sourceId: 'src_1', receivedAt, newMessageId: () => `generated-${++n}` };
};

const long = (n: number) => 'x'.repeat(n);
const protoKey = () => JSON.parse('{"__proto__": {"polluted": true}, "a": 1}') as unknown;
const ids = [undefined, null, '', 'u', long(200), long(256), long(257), 7, {}, ['u']];
const names = [undefined, null, '', 'Order Completed', long(200), long(201), 3, true];
const objects = [undefined, null, {}, { a: 1, nested: { b: [1, 2] } }, [], 'x', 5, protoKey];
const timestamps = [
  undefined,
  null,
  '2025-06-01T12:00:00Z',
  '2025-06-01T14:00:00+02:00',
  '2025-06-01T14:00:00+0200',
  '2025-06-01T12:00:00.123456Z',
  '2025-06-01T12:00Z',
  '2025-06-02T11:59:59Z',
  '2025-06-02T12:00:01Z',
  '2024-02-29T00:00:00Z',
  '2025-02-29T00:00:00Z',
  '2025-06-01T12:00:00',
  '2025-06-01',
  'last tuesday',
  1717243200000,
];

// A small deterministic PRNG: the same cases on every run.
function random(seed: number) {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
}

const payloadSchemas: Record<string, z.ZodTypeAny> = {
  ...(userActionsTopic.events as Record<string, z.ZodTypeAny>),
  ...(contactsTopic.events as Record<string, z.ZodTypeAny>),
};

describe('parseCall fast path', () => {
  const next = random(42);
  const pick = <T>(values: T[]): T => {
    const value = values[Math.floor(next() * values.length)]!;
    return (typeof value === 'function' ? (value as () => T)() : value) as T;
  };
  const cases = Array.from({ length: 4_000 }, () => {
    const call: Record<string, unknown> = {};
    const set = (key: string, value: unknown) => value !== undefined && (call[key] = value);
    // Mostly valid-looking ids, so that many cases take the fast path.
    set('userId', next() < 0.6 ? 'user-1' : pick(ids));
    set('anonymousId', next() < 0.5 ? undefined : pick(ids));
    set('messageId', next() < 0.6 ? 'm-1' : pick(ids));
    set('timestamp', next() < 0.4 ? '2025-06-01T11:00:00.000Z' : pick(timestamps));
    set('context', pick(objects));
    set('properties', pick(objects));
    set('traits', pick(objects));
    set('event', next() < 0.6 ? 'Order Completed' : pick(names));
    set('name', pick(names));
    set('category', pick(names));
    set('groupId', next() < 0.6 ? 'g-1' : pick(ids));
    set('previousId', next() < 0.6 ? 'a-1' : pick(ids));
    set('integrations', { All: true });
    return [CALL_TYPES[Math.floor(next() * CALL_TYPES.length)]!, call] as const;
  });

  it('gives exactly the zod path result (output, errors and paths) on varied calls', () => {
    let accepted = 0;
    for (const [type, call] of cases) {
      const fast = parseCall(type, call, ctx(), 'body.batch.3');
      const slow = parseCall(type, call, ctx(), 'body.batch.3', false);
      expect({ type, call, result: fast }).toEqual({ type, call, result: slow });
      if (fast.ok) {
        accepted += 1;
        expect(JSON.stringify(fast.value)).toBe(JSON.stringify(slow.ok && slow.value));
      }
    }
    // Both outcomes are well represented.
    expect(accepted).toBeGreaterThan(300);
    expect(cases.length - accepted).toBeGreaterThan(300);
  });

  it('yields data that the topic payload schema accepts unchanged, marked validated', () => {
    for (const [type, call] of cases) {
      const result = parseCall(type, call, ctx());
      if (!result.ok) continue;
      expect(isValidated(result.value)).toBe(true);
      const schema = payloadSchemas[result.value.type]!;
      const parsed = schema.safeParse(result.value.data);
      expect(parsed.success).toBe(true);
      expect(JSON.stringify(parsed.success && parsed.data)).toBe(JSON.stringify(result.value.data));
    }
  });

  it('drops a __proto__ key from free-form objects, as zod does', () => {
    const result = parseCall('track', { userId: 'u', event: 'E', properties: protoKey() }, ctx());
    expect(result.ok && JSON.stringify(result.value.data.properties)).toBe('{"a":1}');
  });

  it('takes a batch envelope the same way with and without a shared context', () => {
    const batch = [
      { type: 'track', userId: 'u', event: 'A', context: { ip: '1.2.3.4' } },
      { type: 'identify', userId: 'u', traits: {} },
    ];
    for (const context of [undefined, null, { library: { name: 'x' } }]) {
      const result = parseSegmentBatch({ batch, context }, ctx());
      expect(result.ok && result.split.accepted.length).toBe(2);
    }
    const protoContext = parseSegmentBatch({ batch, context: protoKey() }, ctx());
    expect(protoContext.ok && protoContext.split.accepted.length).toBe(2);
    expect(parseSegmentBatch({ batch, context: [] }, ctx()).ok).toBe(false);
    expect(parseSegmentBatch({ batch: Array.from({ length: 2_501 }, () => batch[0]) }, ctx()).ok).toBe(false);
  });
});
