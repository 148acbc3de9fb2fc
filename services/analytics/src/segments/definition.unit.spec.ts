import { checkSegment, compileSegment, DAY_MS, type ContactFacts, type SegmentInput } from './definition';

const NOW = Date.parse('2026-06-01T00:00:00Z');
const facts = (over: Partial<ContactFacts> = {}): ContactFacts => ({
  traits: {},
  events: [],
  lists: new Set(),
  ...over,
});
const orders = (...daysAgo: number[]) =>
  daysAgo.map((d) => ({ source: 'track' as const, event: 'Order Completed', at: NOW - d * DAY_MS }));
const compiled = (body: unknown) => {
  const checked = checkSegment(body);
  if (!checked.ok) throw new Error(JSON.stringify(checked.errors));
  return compileSegment('s-1', 1, checked.segment as SegmentInput);
};
const THREE_IN_30 = {
  name: 'Ordered 3+ times in 30 days',
  definition: { kind: 'performed', event: 'Order Completed', atLeast: 3, withinDays: 30 },
};

describe('segment definitions: checking', () => {
  it('names each fault by its path', () => {
    const checked = checkSegment({
      name: '',
      definition: {
        and: [
          { kind: 'performed', event: 'x', atLeast: 0, withinDays: 400 },
          { kind: 'trait', condition: { field: 'event.plan', operator: 'equals', value: 'pro' } },
          { kind: 'rfm', segment: 'vip' },
          { kind: 'teleport' },
          { or: [] },
        ],
      },
    });
    expect(checked.ok).toBe(false);
    const paths = checked.ok ? [] : checked.errors.map((e) => e.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'body.name',
        'body.definition.and.0.atLeast',
        'body.definition.and.0.withinDays',
        'body.definition.and.2.segment',
        'body.definition.and.3.kind',
        'body.definition.and.4.or',
      ]),
    );
    expect(paths.some((p) => p.startsWith('body.definition.and.1.condition'))).toBe(true);
  });

  it('refuses unknown fields and a missing definition', () => {
    const checked = checkSegment({
      name: 'x',
      definition: { kind: 'list', listId: 'l', extra: 1 },
      color: 'red',
    });
    expect(checked.ok ? [] : checked.errors.map((e) => e.path).sort()).toEqual([
      'body.color',
      'body.definition.extra',
    ]);
    expect(checkSegment({ name: 'x' })).toEqual({
      ok: false,
      errors: [{ path: 'body.definition', message: 'is required' }],
    });
  });
});

describe('segment definitions: evaluation', () => {
  it('counts performed events within the window', () => {
    const s = compiled(THREE_IN_30);
    expect(s.matches(facts({ events: orders(1, 2, 3) }), NOW)).toBe(true);
    expect(s.matches(facts({ events: orders(1, 2, 31) }), NOW)).toBe(false);
  });

  it('says when the window would drop the third newest order (the exit time)', () => {
    const s = compiled(THREE_IN_30);
    expect(s.nextChangeAt(facts({ events: orders(1, 2, 5, 20) }), NOW)).toBe(NOW - 5 * DAY_MS + 30 * DAY_MS);
    expect(s.nextChangeAt(facts({ events: orders(1) }), NOW)).toBeUndefined();
  });

  it('holds not_performed until an event comes, then until it leaves the window', () => {
    const s = compiled({
      name: 'quiet',
      definition: { kind: 'not_performed', event: 'Order Completed', withinDays: 30 },
    });
    expect(s.matches(facts(), NOW)).toBe(true);
    expect(s.matches(facts({ events: orders(10) }), NOW)).toBe(false);
    expect(s.nextChangeAt(facts({ events: orders(10) }), NOW)).toBe(NOW + 20 * DAY_MS);
  });

  it('combines traits, rfm, engagement and lists with and/or/not', () => {
    const s = compiled({
      name: 'pro champions who read',
      definition: {
        and: [
          { kind: 'trait', condition: { field: 'contact.plan', operator: 'equals', value: 'pro' } },
          {
            or: [
              { kind: 'rfm', segment: 'champions' },
              { kind: 'list', listId: 'vip' },
            ],
          },
          { not: { kind: 'engagement', action: 'clicked', withinDays: 7 } },
          { kind: 'engagement', action: 'opened', atLeast: 2, withinDays: 7 },
        ],
      },
    });
    const opened = [1, 2].map((d) => ({ source: 'email' as const, event: 'opened', at: NOW - d * DAY_MS }));
    const base = facts({ traits: { plan: 'pro' }, rfmSegment: 'champions', events: opened });
    expect(s.matches(base, NOW)).toBe(true);
    expect(s.matches({ ...base, traits: { plan: 'free' } }, NOW)).toBe(false);
    expect(s.matches({ ...base, rfmSegment: 'lost' }, NOW)).toBe(false);
    expect(s.matches({ ...base, rfmSegment: 'lost', lists: new Set(['vip']) }, NOW)).toBe(true);
    const clicked = { source: 'email' as const, event: 'clicked', at: NOW - DAY_MS };
    expect(s.matches({ ...base, events: [...opened, clicked] }, NOW)).toBe(false);
    expect(s.windowDays).toBe(7);
  });
});
