import { isHeldOut } from './holdout';

describe('rule holdout', () => {
  const subjects = Array.from({ length: 20_000 }, (_, i) => `contact-${i}`);

  it('holds out about the configured share of subjects', () => {
    for (const percent of [5, 20, 50]) {
      const held = subjects.filter((s) => isHeldOut(percent, 'rule-1', s)).length;
      expect(held / subjects.length).toBeGreaterThan(percent / 100 - 0.015);
      expect(held / subjects.length).toBeLessThan(percent / 100 + 0.015);
    }
  });

  it('is sticky per rule and subject, and differs between rules', () => {
    const a = subjects.filter((s) => isHeldOut(20, 'rule-1', s));
    expect(subjects.filter((s) => isHeldOut(20, 'rule-1', s))).toEqual(a);
    const b = new Set(subjects.filter((s) => isHeldOut(20, 'rule-2', s)));
    expect(a.filter((s) => b.has(s)).length).toBeLessThan(a.length * 0.4);
  });

  it('holds out no one without a holdout', () => {
    expect(subjects.some((s) => isHeldOut(undefined, 'rule-1', s))).toBe(false);
    expect(subjects.some((s) => isHeldOut(0, 'rule-1', s))).toBe(false);
  });
});
