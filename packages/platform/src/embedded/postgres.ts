import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { locatePostgresBinaries } from './binaries';
import {
  ensureDatabase,
  initialiseCluster,
  startPostmaster,
  stopLeftoverPostmaster,
  superuserUrl,
  type ClusterContext,
} from './cluster';
import { ensureWritableDir, pgDataState } from './data-dir';
import { lockDataDir } from './data-dir-lock';
import { EmbeddedPostgresError, PortInUseError } from './errors';
import { stopOnExit } from './exit-hooks';
import type { EmbeddedPostgresLogger, PostgresProcess } from './postgres-process';
import { assertAccountCanReach, giveFolderTo, letAccountThrough, postgresAccount } from './postgres-user';

/** Fixed, so a restart finds the same URL; off the usual 5432 to stay clear of a local Postgres. */
export const DEFAULT_EMBEDDED_POSTGRES_PORT = 54329;
/** The database created on first start, named in the returned URL. */
export const EMBEDDED_DATABASE = 'cmis';

export type EmbeddedPostgresOptions = {
  /** CMIS' data folder (see defaultDataDir); Postgres keeps its cluster in `<dataDir>/postgres`. */
  dataDir: string;
  /** TCP port on 127.0.0.1; DEFAULT_EMBEDDED_POSTGRES_PORT unless given. */
  port?: number;
  logger?: EmbeddedPostgresLogger;
  /** Deadline for initdb, and for Postgres to accept connections (crash recovery included). */
  startTimeoutMs?: number;
};

export type EmbeddedPostgres = {
  /** Superuser URL of the `cmis` database, trusted on 127.0.0.1 only; fit for createDatabase. */
  readonly url: string;
  readonly dataDir: string;
  readonly port: number;
  /** Fast shutdown (open sessions are ended), then releases the data folder; idempotent. */
  stop(): Promise<void>;
};

const STOP_GRACE_MS = 30_000;

/**
 * Starts (initialising on first use) a private Postgres over `<dataDir>/postgres`, holding
 * `<dataDir>/cmis.lock` while it runs. Rejects with an EmbeddedPostgresError subclass and
 * leaves nothing running when it cannot start. The running Postgres does not keep Node alive
 * by itself: if the process ends without stop(), Postgres is sent its fast-shutdown signal.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const started = Date.now();
  const dataDir = resolve(options.dataDir);
  const port = options.port ?? DEFAULT_EMBEDDED_POSTGRES_PORT;
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new EmbeddedPostgresError(`port must be an integer from 1 to 65535, got ${port}`);
  }
  const { logger } = options;
  await ensureWritableDir(dataDir);
  const lock = lockDataDir(dataDir);
  let postmaster: PostgresProcess | undefined;
  let initialisedNow = false;
  try {
    const context: ClusterContext = {
      pgData: join(dataDir, 'postgres'),
      binaries: locatePostgresBinaries(join(dataDir, 'postgres-libs')),
      account: await postgresAccount(),
      logger,
      timeoutMs: options.startTimeoutMs ?? 60_000,
    };
    const { account, binaries, pgData } = context;
    if (account) {
      await letAccountThrough(dataDir);
      await assertAccountCanReach(account, dataDir, [binaries.initdb, binaries.postgres]);
    }
    if ((await pgDataState(pgData)) === 'new') {
      await initialiseCluster(context);
      initialisedNow = true;
    } else {
      await stopLeftoverPostmaster(context);
      // Someone else's after a copy or restore, say; Postgres insists on owning it.
      if (account) await giveFolderTo(account, pgData);
    }
    await assertPortFree(port);
    postmaster = await startPostmaster(context, port);
    await ensureDatabase(port, EMBEDDED_DATABASE);
  } catch (error) {
    await postmaster?.terminate('SIGINT', 5_000);
    lock.release();
    throw error;
  }

  const running = postmaster;
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= running.terminate('SIGINT', STOP_GRACE_MS).finally(() => {
      lock.release();
      unregister();
      logger?.info({ dataDir, port }, 'embedded postgres stopped');
    });
    return stopping;
  };
  const unregister = stopOnExit({
    stop,
    stopNow() {
      if (!running.hasExited()) running.child.kill('SIGINT');
      lock.release();
    },
  });
  // Postgres stopping on its own (crash, kill) ends our hold on the folder too.
  void running.exited.then((how) => {
    if (stopping) return;
    logger?.warn({ dataDir, port, how }, 'embedded postgres exited without being stopped');
    void stop();
  });

  const url = superuserUrl(port, EMBEDDED_DATABASE);
  logger?.info({ dataDir, port, initialisedNow, ms: Date.now() - started }, 'embedded postgres ready');
  return { url, dataDir, port, stop };
}

/** Checked before starting so the error names the port; postgres' own bind error maps to the same. */
function assertPortFree(port: number): Promise<void> {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.unref();
    probe.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE'
          ? new PortInUseError(port)
          : new EmbeddedPostgresError(`cannot listen on port ${port}: ${error.message}`),
      ),
    );
    probe.listen({ port, host: '127.0.0.1', exclusive: true }, () => probe.close(() => resolvePort()));
  });
}
