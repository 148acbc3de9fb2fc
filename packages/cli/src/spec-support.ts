// For the CLI's int specs: the built binary run as an operator would, and one service process
// on the test infrastructure with an org and key of its own.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { startServiceProcess, type CreateService, type RunningServiceProcess } from '@cmis/platform';
import { testEnv, uniqueName, until } from '@cmis/testkit';

const BINARY = join(__dirname, '..', 'dist', 'main.js');

export function infraEnv(): {
  KAFKA_BROKERS: string;
  SCHEMA_REGISTRY_URL: string;
  DATABASE_URL: string;
  REDIS_URL: string;
} {
  const env = testEnv();
  return {
    KAFKA_BROKERS: env.kafkaBrokers!.join(','),
    SCHEMA_REGISTRY_URL: env.schemaRegistryUrl!,
    DATABASE_URL: env.databaseUrl,
    REDIS_URL: env.redisUrl,
  };
}

/** Runs `node packages/cli/dist/main.js <args>`; resolves with its exit code and output. */
export function runCli(
  args: string[],
  env: Record<string, string | undefined>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BINARY, ...args],
      { env: { PATH: process.env.PATH, OTEL_SDK_DISABLED: 'true', ...env }, timeout: 90_000 },
      (error, stdout, stderr) =>
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

export const ADMIN_TOKEN = 'cli-spec-admin-token-0123456789abcdef';

export interface SpecService {
  proc: RunningServiceProcess;
  /** The service's Postgres schema (its name, unique per spec). */
  schema: string;
  // Response bodies are read loosely; each spec asserts the shape it relies on.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  call(method: string, path: string, key?: string, body?: unknown): Promise<{ status: number; body: any }>;
  /** A fresh org and a key the service has projected. */
  newOrg(scopes: string[], probe: string): Promise<{ orgId: string; key: string; keyId: string }>;
}

export async function startSpecService(prefix: string, create: CreateService): Promise<SpecService> {
  const name = uniqueName(prefix);
  const proc = await startServiceProcess(
    { service: name, httpPort: 0, create },
    { ...infraEnv(), CMIS_ADMIN_TOKEN: ADMIN_TOKEN, LOG_LEVEL: 'silent' },
  );
  const call: SpecService['call'] = async (method, path, key, body) => {
    const res = await fetch(`${proc.url}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  return {
    proc,
    schema: name.replace(/-/g, '_'),
    call,
    async newOrg(scopes, probe) {
      const org = (await call('POST', '/admin/orgs', ADMIN_TOKEN, { name: uniqueName('org') })).body;
      const issued = (await call('POST', `/admin/orgs/${org.orgId}/keys`, ADMIN_TOKEN, { scopes })).body;
      await until(
        () => call('GET', probe, issued.key),
        (r) => r.status !== 401,
      );
      return { orgId: org.orgId, key: issued.key, keyId: issued.keyId };
    },
  };
}
