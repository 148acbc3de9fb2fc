import { createHash } from 'node:crypto';
import { AbTestVariantsError, assignVariant, inTestShare } from './assign';

const ab = [{ variantId: 'A' }, { variantId: 'B' }];
const recipients = Array.from({ length: 20_000 }, (_, i) => `contact-${i}`);
const shares = (ids: string[]) => {
  const counts: Record<string, number> = {};
  for (const id of ids) counts[id] = (counts[id] ?? 0) + 1;
  return Object.fromEntries(Object.entries(counts).map(([k, n]) => [k, n / ids.length]));
};

describe('assignVariant', () => {
  it('draws from sha256(testId NUL recipientKey), its first 48 bits as a number in [0, 1)', () => {
    for (const key of recipients.slice(0, 50)) {
      const u = createHash('sha256').update(`test-1\u0000${key}`).digest().readUIntBE(0, 6) / 2 ** 48;
      const expected = u < 0.2 ? 'A' : u < 0.5 ? 'B' : 'C';
      const variants = [
        { variantId: 'A', weight: 2 },
        { variantId: 'B', weight: 3 },
        { variantId: 'C', weight: 5 },
      ];
      expect(assignVariant('test-1', key, variants).variantId).toBe(expected);
    }
  });

  it('is sticky: the same test and recipient get the same variant every time', () => {
    const first = recipients.slice(0, 200).map((r) => assignVariant('test-1', r, ab).variantId);
    const again = recipients.slice(0, 200).map(
      (r) =>
        assignVariant(
          'test-1',
          r,
          ab.map((v) => ({ ...v })),
        ).variantId,
    );
    expect(again).toEqual(first);
    expect(new Set(first).size).toBe(2);
  });

  it('splits recipients equally without weights, and differently per test', () => {
    const split = shares(recipients.map((r) => assignVariant('test-1', r, ab).variantId));
    expect(split.A).toBeCloseTo(0.5, 1);
    const moved = recipients.filter((r) => assignVariant('test-1', r, ab) !== assignVariant('test-2', r, ab));
    expect(moved.length / recipients.length).toBeCloseTo(0.5, 1);
  });

  it('follows the weights, and never draws a variant of weight 0', () => {
    const variants = [
      { variantId: 'A', weight: 1 },
      { variantId: 'B', weight: 0 },
      { variantId: 'C', weight: 3 },
    ];
    const split = shares(recipients.map((r) => assignVariant('t', r, variants).variantId));
    expect(split.B).toBeUndefined();
    expect(Math.abs(split.A! - 0.25)).toBeLessThan(0.015);
    expect(Math.abs(split.C! - 0.75)).toBeLessThan(0.015);
  });

  it.each([
    ['no variants', []],
    ['a negative weight', [{ variantId: 'A', weight: -1 }, { variantId: 'B' }]],
    ['an infinite weight', [{ variantId: 'A', weight: Infinity }]],
    ['only weights of 0', [{ variantId: 'A', weight: 0 }]],
  ])('refuses %s', (_, variants) => {
    expect(() => assignVariant('t', 'r', variants)).toThrow(AbTestVariantsError);
  });
});

describe('inTestShare', () => {
  it('takes the given share of recipients, stickily', () => {
    const inside = recipients.filter((r) => inTestShare('test-1', r, 0.2));
    expect(inside.length / recipients.length).toBeCloseTo(0.2, 1);
    expect(recipients.filter((r) => inTestShare('test-1', r, 0.2))).toEqual(inside);
    expect(recipients.every((r) => inTestShare('t', r, 1))).toBe(true);
    expect(recipients.some((r) => inTestShare('t', r, 0))).toBe(false);
  });

  it('is independent of the variant: the test share holds the variants in their proportions', () => {
    // With the variant's own hash, a 20 % share would hold only variant A (the lowest hashes).
    const inside = recipients.filter((r) => inTestShare('test-1', r, 0.2));
    const split = shares(inside.map((r) => assignVariant('test-1', r, ab).variantId));
    expect(Math.abs(split.A! - 0.5)).toBeLessThan(0.03);
  });
});
