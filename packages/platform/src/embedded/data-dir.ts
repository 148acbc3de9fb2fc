import { constants } from 'node:fs';
import { access, mkdir, readdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { DataDirCorruptError, DataDirNotWritableError } from './errors';

/**
 * `$CMIS_DATA_DIR`, else `${XDG_DATA_HOME:-~/.local/share}/cmis` (XDG base directory spec).
 * As root, without either, `/var/lib/cmis`: Postgres refuses to run as root and runs as the
 * `postgres` account, which cannot reach into /root.
 */
export function defaultDataDir(
  env: NodeJS.ProcessEnv = process.env,
  home: string = homedir(),
  uid: number | undefined = process.getuid?.(),
): string {
  if (env.CMIS_DATA_DIR) return resolve(env.CMIS_DATA_DIR);
  if (uid === 0 && !env.XDG_DATA_HOME) return '/var/lib/cmis';
  // The spec says a relative XDG_DATA_HOME is invalid and must be ignored.
  const xdg = env.XDG_DATA_HOME && isAbsolute(env.XDG_DATA_HOME) ? env.XDG_DATA_HOME : undefined;
  return join(xdg ?? join(home, '.local', 'share'), 'cmis');
}

/** Creates the folder if needed and proves this process can write into it. */
export async function ensureWritableDir(dataDir: string): Promise<void> {
  try {
    await mkdir(dataDir, { recursive: true });
    await access(dataDir, constants.W_OK | constants.X_OK);
  } catch (error) {
    throw new DataDirNotWritableError(dataDir, describeFsError(error));
  }
}

/** `new`: initdb it; `initialised`: start it as is. Anything else is refused. */
export async function pgDataState(pgData: string): Promise<'new' | 'initialised'> {
  let entries: string[];
  try {
    entries = await readdir(pgData);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'new';
    throw new DataDirCorruptError(pgData, describeFsError(error));
  }
  if (entries.length === 0) return 'new';
  if (!entries.includes('PG_VERSION')) {
    throw new DataDirCorruptError(pgData, 'it is not empty but has no PG_VERSION file');
  }
  return 'initialised';
}

export function describeFsError(error: unknown): string {
  const { code, message } = error as NodeJS.ErrnoException;
  const text = String(message ?? error);
  return code && !text.startsWith(code) ? `${code}: ${text}` : text;
}
