import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './process';

/** The CMIS services, in the order a stack starts them (producers of the topics others read first). */
export const CMIS_SERVICES = ['triggers', 'rules', 'workflows', 'drip', 'email', 'analytics'] as const;
export type CmisServiceName = (typeof CMIS_SERVICES)[number];

const REPO_ROOT = join(__dirname, '..', '..', '..');

async function pollUntil(probe: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * One CMIS service as in production: `node services/<name>/dist/main.js` in its own process,
 * its output appended to a log file. Kill it (SIGKILL for a crash) and start it again on the
 * same port; exits nobody asked for are counted.
 */
export class ServiceProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private expectedExit = false;
  readonly url: string;
  /** Exits nobody asked for (a crash under a fault, or a process that died on its own). */
  unexpectedExits = 0;

  constructor(
    readonly name: CmisServiceName,
    readonly port: number,
    private readonly env: Record<string, string>,
    readonly logFile: string,
    private readonly readyTimeoutMs = 240_000,
  ) {
    this.url = `http://127.0.0.1:${port}`;
  }

  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Spawns the process and resolves once `/readyz` answers 200. */
  async start(): Promise<void> {
    this.spawn();
    await this.waitReady();
  }

  /** Spawns the process without waiting for it to be ready. */
  spawn(): void {
    if (this.running) throw new Error(`${this.name} is already running`);
    const log = openSync(this.logFile, 'a');
    const child = spawn(process.execPath, [join(REPO_ROOT, 'services', this.name, 'dist', 'main.js')], {
      env: { ...process.env, ...this.env, HTTP_PORT: String(this.port) },
      stdio: ['ignore', log, log],
    });
    closeSync(log);
    this.child = child;
    this.expectedExit = false;
    this.exited = new Promise((resolve) =>
      child.once('exit', () => {
        if (!this.expectedExit && this.child === child) this.unexpectedExits += 1;
        resolve();
      }),
    );
  }

  /** Resolves once `/readyz` answers 200; fails early with the log's tail if the process exits. */
  async waitReady(timeoutMs = this.readyTimeoutMs): Promise<void> {
    await pollUntil(
      async () => {
        if (!this.running) throw new Error(`${this.name} exited while starting:\n${this.logTail()}`);
        const res = await fetch(`${this.url}/readyz`, { signal: AbortSignal.timeout(5_000) }).catch(
          () => undefined,
        );
        return res?.status === 200;
      },
      timeoutMs,
      `${this.name} to be ready`,
    );
  }

  /** Sends `signal` and waits for the process to be gone (no-op when it is not running). */
  async kill(signal: 'SIGKILL' | 'SIGTERM' = 'SIGTERM'): Promise<void> {
    if (!this.running) return;
    this.expectedExit = true;
    this.child!.kill(signal);
    await this.exited;
  }

  /** Kills (SIGKILL by default) and starts again; resolves once ready. */
  async restart(signal: 'SIGKILL' | 'SIGTERM' = 'SIGKILL'): Promise<void> {
    await this.kill(signal);
    await this.start();
  }

  logTail(lines = 40): string {
    try {
      return readFileSync(this.logFile, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log yet)';
    }
  }
}

export interface ServiceStackOptions {
  /** Folder for the services' log files (`<service>.log`). */
  workDir: string;
  kafkaBrokers: string[];
  schemaRegistryUrl?: string;
  /**
   * A database of the stack's own: the services keep their schemas under fixed names, so two
   * stacks on one database would share state (createScratchDatabase gives one).
   */
  databaseUrl: string;
  redisUrl: string;
  /** Mints the stack's orgs and keys over each service's `/admin` routes (16+ characters). */
  adminToken: string;
  /** Which services to run (default all, in CMIS_SERVICES order). */
  services?: readonly CmisServiceName[];
  /** Env for every service, on top of the stack's (e.g. OTEL_EXPORTER_OTLP_ENDPOINT, LOG_LEVEL). */
  env?: Record<string, string>;
  /** Env for one service only (e.g. EMAIL_SMTP_URL for email). */
  serviceEnv?: Partial<Record<CmisServiceName, Record<string, string>>>;
  readyTimeoutMs?: number;
}

export interface StackOrg {
  orgId: string;
  /** An API key with every scope (`*`). */
  apiKey: string;
}

export interface ServiceStack {
  readonly services: Partial<Record<CmisServiceName, ServiceProcess>>;
  /** The running service; throws when the stack was started without it. */
  service(name: CmisServiceName): ServiceProcess;
  /** An org with an all-scopes API key, created through the admin API. */
  createOrg(name: string): Promise<StackOrg>;
  /** SIGTERM to every service (graceful shutdown), in reverse start order. */
  stop(): Promise<void>;
}

/**
 * Every service (or the chosen ones) in its own process on the given Kafka, registry, Postgres
 * and Redis, each on a free port; resolves once each answers `/readyz`. Services start one after
 * the other: each bootstraps its schema and topics, and on two cores a parallel start only
 * makes every one of them slower.
 */
export async function startServiceStack(options: ServiceStackOptions): Promise<ServiceStack> {
  const names = options.services ?? CMIS_SERVICES;
  const baseEnv: Record<string, string> = {
    KAFKA_BROKERS: options.kafkaBrokers.join(','),
    ...(options.schemaRegistryUrl ? { SCHEMA_REGISTRY_URL: options.schemaRegistryUrl } : {}),
    DATABASE_URL: options.databaseUrl,
    REDIS_URL: options.redisUrl,
    CMIS_ADMIN_TOKEN: options.adminToken,
    LOG_LEVEL: 'warn',
    KAFKAJS_NO_PARTITIONER_WARNING: '1',
    ...options.env,
  };
  const services: Partial<Record<CmisServiceName, ServiceProcess>> = {};
  const started: ServiceProcess[] = [];
  const stop = async () => {
    for (const s of [...started].reverse()) await s.kill('SIGTERM');
  };
  try {
    for (const name of names) {
      const service = new ServiceProcess(
        name,
        await freePort(),
        { ...baseEnv, ...options.serviceEnv?.[name] },
        join(options.workDir, `${name}.log`),
        options.readyTimeoutMs,
      );
      services[name] = service;
      started.push(service);
      await service.start();
    }
  } catch (error) {
    await stop();
    throw error;
  }
  const service = (name: CmisServiceName) => {
    const s = services[name];
    if (!s) throw new Error(`the stack runs no ${name} service`);
    return s;
  };
  return {
    services,
    service,
    async createOrg(name) {
      const admin = service(names[0]!);
      const post = async (path: string, body: unknown) => {
        const res = await fetch(`${admin.url}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${options.adminToken}` },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(30_000),
        });
        const answer = (await res.json()) as Record<string, unknown>;
        if (res.status !== 201) throw new Error(`POST ${path}: ${res.status} ${JSON.stringify(answer)}`);
        return answer;
      };
      const org = await post('/admin/orgs', { name });
      const orgId = org.orgId as string;
      const key = await post(`/admin/orgs/${orgId}/keys`, { scopes: ['*'] });
      return { orgId, apiKey: key.key as string };
    },
    stop,
  };
}
