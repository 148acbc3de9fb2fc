import { stableId } from './stable-id';

describe('stableId', () => {
  it('derives the same uuid from the same parts, as it always has (ids of events already published)', () => {
    expect(stableId('a')).toBe('ca978112-ca1b-5dca-bac2-31b39a23dc4d');
    expect(stableId('0b9c6c5e-6c63-4b8a-9d67-1d2a3b4c5d6e', 'rule-1', 3, 'campaign-9', 'fired')).toBe(
      '831487a5-78f2-5e4e-a450-4312e8304fd5',
    );
    expect(stableId('0b9c6c5e-6c63-4b8a-9d67-1d2a3b4c5d6e', 'rule-1', 3, 'campaign-9', 0)).toBe(
      'd11b9707-0bad-5e22-90f1-6b9fb6a28a83',
    );
    expect(stableId('x', 'failed')).toBe('c0251c15-621c-5d0e-b431-2ffbcceafac3');
  });

  it('is shaped as a version 5 uuid with the RFC 4122 variant', () => {
    const shapes = new Set<string>();
    for (let i = 0; i < 4_096; i++) {
      const id = stableId('k', i);
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      shapes.add(id[19]!);
    }
    expect([...shapes].sort()).toEqual(['8', '9', 'a', 'b']);
  });
});
