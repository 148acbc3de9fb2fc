import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** A JVM (or any process) started in its own process group, logging to a file. */
export interface ManagedProcess {
  readonly name: string;
  readonly logFile: string;
  readonly child: ChildProcess;
  /** Resolves with the exit code once the process is gone. */
  readonly exited: Promise<number | null>;
  stop(graceMs?: number): Promise<void>;
}

const running = new Set<ManagedProcess>();
let exitHookInstalled = false;

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (!pid) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

/** Kills every process group the kit started; runs on exit and on SIGINT/SIGTERM. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  const killAll = () => {
    for (const p of running) killGroup(p.child.pid, 'SIGKILL');
  };
  process.once('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killAll();
      process.exit(130);
    });
  }
}

/**
 * Starts `command` detached in a new process group with output in `logFile`, and a
 * watchdog that kills the group if this Node process dies without cleaning up (even by
 * SIGKILL), so an interrupted run never leaves a JVM behind.
 */
export function startProcess(name: string, command: string, args: string[], logFile: string): ManagedProcess {
  installExitHook();
  const fd = openSync(logFile, 'a');
  const child = spawn(command, args, { detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  if (child.pid) {
    const watchdog = spawn(
      'sh',
      [
        '-c',
        `while kill -0 ${process.pid} 2>/dev/null && kill -0 ${child.pid} 2>/dev/null; do sleep 1; done; ` +
          `kill -TERM -${child.pid} 2>/dev/null; sleep 5; kill -KILL -${child.pid} 2>/dev/null; true`,
      ],
      { detached: true, stdio: 'ignore' },
    );
    watchdog.unref();
  }
  const managed: ManagedProcess = {
    name,
    logFile,
    child,
    exited,
    async stop(graceMs = 10_000) {
      running.delete(managed);
      if (child.exitCode !== null || child.signalCode !== null) return;
      killGroup(child.pid, 'SIGTERM');
      const timer = setTimeout(() => killGroup(child.pid, 'SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  running.add(managed);
  child.unref();
  return managed;
}

export function tail(file: string, lines = 40): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch (err) {
    return `(no log at ${file}: ${(err as Error).message})`;
  }
}

/** Ports this process was already given: the kernel may offer a closed one again at once. */
const handedOut = new Set<number>();

/**
 * An unused TCP port on 127.0.0.1, chosen by the kernel, and never one this process was given
 * before (a broker's listener and controller asked for one after the other once got the same).
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await kernelPort();
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error('no TCP port on 127.0.0.1 that this process was not given already');
}

function kernelPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export class InfraStartError extends Error {
  constructor(
    message: string,
    readonly logTail: string,
  ) {
    super(`${message}\n--- last log lines ---\n${logTail}`);
    this.name = 'InfraStartError';
  }
}

/**
 * Polls `probe` until it returns true, the process exits, or the deadline passes; never
 * waits past the deadline. Failure messages name the cause and carry the log tail.
 */
export async function waitUntilReady(
  proc: ManagedProcess,
  probe: () => Promise<boolean>,
  deadlineMs: number,
  /** Log lines that mean the process cannot come up (a JVM may linger long after them). */
  fatal?: RegExp,
): Promise<void> {
  const started = Date.now();
  let exitCode: number | null | undefined;
  void proc.exited.then((code) => (exitCode = code));
  let lastError = '';
  while (Date.now() - started < deadlineMs) {
    const fatalLine = fatal
      ? tail(proc.logFile, 400)
          .split('\n')
          .find((l) => fatal.test(l))
      : undefined;
    if (exitCode !== undefined) {
      const cause = fatalLine ? `: ${fatalLine.trim()}` : '';
      throw new InfraStartError(
        `${proc.name} exited with code ${exitCode} before it was ready${cause}`,
        tail(proc.logFile),
      );
    }
    if (fatalLine) {
      await proc.stop(2_000);
      throw new InfraStartError(`${proc.name} failed to start: ${fatalLine.trim()}`, tail(proc.logFile));
    }
    try {
      if (await probe()) return;
    } catch (err) {
      lastError = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  await proc.stop(2_000);
  throw new InfraStartError(
    `${proc.name} was not ready within ${deadlineMs / 1000}s${lastError ? ` (last probe error: ${lastError})` : ''}`,
    tail(proc.logFile),
  );
}
