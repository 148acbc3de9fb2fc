import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import type { Logger } from '../logging';
import type { PostgresAccount } from './postgres-user';

export type EmbeddedPostgresLogger = Pick<Logger, 'debug' | 'info' | 'warn'>;

/** initdb or postgres, running as the Postgres account, its output kept for error messages. */
export type PostgresProcess = {
  readonly child: ChildProcess;
  /** Resolves once the process is gone, with how it ended ("exit code 1", "signal SIGKILL"). */
  readonly exited: Promise<string>;
  hasExited(): boolean;
  /** The last lines it wrote, for error messages. */
  recentLines(): string[];
  /** Lets Node exit while it runs (the 'exit' hook then stops it); terminate() holds Node again. */
  unref(): void;
  /** Sends the signal, escalating to SIGKILL if it is still there after `graceMs`; resolves on exit. */
  terminate(signal: NodeJS.Signals, graceMs: number): Promise<void>;
};

const KEPT_LINES = 40;

export function spawnPostgresProcess(
  binary: string,
  args: readonly string[],
  options: {
    account: PostgresAccount | undefined;
    env: Readonly<Record<string, string>>;
    logger?: EmbeddedPostgresLogger;
  },
): PostgresProcess {
  const child = spawn(binary, args, {
    // Its own process group: a terminal's Ctrl+C reaches us, and we stop Postgres when we are done with it.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    // English messages, whatever the machine's locale: we read them back (e.g. "could not bind").
    env: { ...process.env, ...options.env, LC_ALL: 'C', LANG: 'C' },
    ...(options.account ? { uid: options.account.uid, gid: options.account.gid } : {}),
  });
  const lines: string[] = [];
  const keep = (line: string) => {
    if (!line.trim()) return;
    lines.push(line);
    if (lines.length > KEPT_LINES) lines.shift();
    if (/\b(FATAL|PANIC):/.test(line)) options.logger?.warn({ postgres: line }, 'postgres log');
    else options.logger?.debug({ postgres: line }, 'postgres log');
  };
  for (const stream of [child.stdout, child.stderr]) {
    let partial = '';
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      parts.forEach(keep);
    });
    stream?.on('end', () => keep(partial));
  }
  let ended: string | undefined;
  const exited = new Promise<string>((resolve) => {
    child.once('error', (error) => {
      ended = `could not run ${binary}: ${error.message}`;
      resolve(ended);
    });
    child.once('close', (code, signal) => {
      ended ??= signal ? `signal ${signal}` : `exit code ${code ?? 'unknown'}`;
      resolve(ended);
    });
  });
  return {
    child,
    exited,
    hasExited: () => ended !== undefined,
    recentLines: () => [...lines],
    unref() {
      child.unref();
      for (const stream of [child.stdout, child.stderr]) (stream as Partial<Socket> | null)?.unref?.();
    },
    async terminate(signal, graceMs) {
      if (ended !== undefined) return;
      // Keep Node alive until it is gone.
      child.ref();
      for (const stream of [child.stdout, child.stderr]) (stream as Partial<Socket> | null)?.ref?.();
      send(child, signal);
      const escalation = setTimeout(() => send(child, 'SIGKILL'), graceMs);
      await exited;
      clearTimeout(escalation);
    },
  };
}

function send(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    child.kill(signal);
  } catch {
    // already gone
  }
}
