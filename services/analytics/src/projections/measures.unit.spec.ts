import { conversionRevenue, platformOf } from './rows';
import {
  beforeAfter,
  emailMeasures,
  rangeFaults,
  roi,
  summarizeMetrics,
  trendValue,
  type EmailCounts,
} from './measures';

const none: EmailCounts = {
  requested: 0,
  sent: 0,
  delivered: 0,
  uniqueOpens: 0,
  uniqueClicks: 0,
  machineOpens: 0,
  machineClicks: 0,
  bounces: 0,
  hardBounces: 0,
  complaints: 0,
  unsubscribes: 0,
  suppressed: 0,
  failed: 0,
};

describe('email measures', () => {
  it('given deliveries, rates opens and clicks over delivered; machine opens count in no rate', () => {
    const m = emailMeasures({
      ...none,
      sent: 10,
      delivered: 8,
      uniqueOpens: 4,
      uniqueClicks: 2,
      machineOpens: 5,
      bounces: 2,
    });
    expect(m.rates).toMatchObject({
      base: 'delivered',
      delivery: 0.8,
      open: 0.5,
      click: 0.25,
      clickToOpen: 0.5,
      bounce: 0.2,
    });
  });
  it('given no delivery reports, rates over sent; given nothing sent, rates are null', () => {
    expect(emailMeasures({ ...none, sent: 4, uniqueOpens: 1 }).rates).toMatchObject({
      base: 'sent',
      open: 0.25,
    });
    expect(emailMeasures(none).rates.open).toBeNull();
  });
});

describe('metric summaries', () => {
  it('sums additive metrics, derives cpa from the sums, averages the rest', () => {
    const s = summarizeMetrics([
      { spend: 100, conversions: 2, frequency: 1 },
      { spend: 50, conversions: 1, frequency: 3 },
    ]);
    expect(s).toEqual({ snapshots: 2, metrics: { spend: 150, conversions: 3, frequency: 2, cpa: 50 } });
  });
  it('given a pause, the change is after minus before (a lower CPA is negative)', () => {
    const r = beforeAfter(
      summarizeMetrics([{ spend: 100, conversions: 2 }]),
      summarizeMetrics([{ spend: 30, conversions: 1 }]),
    );
    expect(r.change).toEqual({ spend: -70, conversions: -1, cpa: -20 });
  });
  it('given no snapshot after, changes are null', () => {
    expect(beforeAfter(summarizeMetrics([{ spend: 1 }]), summarizeMetrics([])).change).toEqual({
      spend: null,
    });
  });
});

describe('roi, trends and ranges', () => {
  it('is revenue over cost, null without cost', () => {
    expect(roi(300, 100).roi).toBe(3);
    expect(roi(300, 0).roi).toBeNull();
  });
  it('derives ratio trend points from component sums', () => {
    expect(trendValue('ctr', { clicks: 5, impressions: 100 })).toBe(0.05);
    expect(trendValue('spend', { spend: 12 })).toBe(12);
  });
  it('refuses a range that ends before it starts, or too long for hour buckets', () => {
    const from = new Date('2026-01-01T00:00:00Z');
    expect(rangeFaults(from, from)).toEqual([{ path: 'query.to', message: 'must be after from' }]);
    expect(rangeFaults(from, new Date('2026-03-01T00:00:00Z'), 'hour')[0]?.path).toBe('query.from');
    expect(rangeFaults(from, new Date('2026-03-01T00:00:00Z'), 'day')).toEqual([]);
  });
});

describe('projected rows', () => {
  it('takes a conversion’s revenue from revenue, total or value (numbers or numeric strings)', () => {
    expect(conversionRevenue({ revenue: 12.5, total: 99 })).toBe(12.5);
    expect(conversionRevenue({ total: '40' })).toBe(40);
    expect(conversionRevenue({ value: 'lots' })).toBeNull();
    expect(conversionRevenue({ plan: 'pro' })).toBeNull();
  });
  it('reads the platform from a `<platform>.<type>` entity type', () => {
    expect(platformOf('google_ads.campaign')).toEqual({ platform: 'google_ads', type: 'campaign' });
    expect(platformOf('campaign')).toEqual({ platform: 'unknown', type: 'campaign' });
  });
});
