import { linkSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeFsError } from './data-dir';
import { DataDirInUseError, DataDirNotWritableError } from './errors';

export type DataDirLock = {
  readonly file: string;
  /** Synchronous, so the process 'exit' hook can call it too; idempotent. */
  release(): void;
};

/**
 * Takes `<dataDir>/cmis.lock` (holding our pid). It is written aside and hard-linked into
 * place, which fails if the lock exists, so a lock never exists without its pid. A lock whose
 * pid is no longer alive was left by a crash and is taken over. Postgres' own postmaster.pid
 * stays a second line of defence should two processes take over one stale lock at once.
 */
export function lockDataDir(dataDir: string): DataDirLock {
  const file = join(dataDir, 'cmis.lock');
  const draft = `${file}.${process.pid}`;
  try {
    writeFileSync(draft, `${process.pid}\n`, { mode: 0o644 });
    for (let attempt = 0; ; attempt++) {
      try {
        linkSync(draft, file);
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 2) throw error;
      }
      const holder = readLockPid(file);
      if (holder !== undefined && isAlive(holder)) throw new DataDirInUseError(dataDir, holder, file);
      rmQuietly(file); // stale: its process is gone
    }
  } catch (error) {
    if (error instanceof DataDirInUseError) throw error;
    throw new DataDirNotWritableError(dataDir, `cannot create ${file}: ${describeFsError(error)}`);
  } finally {
    rmQuietly(draft);
  }
  let held = true;
  return {
    file,
    release() {
      if (!held) return;
      held = false;
      if (readLockPid(file) === process.pid) rmQuietly(file);
    },
  };
}

function rmQuietly(file: string): void {
  try {
    rmSync(file, { force: true });
  } catch {
    // nothing to clean up, or nowhere to clean it up from
  }
}

function readLockPid(file: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Signal 0 checks existence (EPERM: alive, someone else's); a zombie has died already. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  return !isZombie(pid);
}

function isZombie(pid: number): boolean {
  try {
    // "pid (comm) state ...": comm may hold spaces and parentheses, so read after the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return false; // no /proc: trust the signal
  }
}
