import {
  attribute,
  DEFAULT_ATTRIBUTION,
  revenueByOrigin,
  type AttributionSettings,
  type Touch,
} from './attribution';

const H = 3_600_000;
const D = 24 * H;
const T0 = Date.parse('2026-03-10T12:00:00Z');
const order = (at: number, revenue = 100, contactId = 'c1') => ({ id: `o-${at}`, contactId, at, revenue });
const touch = (
  kind: Touch['kind'],
  at: number,
  messageId: string,
  originId = 'wf-1',
  contactId = 'c1',
): Touch => ({
  messageId,
  contactId,
  kind,
  at,
  originKind: 'workflow',
  originId,
  stepId: 's1',
});
const given = (touches: Touch[], settings: AttributionSettings = DEFAULT_ATTRIBUTION) => ({
  whenConverting: (...conversions: ReturnType<typeof order>[]) => attribute(conversions, touches, settings),
});

describe('attribution (default: last touch, click within 5 days, open within 1 day)', () => {
  it('credits a click 4 days before the conversion with all its revenue', () => {
    const credits = given([touch('click', T0 - 4 * D, 'm1')]).whenConverting(order(T0));
    expect(credits).toEqual([expect.objectContaining({ messageId: 'm1', share: 1, revenue: 100 })]);
  });

  it('credits nothing for a click 6 days before, or an open 25 hours before', () => {
    expect(
      given([touch('click', T0 - 6 * D, 'm1'), touch('open', T0 - 25 * H, 'm2')]).whenConverting(order(T0)),
    ).toEqual([]);
  });

  it('credits nothing for a touch after the conversion, or of another contact', () => {
    expect(
      given([touch('click', T0 + H, 'm1'), touch('click', T0 - H, 'm2', 'wf-1', 'c2')]).whenConverting(
        order(T0),
      ),
    ).toEqual([]);
  });

  it('gives last touch to the latest eligible touch: an open an hour before beats a click 2 days before', () => {
    const credits = given([
      touch('click', T0 - 2 * D, 'm1', 'wf-1'),
      touch('open', T0 - H, 'm2', 'drip-1'),
    ]).whenConverting(order(T0));
    expect(credits.map((c) => c.originId)).toEqual(['drip-1']);
  });

  it('gives first touch to the earliest, and linear equal shares per message', () => {
    const touches = [
      touch('click', T0 - 2 * D, 'm1', 'wf-1'),
      touch('open', T0 - H, 'm2', 'drip-1'),
      touch('click', T0 - 30 * 60_000, 'm2', 'drip-1'),
    ];
    expect(
      given(touches, { ...DEFAULT_ATTRIBUTION, model: 'first_touch' })
        .whenConverting(order(T0))
        .map((c) => c.originId),
    ).toEqual(['wf-1']);
    const linear = given(touches, { ...DEFAULT_ATTRIBUTION, model: 'linear' }).whenConverting(order(T0, 90));
    expect(linear.map((c) => [c.messageId, c.share, c.revenue])).toEqual([
      ['m1', 0.5, 45],
      ['m2', 0.5, 45],
    ]);
  });

  it('honours an org’s wider windows: an open 3 days before counts with openWindowDays 3', () => {
    const settings = { model: 'last_touch' as const, clickWindowDays: 7, openWindowDays: 3 };
    expect(given([touch('open', T0 - 3 * D, 'm1')], settings).whenConverting(order(T0))).toHaveLength(1);
  });

  it('sums revenue by origin and counts each conversion once per origin', () => {
    const credits = given([touch('click', T0 - H, 'm1'), touch('click', T0 - 2 * H, 'm3')], {
      ...DEFAULT_ATTRIBUTION,
      model: 'linear',
    }).whenConverting(order(T0, 100), order(T0 + D, 50));
    expect(revenueByOrigin(credits).get('workflow:wf-1')).toEqual({ revenue: 150, conversions: 2 });
  });
});
