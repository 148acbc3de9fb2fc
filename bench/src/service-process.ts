import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { freePort, until, type Infra } from '@cmis/testkit';

export const BENCH_ADMIN_TOKEN = 'bench-admin-token-0123456789abcdef';

export interface ServiceProcess {
  url: string;
  child: ChildProcess;
  /** CPU seconds (user + system) the service process has used so far; undefined off Linux. */
  cpuSeconds(): number | undefined;
  /** Resident and peak resident memory (VmRSS, VmHWM) in MB; undefined off Linux. */
  memoryMb(): { rss: number; peak: number } | undefined;
  stop(): Promise<void>;
}

/** VmRSS and VmHWM of a process from /proc/<pid>/status (kB), in MB. */
function processMemoryMb(pid: number | undefined): { rss: number; peak: number } | undefined {
  if (pid === undefined) return undefined;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]);
    const [rss, peak] = [kb('VmRSS'), kb('VmHWM')];
    return Number.isNaN(rss) || Number.isNaN(peak) ? undefined : { rss: rss / 1024, peak: peak / 1024 };
  } catch {
    return undefined;
  }
}

/** utime + stime of a process from /proc (clock ticks of 10 ms), in seconds. */
function processCpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

/** Polls `probe` until it is true; throws naming `what` at the deadline. */
export async function pollUntil(
  probe: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  if (!(await until(probe, (ok) => ok, { timeoutMs }))) {
    throw new Error(`bench: ${what} not ready in ${timeoutMs} ms`);
  }
}

/**
 * A service as in production: its own process (services/<name>/dist/main.js) on the kit's Kafka,
 * registry, Postgres and Redis, resolved once /readyz answers 200. `nodeArgs` (e.g.
 * `--cpu-prof --cpu-prof-dir=/tmp/prof`) go to node before the script, to profile the service.
 * `options.env` is added to (and overrides) the environment; `options.port` fixes the HTTP port,
 * for settings that must name it before the service starts (the email service's public URL).
 */
export async function startServiceProcess(
  name: 'triggers' | 'rules' | 'email' | 'workflows' | 'drip' | 'analytics',
  infra: Infra,
  nodeArgs: string | undefined,
  options: { env?: Record<string, string>; port?: number } = {},
): Promise<ServiceProcess> {
  const port = options.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(
    process.execPath,
    [
      ...(nodeArgs ?? '').split(' ').filter(Boolean),
      resolve(__dirname, `../../services/${name}/dist/main.js`),
    ],
    {
      env: {
        ...process.env,
        HTTP_PORT: String(port),
        KAFKA_BROKERS: infra.kafkaBrokers.join(','),
        SCHEMA_REGISTRY_URL: infra.schemaRegistryUrl,
        DATABASE_URL: infra.databaseUrl,
        REDIS_URL: infra.redisUrl,
        CMIS_ADMIN_TOKEN: BENCH_ADMIN_TOKEN,
        LOG_LEVEL: 'warn',
        KAFKAJS_NO_PARTITIONER_WARNING: '1',
        // The benches measure the pipeline, not ingest's limiter.
        TRIGGERS_ORG_EVENTS_PER_SECOND: '10000000',
        TRIGGERS_SOURCE_EVENTS_PER_SECOND: '10000000',
        ...options.env,
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const stop = async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
  };
  try {
    await pollUntil(
      async () => (await fetch(`${url}/readyz`).catch(() => undefined))?.status === 200,
      60_000,
      `${name} readyz`,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    url,
    child,
    cpuSeconds: () => processCpuSeconds(child.pid),
    memoryMb: () => processMemoryMb(child.pid),
    stop,
  };
}
