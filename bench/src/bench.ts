import type { Infra } from '@cmis/testkit';

/** What one benchmark reports: its figure and a reference measured in the same run. */
export interface BenchResult {
  name: string;
  value: number;
  unit: string;
  reference: number;
  /** Extra figures worth printing (they are not compared). */
  details?: Record<string, number | string>;
}

export interface Benchmark {
  name: string;
  description: string;
  run(infra: Infra): Promise<BenchResult>;
}

export function formatBenchLine(r: BenchResult): string {
  const round = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(n < 10 ? 3 : 1));
  return `BENCH ${r.name} value=${round(r.value)} unit=${r.unit} reference=${round(r.reference)} ratio=${(r.value / r.reference).toFixed(3)}`;
}

/** Seconds since `start` (a process.hrtime.bigint() reading). */
export function secondsSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}
