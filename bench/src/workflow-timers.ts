import { randomUUID } from 'node:crypto';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import {
  createDatabase,
  createLogger,
  createTimerPoller,
  platformMigrations,
  timerMigrations,
  withSystem,
  type Database,
} from '@cmis/platform';
import { uniqueSchema } from '@cmis/testkit';
import PgBoss from 'pg-boss';
import { secondsSince, type Benchmark } from './bench';
import { appendOnFire } from './timer-firing';

const COUNT = Number(process.env.BENCH_TIMERS_COUNT ?? 1_000_000);
const ORGS = 100;
// Replicas of the service, each a thread of its own with its own pools, as a deployment runs
// processes; the reference gets as many workers, threads too.
const REPLICAS = Number(process.env.BENCH_TIMERS_REPLICAS ?? 4);
// Timers of one org a round fires in one transaction (and most timers in one transaction).
const PER_ORG_BATCH = Number(process.env.BENCH_TIMERS_PER_ORG ?? 50);
// A round leases this many; the reference fetches as many jobs at once. pg-boss sorts every
// queued job on each fetch (its index does not follow its fetch order), so small fetches from a
// deep queue cost it dearly: from 200,000 queued, 519 jobs/s fetching 50 at a time, 4,955 at 500.
const ROUND = PER_ORG_BATCH * 10;
// Orgs a replica fires at the same time (each on its own connection).
const CONCURRENCY = Number(process.env.BENCH_TIMERS_CONCURRENCY ?? 2);
const LATENESS_SECONDS = 20;
const KIND = 'wait-timeout';
const QUEUE = 'noop';

type Role =
  | { role: 'timers'; url: string; schema: string; target: number; paced: boolean; noop?: boolean }
  | { role: 'pg-boss'; url: string; schema: string; target: number };
type Job = Role & { counter: SharedArrayBuffer };
type Done = { lateMs: number[] };

/** A replica of the service: pools and a poller, firing until the shared count is reached. */
async function timersReplica(job: Extract<Role, { role: 'timers' }>, fired: Int32Array): Promise<Done> {
  const logger = createLogger({ service: 'bench-timers', level: 'warn' });
  const db = createDatabase({ url: job.url, schema: job.schema, poolMax: CONCURRENCY + 1, ownerPoolMax: 2 });
  const lateMs: number[] = [];
  const onFire = (ms: number) => {
    lateMs.push(ms);
    Atomics.add(fired, 0, 1);
  };
  const poller = createTimerPoller({
    db,
    logger,
    service: 'bench',
    handlers: { [KIND]: job.noop ? async () => undefined : appendOnFire(db, job.paced ? onFire : undefined) },
    perOrgBatch: PER_ORG_BATCH,
    batchSize: ROUND,
    concurrency: CONCURRENCY,
  });
  await db.app.raw('select 1'); // pools up before the clock starts
  await waitForGo();
  if (job.paced) {
    // As in production: the poller's own loop, sleeping until the next timer is due.
    poller.start();
    const deadline = Date.now() + (LATENESS_SECONDS + 120) * 1000;
    while (Atomics.load(fired, 0) < job.target && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await poller.stop();
  } else {
    while (Atomics.load(fired, 0) < job.target) {
      const n = await poller.runOnce();
      Atomics.add(fired, 0, n);
      if (n === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
  await db.destroy();
  return { lateMs };
}

/** A pg-boss worker: fetch a batch, run the no-op, complete the batch, as its worker loop does. */
async function pgBossWorker(job: Extract<Role, { role: 'pg-boss' }>, done: Int32Array): Promise<Done> {
  const boss = new PgBoss({
    connectionString: job.url,
    schema: job.schema,
    max: 2,
    supervise: false,
    schedule: false,
  });
  boss.on('error', (error) => console.error('pg-boss', error));
  await boss.start();
  await waitForGo();
  // Without the worker loop's polling pause between batches: the reference at its best.
  while (Atomics.load(done, 0) < job.target) {
    const jobs = await boss.fetch(QUEUE, { batchSize: ROUND });
    if (jobs.length === 0) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      continue;
    }
    await boss.complete(
      QUEUE,
      jobs.map((j) => j.id),
    );
    Atomics.add(done, 0, jobs.length);
  }
  await boss.stop({ graceful: false, wait: true });
  return { lateMs: [] };
}

function waitForGo(): Promise<void> {
  return new Promise((resolve) => {
    parentPort!.once('message', () => resolve());
    parentPort!.postMessage('ready');
  });
}

if (!isMainThread && (workerData as { bench?: string } | null)?.bench === 'workflow-timers') {
  const { job } = workerData as { job: Job };
  const counter = new Int32Array(job.counter);
  const run = job.role === 'timers' ? timersReplica(job, counter) : pgBossWorker(job, counter);
  run.then(
    (done) => parentPort!.postMessage(done),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}

/**
 * Starts `REPLICAS` threads, lets them go at once and waits for all; the wall time is from the
 * go to the last one done, the CPU time that of this process (every thread) meanwhile.
 */
async function inThreads(job: Role): Promise<{ seconds: number; cpuSeconds: number; results: Done[] }> {
  const counter = new SharedArrayBuffer(4);
  const workers = Array.from(
    { length: REPLICAS },
    () => new Worker(__filename, { workerData: { bench: 'workflow-timers', job: { ...job, counter } } }),
  );
  const failed = new Promise<never>((_, reject) => {
    for (const w of workers) {
      w.on('error', reject);
      w.on('exit', (code) => code !== 0 && reject(new Error(`replica thread exited with ${code}`)));
    }
  });
  const nextMessage = (w: Worker) => new Promise<unknown>((resolve) => w.once('message', resolve));
  await Promise.race([Promise.all(workers.map(nextMessage)), failed]);
  const results = workers.map((w) => nextMessage(w) as Promise<Done>);
  const start = process.hrtime.bigint();
  const cpu = process.cpuUsage();
  for (const w of workers) w.postMessage('go');
  const done = await Promise.race([Promise.all(results), failed]);
  const seconds = secondsSince(start);
  const used = process.cpuUsage(cpu);
  await Promise.all(workers.map((w) => w.terminate()));
  return { seconds, cpuSeconds: (used.user + used.system) / 1e6, results: done };
}

/** Timers straight into the table in one statement (not scheduleTimer one by one). */
async function insertTimers(db: Database, orgs: string[], count: number, firstDue: Date, spacingMs: number) {
  await withSystem(db.owner, (trx) =>
    trx.raw(
      `insert into timers (org_id, timer_id, kind, due_at, payload)
       select (?::uuid[])[1 + i % ?], 'wait-' || i, ?,
              ?::timestamptz + make_interval(secs => i * ?::float8 / 1000), jsonb_build_object('step', i)
         from generate_series(0, ? - 1) i`,
      [orgs, orgs.length, KIND, firstDue, spacingMs, count],
    ),
  );
  await db.owner.raw('vacuum analyze timers');
}

async function timersSchema(url: string): Promise<Database> {
  const db = createDatabase({ url, schema: uniqueSchema('bench_timers') });
  await db.migrate([...platformMigrations, ...timerMigrations]);
  return db;
}

/** The reference's jobs: pg-boss's own bulk insert, 10,000 a call. */
async function pgBossQueue(url: string): Promise<{ schema: string; stop(): Promise<void> }> {
  const schema = uniqueSchema('bench_pgboss');
  const boss = new PgBoss({ connectionString: url, schema, max: 2, supervise: false, schedule: false });
  boss.on('error', (error) => console.error('pg-boss', error));
  await boss.start();
  await boss.createQueue(QUEUE);
  for (let sent = 0; sent < COUNT; sent += 10_000) {
    const jobs = Array.from({ length: Math.min(10_000, COUNT - sent) }, (_, i) => ({
      name: QUEUE,
      data: { step: sent + i },
    }));
    await boss.insert(jobs);
  }
  await boss.getDb().executeSql(`vacuum analyze ${schema}.job`, []);
  return { schema, stop: () => boss.stop({ graceful: false, wait: true }) };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/**
 * Durable timers: COUNT pending timers over 100 orgs, all due, fired by REPLICAS replicas, each
 * firing appending its event in the firing's transaction; beside pg-boss completing as many
 * no-op jobs on the same Postgres with as many workers. Then lateness: timers coming due at half
 * the measured rate for 20 s, fired by the same replicas polling as in production.
 */
export const workflowTimersBench: Benchmark = {
  name: 'workflow-timers',
  description: `durable timers: ${COUNT} due timers (${ORGS} orgs) fired with an event each by ${REPLICAS} replicas vs pg-boss completing ${COUNT} no-op jobs with ${REPLICAS} workers`,
  async run(infra) {
    const url = infra.databaseUrl;
    const orgs = Array.from({ length: ORGS }, () => randomUUID());

    // Throughput: everything due an hour ago.
    const db = await timersSchema(url);
    const loadStart = process.hrtime.bigint();
    await insertTimers(db, orgs, COUNT, new Date(Date.now() - 3_600_000), 0.001);
    const loadSeconds = secondsSince(loadStart);
    const timers = await inThreads({ role: 'timers', url, schema: db.schema, target: COUNT, paced: false });
    const { rows } = await db.owner.raw<{ rows: Array<{ events: string; left: string }> }>(
      `select (select count(*) from events) as events, (select count(*) from timers) as left`,
    );
    if (Number(rows[0]!.events) !== COUNT || Number(rows[0]!.left) !== 0) {
      throw new Error(`fired ${rows[0]!.events} events of ${COUNT}, ${rows[0]!.left} timers left`);
    }
    await db.destroy();
    const rate = COUNT / timers.seconds;

    // The timers alone: the same count with a no-op handler, like the reference's jobs.
    const bare = await timersSchema(url);
    await insertTimers(bare, orgs, COUNT, new Date(Date.now() - 3_600_000), 0.001);
    const noop = await inThreads({
      role: 'timers',
      url,
      schema: bare.schema,
      target: COUNT,
      paced: false,
      noop: true,
    });
    await bare.destroy();

    const queue = await pgBossQueue(url);
    const boss = await inThreads({ role: 'pg-boss', url, schema: queue.schema, target: COUNT });
    await queue.stop();
    const reference = COUNT / boss.seconds;

    // Lateness at half the rate: timers due from 3 s ahead, spread evenly over 20 s.
    const paced = Math.max(1, Math.floor(rate / 2));
    const lateCount = paced * LATENESS_SECONDS;
    const lateDb = await timersSchema(url);
    await insertTimers(lateDb, orgs, lateCount, new Date(Date.now() + 3_000), 1_000 / paced);
    const late = await inThreads({
      role: 'timers',
      url,
      schema: lateDb.schema,
      target: lateCount,
      paced: true,
    });
    await lateDb.destroy();
    const lateness = late.results.flatMap((r) => r.lateMs).sort((a, b) => a - b);
    if (lateness.length < lateCount) throw new Error(`lateness run fired ${lateness.length} of ${lateCount}`);

    return {
      name: 'workflow-timers',
      value: rate,
      unit: 'timers/s',
      reference,
      details: {
        count: COUNT,
        replicas: `${REPLICAS} threads, ${CONCURRENCY} transactions at a time each, ${ROUND} timers a round, ${PER_ORG_BATCH} per org and transaction; pg-boss: ${REPLICAS} threads fetching ${ROUND} a time`,
        loadSeconds: loadSeconds.toFixed(1),
        timersSeconds: timers.seconds.toFixed(1),
        timersNodeCpuMsPerTimer: ((timers.cpuSeconds * 1000) / COUNT).toFixed(3),
        noopTimersPerSecond: (COUNT / noop.seconds).toFixed(0),
        noopTimersNodeCpuMsPerTimer: ((noop.cpuSeconds * 1000) / COUNT).toFixed(3),
        pgBossSeconds: boss.seconds.toFixed(1),
        pgBossNodeCpuMsPerJob: ((boss.cpuSeconds * 1000) / COUNT).toFixed(3),
        pacedRate: `${paced} timers/s for ${LATENESS_SECONDS} s (${lateCount} timers)`,
        latenessP50Ms: percentile(lateness, 50).toFixed(1),
        latenessP99Ms: percentile(lateness, 99).toFixed(1),
        latenessMaxMs: lateness[lateness.length - 1]!.toFixed(1),
      },
    };
  },
};
