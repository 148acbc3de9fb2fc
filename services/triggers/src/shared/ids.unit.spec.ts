import { stableUuid } from './ids';

describe('stableUuid', () => {
  it('derives the same version-8 UUID from the same parts, release after release', () => {
    // Ids published by earlier releases: a retry must get the same event id to be deduplicated.
    expect(stableUuid('org_1', 'm-1')).toBe('3fb9bd59-6ca1-823e-a1e4-693919d4841a');
    expect(stableUuid('a', 'b', 'c')).toBe('8badde10-c760-89b7-82de-fb4b5e225de7');
  });

  it('keeps parts apart: joining them differently gives another id', () => {
    expect(stableUuid('org_1', 'm-1')).not.toBe(stableUuid('org_1m', '-1'));
    expect(stableUuid('org_1', 'm-1')).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
  });
});
