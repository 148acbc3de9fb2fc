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

/**
 * Runs `work`; with BENCH_PROFILE_DIR set, under the V8 CPU profiler, written to
 * `<dir>/<name>.cpuprofile` (open it in Chrome DevTools), so a profile holds the timed part only.
 */
export async function profiled<T>(name: string, work: () => Promise<T>): Promise<T> {
  const dir = process.env.BENCH_PROFILE_DIR;
  if (!dir) return work();
  const { Session } = await import('node:inspector/promises');
  const { mkdir, writeFile } = await import('node:fs/promises');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  try {
    return await work();
  } finally {
    const { profile } = await session.post('Profiler.stop');
    await mkdir(dir, { recursive: true });
    await writeFile(`${dir}/${name}.cpuprofile`, JSON.stringify(profile));
    session.disconnect();
  }
}
