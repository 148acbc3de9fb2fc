import { createScratchDatabase, startInfra } from '@cmis/testkit';
import { formatBenchLine, type Benchmark } from './bench';
import { kafkaRaw } from './kafka-raw';
import { relayBench } from './relay';
import { inboxBench } from './inbox';
import { analyticsIngestBench } from './analytics-ingest';
import { ingestBench } from './ingest';
import { trackLatencyBench } from './track-latency';
import { rulesEvalBench } from './rules-eval';
import { rulesE2eBench } from './rules-e2e';
import { emailSendBench } from './email-send';
import { workflowTimersBench } from './workflow-timers';
import { workflowE2eBench } from './workflow-e2e';
import { dripBurstBench } from './drip-burst';
import { segmentsBench } from './segments';

/** Every benchmark, by name; `pnpm bench <name>` runs one, `pnpm bench` runs all. */
const benchmarks: Benchmark[] = [
  // platform
  kafkaRaw,
  relayBench,
  inboxBench,
  // services: one line each
  analyticsIngestBench,
  ingestBench,
  trackLatencyBench,
  rulesEvalBench,
  rulesE2eBench,
  emailSendBench,
  workflowE2eBench,
  workflowTimersBench,
  dripBurstBench,
  segmentsBench,
];

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  const unknown = wanted.filter((w) => !benchmarks.some((b) => b.name === w));
  if (unknown.length > 0) {
    console.error(
      `unknown benchmark(s): ${unknown.join(', ')}; known: ${benchmarks.map((b) => b.name).join(', ')}`,
    );
    process.exit(2);
  }
  const selected = wanted.length ? benchmarks.filter((b) => wanted.includes(b.name)) : benchmarks;
  // BENCH_KAFKA_JIT=full gives the broker a production JVM's JIT; the default first tier costs
  // less CPU over a run this short (C2 compiling the broker took 2-3 CPU-seconds of a 12 s run).
  const infra = await startInfra({
    log: (line) => console.log(`[testkit] ${line}`),
    kafkaJit: process.env.BENCH_KAFKA_JIT === 'full' ? 'full' : 'quick',
  });
  // A database of its own for the run, dropped after: the services' schemas (named after them)
  // would otherwise keep every earlier run's rows, and each run would measure a bigger table.
  const scratch = await createScratchDatabase(infra.databaseUrl, 'cmis_bench');
  const benchInfra = { ...infra, databaseUrl: scratch.url };
  try {
    for (const bench of selected) {
      console.log(`\n# ${bench.name}: ${bench.description}`);
      const result = await bench.run(benchInfra);
      for (const [k, v] of Object.entries(result.details ?? {})) console.log(`  ${k}: ${v}`);
      console.log(formatBenchLine(result));
    }
  } finally {
    await scratch
      .drop()
      .catch((error: unknown) => console.error(`dropping ${scratch.url}: ${String(error)}`));
    await infra.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
