// The README's run command (`cmis up --demo`) with nothing configured: embedded Postgres, the
// embedded bus and in-memory Redis helpers, every service in one process. The child process gets
// no KAFKA_BROKERS / DATABASE_URL / REDIS_URL / SCHEMA_REGISTRY_URL.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCodec, ruleActionsTopic, type ActionRequested } from '@cmis/contracts';
import { createEmbeddedBus, type Bus } from '@cmis/platform';
import { freePort, uniqueName } from '@cmis/testkit';

const CLI = join(__dirname, '..', 'packages', 'cli', 'dist', 'main.js');

interface Cmis {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function startCmis(env: Record<string, string>, args = ['up', '--demo']): Cmis {
  const clean = { ...process.env };
  for (const name of [
    'KAFKA_BROKERS',
    'SCHEMA_REGISTRY_URL',
    'DATABASE_URL',
    'REDIS_URL',
    'CMIS_ADMIN_TOKEN',
  ]) {
    delete clean[name];
  }
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...clean, LOG_LEVEL: 'warn', ...env } });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

async function waitForOutput(cmis: Cmis, pattern: RegExp, timeoutMs = 90_000): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  let exitCode: number | null | undefined;
  void cmis.exited.then((c) => (exitCode = c));
  for (;;) {
    const match = cmis.output().match(pattern);
    if (match) return match;
    if (exitCode !== undefined)
      throw new Error(`cmis exited (${exitCode}) before ${pattern}:\n${cmis.output()}`);
    if (Date.now() > deadline) throw new Error(`no ${pattern} within ${timeoutMs} ms:\n${cmis.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function stopCmis(cmis: Cmis, signal: NodeJS.Signals = 'SIGINT'): Promise<number | null> {
  if (cmis.child.exitCode === null && cmis.child.signalCode === null) cmis.child.kill(signal);
  return cmis.exited;
}

/** Pause requests of one org on the embedded bus's actions topic, read by a fresh group. */
async function pauseRequests(databaseUrl: string, orgId: string, expected: number, timeoutMs = 60_000) {
  const bus: Bus = createEmbeddedBus({ databaseUrl, clientId: uniqueName('reader') });
  const codec = createCodec({});
  const seen: Array<ActionRequested & { eventId: string }> = [];
  const ids = new Set<string>();
  let done: () => void = () => undefined;
  const enough = new Promise<void>((r) => (done = r));
  const sub = await bus.subscribe({
    groupId: uniqueName('reader'),
    topics: [ruleActionsTopic.name],
    handleBatch: async (batch) => {
      for (const message of batch.messages) {
        const envelope = await codec.decode(ruleActionsTopic.name, {
          value: message.value,
          headers: message.headers,
        });
        const data = envelope.data as ActionRequested;
        // At-least-once: a redelivered copy keeps its event id, and consumers deduplicate on it.
        if (envelope.orgId !== orgId || data.action.kind !== 'pause_campaign' || ids.has(envelope.id))
          continue;
        ids.add(envelope.id);
        seen.push({ ...data, eventId: envelope.id });
      }
      if (seen.length >= expected) done();
    },
  });
  await Promise.race([enough, new Promise((r) => setTimeout(r, timeoutMs))]);
  // A little longer: a duplicate would arrive right behind the expected ones.
  await new Promise((r) => setTimeout(r, 1_500));
  await sub.stop();
  await bus.close();
  return seen;
}

function killLeftoverPostgres(dir: string): void {
  try {
    const pid = Number(readFileSync(join(dir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]);
    if (pid > 0) process.kill(pid, 'SIGQUIT');
  } catch {
    // no postmaster.pid: nothing left running
  }
}

describe('cmis up on the embedded default', () => {
  let dataDir: string;
  const running: Cmis[] = [];
  beforeAll(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'cmis-e2e-'));
  });
  afterAll(async () => {
    for (const c of running) await stopCmis(c, 'SIGKILL');
    // A SIGKILLed platform leaves its Postgres behind (the next start would stop it): stop it here.
    killLeftoverPostgres(dataDir);
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function up(env: Record<string, string>) {
    const cmis = startCmis(env);
    running.push(cmis);
    const [, url] = await waitForOutput(cmis, /CMIS ready: (http:\/\/\S+)/);
    return { cmis, url: url! };
  }

  it('comes up with nothing configured, is ready, and a demo event goes through triggers, rules and email; a restart mid-stream loses and repeats nothing', async () => {
    const env = {
      CMIS_DATA_DIR: dataDir,
      HTTP_PORT: String(await freePort()),
      CMIS_EMBEDDED_PG_PORT: String(await freePort()),
      EMAIL_SMTP_RECEIVER_PORT: String(await freePort()),
    };
    const { cmis, url } = await up(env);
    const out = cmis.output();
    expect(out).toContain('transport    embedded bus');
    expect(out).toContain('database     embedded Postgres');
    expect(out).toContain('to run on clusters, set KAFKA_BROKERS');
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(200);

    const orgId = out.match(/demo org ([0-9a-f-]{36})/)![1]!;
    const writeKey = out.match(/write key:\s+(\S+)/)![1]!;
    const databaseUrl = out.match(/embedded Postgres (postgres:\/\/\S+)/)![1]!;
    const basic = `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`;
    const metrics = (entityId: string, cpa: number) =>
      fetch(`${url}/triggers/v1/metrics`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: basic },
        body: JSON.stringify({ entityType: 'campaign', entityId, metrics: { cpa, spend: 500 } }),
      });

    // The demo's "Pause high CPA campaigns" rule reacts to a campaign over cpa 50.
    expect((await metrics('demo-campaign', 55)).status).toBeLessThan(300);
    const first = await pauseRequests(databaseUrl, orgId, 1);
    expect(first.map((a) => a.action)).toEqual([
      expect.objectContaining({ kind: 'pause_campaign', campaignId: 'demo-campaign' }),
    ]);
    // The demo's welcome email and the rule's notification, sent over SMTP to the dev inbox.
    const inbox = async () =>
      (
        (await (
          await fetch(`${url}/email/dev-inbox`, { headers: { accept: 'application/json' } })
        ).json()) as {
          messages: Array<{ subject: string; recipients: string[] }>;
        }
      ).messages;
    const deadline = Date.now() + 60_000;
    let seen = await inbox();
    while (seen.length < 2 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      seen = await inbox();
    }
    expect(seen.map((m) => [m.recipients, m.subject]).sort()).toEqual([
      [['ada@example.com'], 'Welcome to Demo Org, Ada'],
      [['manager@example.com'], 'Campaign demo-campaign paused: CPA exceeded threshold'],
    ]);
    expect(out).toMatch(/dev inbox: http:\/\/\S+\/email\/dev-inbox/);

    // 30 more campaigns, then the process is killed while the rules service works through them.
    for (let i = 0; i < 30; i += 1) expect((await metrics(`cmp-${i}`, 60 + i)).status).toBeLessThan(300);
    await stopCmis(cmis, 'SIGKILL');

    const again = await up(env);
    expect(again.cmis.output()).toContain('demo (loaded on an earlier start');
    const all = await pauseRequests(databaseUrl, orgId, 31);
    const campaigns = all.map((a) => (a.action as { campaignId: string }).campaignId).sort();
    // Every campaign paused once: nothing lost, and no event applied twice (no second firing).
    expect(campaigns).toEqual(['demo-campaign', ...Array.from({ length: 30 }, (_, i) => `cmp-${i}`)].sort());
    expect(await stopCmis(again.cmis, 'SIGINT')).toBe(0);
  });

  it('refuses a taken port, a second instance on one data folder, an unwritable and a corrupt data folder, each with a clear message and a non-zero exit', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const takenPort = (blocker.address() as { port: number }).port;
    const own = mkdtempSync(join(tmpdir(), 'cmis-e2e-bad-'));
    chmodSync(own, 0o755); // postgres runs as its own account and must reach the data folders
    try {
      const portTaken = startCmis({ CMIS_DATA_DIR: join(own, 'a'), HTTP_PORT: String(takenPort) });
      expect(await portTaken.exited).toBe(1);
      expect(portTaken.output()).toMatch(new RegExp(`port ${takenPort} is already in use`));

      const first = await up({
        CMIS_DATA_DIR: join(own, 'shared'),
        HTTP_PORT: String(await freePort()),
        CMIS_EMBEDDED_PG_PORT: String(await freePort()),
        EMAIL_SMTP_RECEIVER_PORT: String(await freePort()),
      });
      const second = startCmis({
        CMIS_DATA_DIR: join(own, 'shared'),
        HTTP_PORT: String(await freePort()),
        CMIS_EMBEDDED_PG_PORT: String(await freePort()),
      });
      expect(await second.exited).toBe(1);
      expect(second.output()).toMatch(/already in use by process/);
      expect((await fetch(`${first.url}/readyz`)).status).toBe(200);
      expect(await stopCmis(first.cmis)).toBe(0);

      writeFileSync(join(own, 'a-file'), 'not a folder');
      const unwritable = startCmis({
        CMIS_DATA_DIR: join(own, 'a-file', 'cmis'),
        HTTP_PORT: String(await freePort()),
      });
      expect(await unwritable.exited).toBe(1);
      expect(unwritable.output()).toMatch(/not writable/);

      mkdirSync(join(own, 'corrupt', 'postgres'), { recursive: true });
      writeFileSync(join(own, 'corrupt', 'postgres', 'PG_VERSION'), 'garbage\n');
      const corrupt = startCmis({
        CMIS_DATA_DIR: join(own, 'corrupt'),
        HTTP_PORT: String(await freePort()),
        CMIS_EMBEDDED_PG_PORT: String(await freePort()),
      });
      expect(await corrupt.exited).toBe(1);
      expect(corrupt.output()).toMatch(/postgres failed on \S*corrupt\/postgres/);
    } finally {
      blocker.close();
      killLeftoverPostgres(join(own, 'shared'));
      rmSync(own, { recursive: true, force: true });
    }
  });
});
