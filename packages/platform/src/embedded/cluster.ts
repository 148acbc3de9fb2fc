import { readFileSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import type { PostgresBinaries } from './binaries';
import { isAlive } from './data-dir-lock';
import { PortInUseError, PostgresStartError, PostgresStartTimeoutError } from './errors';
import { spawnPostgresProcess, type EmbeddedPostgresLogger, type PostgresProcess } from './postgres-process';
import { giveFolderTo, type PostgresAccount } from './postgres-user';

export const SUPERUSER = 'postgres';

export type ClusterContext = {
  readonly pgData: string;
  readonly binaries: PostgresBinaries;
  readonly account: PostgresAccount | undefined;
  readonly logger: EmbeddedPostgresLogger | undefined;
  readonly timeoutMs: number;
};

/**
 * initdb into a sibling folder and renames it into place once complete, so an interrupted
 * initialisation never leaves a half-made cluster where a restart would try to start it.
 */
export async function initialiseCluster(context: ClusterContext): Promise<void> {
  const { pgData, binaries, account } = context;
  const draft = `${pgData}.initdb`;
  await rm(draft, { recursive: true, force: true });
  await mkdir(draft, { mode: 0o700 });
  if (account) await giveFolderTo(account, draft);
  const initdb = spawnPostgresProcess(
    binaries.initdb,
    [
      `--pgdata=${draft}`,
      `--username=${SUPERUSER}`,
      // Reached only on 127.0.0.1 (see startPostmaster); createDatabase derives its app-role
      // URL from the superuser's by swapping the user, which needs trust.
      '--auth=trust',
      '--encoding=UTF8',
      // Collation and case rules built into Postgres: no dependence on the machine's locales.
      '--locale-provider=builtin',
      '--builtin-locale=C.UTF-8',
      '--locale=C',
      '--no-instructions',
    ],
    processOptions(context),
  );
  const finished = await within(initdb.exited, context.timeoutMs);
  if (finished !== 'exit code 0') {
    await initdb.terminate('SIGKILL', 0);
    await rm(draft, { recursive: true, force: true });
    const how = finished ?? `did not finish within ${context.timeoutMs} ms`;
    throw new PostgresStartError(pgData, 'initdb', how, initdb.recentLines());
  }
  await rename(draft, pgData);
}

/**
 * A postmaster still running on our data folder although we hold its lock was left behind by
 * a CMIS process that died without stopping it (e.g. SIGKILL); stop it before starting ours.
 */
export async function stopLeftoverPostmaster(context: ClusterContext): Promise<void> {
  const { pgData, logger } = context;
  let pid: number;
  try {
    pid = Number.parseInt(readFileSync(join(pgData, 'postmaster.pid'), 'utf8').split('\n')[0] ?? '', 10);
  } catch {
    return; // stopped cleanly
  }
  if (!Number.isSafeInteger(pid) || pid <= 0 || !isAlive(pid) || !isPostmasterOf(pid, pgData)) return;
  logger?.warn({ pid, pgData }, 'stopping a postgres left running by an earlier CMIS process');
  for (const [signal, graceMs] of [
    ['SIGINT', context.timeoutMs],
    ['SIGQUIT', 5_000],
    ['SIGKILL', 5_000],
  ] as const) {
    try {
      process.kill(pid, signal);
    } catch {
      return;
    }
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline) {
      if (!isAlive(pid)) return;
      await sleep(50);
    }
  }
}

function isPostmasterOf(pid: number, pgData: string): boolean {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return /(^|\/)postgres$/.test(argv[0] ?? '') && argv.includes(pgData);
  } catch {
    return false; // no /proc, or not ours to read: let postgres' own postmaster.pid check speak
  }
}

function processOptions({ account, binaries, logger }: ClusterContext) {
  return { account, env: binaries.env, logger };
}

function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export function superuserUrl(port: number, database: string): string {
  return `postgres://${SUPERUSER}@127.0.0.1:${port}/${database}`;
}

/** Starts the postmaster and resolves once it answers queries; on any failure it is gone. */
export async function startPostmaster(context: ClusterContext, port: number): Promise<PostgresProcess> {
  const { pgData, binaries } = context;
  const postmaster = spawnPostgresProcess(
    binaries.postgres,
    [
      '-D',
      pgData,
      '-p',
      String(port),
      '-c',
      'listen_addresses=127.0.0.1',
      // TCP only: no socket file in /tmp to clash with a system Postgres on the same port number.
      '-c',
      'unix_socket_directories=',
      // Every service runs in this one process, each with its own pools.
      '-c',
      'max_connections=200',
    ],
    processOptions(context),
  );
  postmaster.unref();
  try {
    await waitUntilReady(context, postmaster, port);
    return postmaster;
  } catch (error) {
    await postmaster.terminate('SIGINT', 5_000);
    throw error;
  }
}

async function waitUntilReady(
  context: ClusterContext,
  postmaster: PostgresProcess,
  port: number,
): Promise<void> {
  const deadline = Date.now() + context.timeoutMs;
  let lastProbeError: string | undefined;
  for (;;) {
    if (postmaster.hasExited()) {
      const lines = postmaster.recentLines();
      if (lines.some((line) => /could not bind .*Address already in use/.test(line))) {
        throw new PortInUseError(port);
      }
      throw new PostgresStartError(context.pgData, 'postmaster', await postmaster.exited, lines);
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      throw new PostgresStartTimeoutError(context.timeoutMs, postmaster.recentLines(), lastProbeError);
    }
    try {
      if ((await dataDirectoryAt(port, Math.min(remaining, 1_000))) === context.pgData) return;
      lastProbeError = 'another Postgres answers on this port';
    } catch (error) {
      lastProbeError = (error as Error).message;
    }
    await Promise.race([postmaster.exited, sleep(50)]);
  }
}

/** The data folder of the server answering on the port: it proves the server is ours. */
async function dataDirectoryAt(port: number, timeoutMs: number): Promise<string | undefined> {
  // Both bounds matter when something other than Postgres holds the port and never answers.
  const client = new Client({
    connectionString: superuserUrl(port, 'postgres'),
    connectionTimeoutMillis: timeoutMs,
    query_timeout: timeoutMs,
  });
  client.on('error', () => undefined); // a failed probe is reported by connect/query
  await client.connect(); // a client that never connected must not be ended: end() would wait forever
  try {
    const { rows } = await client.query<{ data_directory: string }>('show data_directory');
    return rows[0]?.data_directory;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Creates the database on first start; later starts find it. */
export async function ensureDatabase(port: number, database: string): Promise<void> {
  const client = new Client({ connectionString: superuserUrl(port, 'postgres') });
  await client.connect();
  try {
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [database]);
    if (!rowCount) await client.query(`create database ${client.escapeIdentifier(database)}`);
  } finally {
    await client.end();
  }
}
