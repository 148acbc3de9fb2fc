import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  createCodec,
  provisionTopics,
  reconcileTopics,
  registerAllSchemas,
  type PartitionDrift,
} from '@cmis/contracts';
import { createKafkaBus, createTenancyAdmin, defaultDataDir } from '@cmis/platform';
import { Kafka, logLevel } from 'kafkajs';

export type AdminCommand =
  | { kind: 'org-create'; name: string }
  | { kind: 'key-issue'; orgId: string; scopes: string[] }
  | { kind: 'key-revoke'; orgId: string; keyId: string };

/**
 * Orgs and keys. With KAFKA_BROKERS the command publishes the tenancy event itself; otherwise it
 * asks a running CMIS (CMIS_URL, default http://127.0.0.1:3000) over its admin API, with
 * CMIS_ADMIN_TOKEN or the token an embedded platform keeps in its data folder.
 */
export async function runAdminCommand(
  command: AdminCommand,
  env: NodeJS.ProcessEnv = process.env,
): Promise<unknown> {
  if (env.KAFKA_BROKERS) {
    const bus = createKafkaBus({ brokers: env.KAFKA_BROKERS.split(','), clientId: 'cmis-cli' });
    try {
      const admin = createTenancyAdmin({ bus, codec: createCodec({ registryUrl: env.SCHEMA_REGISTRY_URL }) });
      switch (command.kind) {
        case 'org-create':
          return await admin.createOrg({ name: command.name });
        case 'key-issue':
          return await admin.issueKey(command.orgId, { scopes: command.scopes });
        case 'key-revoke':
          await admin.revokeKey(command.orgId, command.keyId);
          return { revoked: command.keyId };
      }
    } finally {
      await bus.close();
    }
  }
  const base = (env.CMIS_URL ?? 'http://127.0.0.1:3000').replace(/\/$/, '');
  const token = env.CMIS_ADMIN_TOKEN ?? readTokenFile(env);
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${base}/admin${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${base}/admin${path} answered ${response.status}: ${text}`);
    return text ? (JSON.parse(text) as unknown) : { ok: true };
  };
  switch (command.kind) {
    case 'org-create':
      return call('POST', '/orgs', { name: command.name });
    case 'key-issue':
      return call('POST', `/orgs/${command.orgId}/keys`, { scopes: command.scopes });
    case 'key-revoke':
      return call('DELETE', `/orgs/${command.orgId}/keys/${command.keyId}`);
  }
}

function readTokenFile(env: NodeJS.ProcessEnv): string {
  const file = join(env.CMIS_DATA_DIR ?? defaultDataDir(), 'admin-token');
  if (!existsSync(file))
    throw new Error(`no CMIS_ADMIN_TOKEN and no ${file}: start CMIS first or set the token`);
  return readFileSync(file, 'utf8').trim();
}

export interface ProvisionReport {
  created: string[];
  retentionUpdated: string[];
  partitionDrift: PartitionDrift[];
}

/**
 * `cmis provision`: creates every missing catalog topic and dead-letter topic, sets existing
 * ones' retention back to the catalog's, reports partition counts that differ, and registers
 * the schemas when a registry is set.
 */
export async function provision(env: NodeJS.ProcessEnv = process.env): Promise<ProvisionReport> {
  if (!env.KAFKA_BROKERS)
    throw new Error('cmis provision needs KAFKA_BROKERS (the embedded bus provisions itself)');
  const admin = new Kafka({
    brokers: env.KAFKA_BROKERS.split(','),
    clientId: 'cmis-provision',
    logLevel: logLevel.WARN,
  }).admin();
  await admin.connect();
  try {
    const created = await provisionTopics(admin);
    const reconciled = await reconcileTopics(admin);
    if (env.SCHEMA_REGISTRY_URL) await registerAllSchemas(env.SCHEMA_REGISTRY_URL);
    return { created, ...reconciled };
  } finally {
    await admin.disconnect();
  }
}
