// A rule's holdout, pure: the subjects it fired for, held out (recorded, not acted on) against
// acted on, compared per metric with Welch's t — on the change since the firing when both
// snapshots exist, and on revenue after the firing (contacts' orders).
import { welchTTest, type SampleSummary } from './stats';
import type { HoldoutSubjectMetrics } from './store';

export interface GroupMetric {
  subjects: number;
  mean: number;
}

export interface MetricComparison {
  /** What is compared: the change since the firing, or the value after it. */
  basis: 'change' | 'after';
  heldOut: GroupMetric;
  actedOn: GroupMetric;
  /** actedOn − heldOut. */
  difference: number;
  test: 'Welch t';
  t: number;
  df: number;
  pValue: number;
}

export function compareHoldout(subjects: HoldoutSubjectMetrics[]) {
  const held = subjects.filter((s) => s.heldOut);
  const acted = subjects.filter((s) => !s.heldOut);
  const names = new Set(subjects.flatMap((s) => Object.keys(s.after)));
  const metrics: Record<string, MetricComparison> = {};
  const compare = (basis: 'change' | 'after', pick: (s: HoldoutSubjectMetrics) => number | undefined) => {
    const h = summaryOf(held.map(pick));
    const a = summaryOf(acted.map(pick));
    const r = welchTTest(h, a);
    return {
      basis,
      heldOut: { subjects: h.n, mean: h.mean },
      actedOn: { subjects: a.n, mean: a.mean },
      difference: a.mean - h.mean,
      test: 'Welch t' as const,
      t: r.statistic,
      df: r.df,
      pValue: r.pValue,
    };
  };
  for (const name of [...names].sort()) {
    const hasChange = subjects.some((s) => s.change[name] !== undefined);
    metrics[name] = hasChange
      ? compare('change', (s) => s.change[name])
      : compare('after', (s) => s.after[name]);
  }
  return {
    firings: { heldOut: held.length, actedOn: acted.length },
    metrics,
    revenue: compare('after', (s) => s.revenue),
  };
}

function summaryOf(values: Array<number | undefined>): SampleSummary {
  const xs = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  const n = xs.length;
  if (n === 0) return { n: 0, mean: 0, variance: 0 };
  const mean = xs.reduce((s, x) => s + x, 0) / n;
  const variance = n > 1 ? xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1) : 0;
  return { n, mean, variance };
}
