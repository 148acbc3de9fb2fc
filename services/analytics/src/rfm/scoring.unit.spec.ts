import { RFM_SEGMENTS } from '@cmis/contracts';
import {
  DAY_MS,
  orderOf,
  quintile,
  scoreAll,
  scoreOne,
  segmentOf,
  valuesOf,
  type RfmValues,
} from './scoring';

const NOW = new Date('2026-06-01T12:00:00Z');
const buyer = (contactId: string, recencyDays: number, orders: number, revenue: number): RfmValues => ({
  contactId,
  recencyDays,
  orders,
  revenue,
});

describe('RFM quintiles', () => {
  it('spreads ten distinct values over 1–5, two per score', () => {
    const values = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    expect(values.map((v) => quintile(v, values, true))).toEqual([1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
  });

  it('scores lower-is-better values (recency in days) the other way round', () => {
    const values = [0, 10, 20, 30, 40];
    expect(values.map((v) => quintile(v, values, false))).toEqual([5, 4, 3, 2, 1]);
  });

  it('gives ties one score, the middle of the ranks they share', () => {
    const values = [1, 1, 1, 1, 9];
    expect(quintile(1, values, true)).toBe(quintile(1, values, true));
    expect(values.map((v) => quintile(v, values, true))).toEqual([2, 2, 2, 2, 5]);
    expect([4, 4, 4].map((v) => quintile(v, [4, 4, 4], true))).toEqual([3, 3, 3]);
  });

  it('scores a lone buyer 3 on every axis (no one to rank against)', () => {
    expect(scoreOne(buyer('a', 0, 1, 10), [buyer('a', 0, 1, 10)])).toEqual({
      recency: 3,
      frequency: 3,
      monetary: 3,
      segment: 'loyal',
    });
  });

  it('makes the most recent, most frequent, biggest spender a Champion and the opposite Lost', () => {
    const population = [
      buyer('top', 0, 6, 600),
      buyer('b', 20, 4, 100),
      buyer('c', 40, 3, 50),
      buyer('d', 60, 2, 40),
      buyer('bottom', 200, 1, 10),
    ];
    const scores = scoreAll(population);
    expect(scores.get('top')).toEqual({ recency: 5, frequency: 5, monetary: 5, segment: 'champions' });
    expect(scores.get('bottom')!.segment).toBe('lost');
    expect(scoreOne(population[0]!, population)).toEqual(scores.get('top'));
  });
});

describe('RFM named segments', () => {
  it.each([
    [5, 5, 5, 'champions'],
    [4, 4, 4, 'champions'],
    [3, 5, 5, 'loyal'],
    [5, 3, 3, 'loyal'],
    [1, 5, 5, 'cant_lose_them'],
    [2, 5, 5, 'at_risk'],
    [1, 3, 3, 'at_risk'],
    [5, 1, 1, 'new_customers'],
    [5, 2, 2, 'potential_loyalist'],
    [4, 1, 3, 'potential_loyalist'],
    [4, 1, 1, 'promising'],
    [3, 2, 2, 'need_attention'],
    [3, 1, 1, 'about_to_sleep'],
    [2, 2, 2, 'about_to_sleep'],
    [2, 1, 1, 'hibernating'],
    [1, 2, 2, 'hibernating'],
    [1, 1, 1, 'lost'],
  ])('R%i F%i M%i is %s', (r, f, m, segment) => {
    expect(segmentOf(r, f, m)).toBe(segment);
  });

  it('puts every one of the 125 scores in exactly one known segment, and uses all eleven', () => {
    const seen = new Set<string>();
    for (let r = 1; r <= 5; r++)
      for (let f = 1; f <= 5; f++) for (let m = 1; m <= 5; m++) seen.add(segmentOf(r, f, m));
    expect([...seen].sort()).toEqual([...RFM_SEGMENTS].sort());
  });
});

describe('RFM values and orders', () => {
  it('counts only orders within the window, recency in whole days since the last', () => {
    const orders = [
      { at: new Date(NOW.getTime() - 400 * DAY_MS), amount: 1_000 },
      { at: new Date(NOW.getTime() - 3.5 * DAY_MS), amount: 30 },
      { at: new Date(NOW.getTime() - 10 * DAY_MS), amount: 20 },
    ];
    expect(valuesOf('a', orders, NOW, 365)).toEqual({
      contactId: 'a',
      recencyDays: 3,
      orders: 2,
      revenue: 50,
    });
    expect(valuesOf('a', orders.slice(0, 1), NOW, 365)).toBeUndefined();
  });

  it('reads Order Completed / order_completed, amount from revenue then total', () => {
    expect(orderOf('Order Completed', { revenue: 12.5, total: 99 })).toEqual({ amount: 12.5 });
    expect(orderOf('order_completed', { total: '40' })).toEqual({ amount: 40 });
    expect(orderOf('Order Completed', {})).toEqual({ amount: 0 });
    expect(orderOf('Order Completed', { revenue: -5 })).toEqual({ amount: 0 });
    expect(orderOf('Product Viewed', { revenue: 10 })).toBeUndefined();
  });
});
