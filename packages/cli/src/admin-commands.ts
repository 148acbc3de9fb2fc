import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  createCodec,
  provisionTopics,
  reconcileTopics,
  registerAllSchemas,
  type PartitionDrift,
  type RegisteredTopicSchema,
} from '@cmis/contracts';
import { createKafkaBus, createTenancyAdmin, defaultDataDir } from '@cmis/platform';
import { InfraError, kafkaClient, UsageError, withKafkaAdmin } from './cli-support';

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
  /** Subjects registered (or found registered, same id) in SCHEMA_REGISTRY_URL; null without one. */
  registered: RegisteredTopicSchema[] | null;
}

/** KAFKA_REPLICATION_FACTOR of topics `cmis provision` creates; unset: the broker's default. */
export function replicationFactorOf(env: NodeJS.ProcessEnv): number | undefined {
  const value = env.KAFKA_REPLICATION_FACTOR;
  if (value === undefined || value === '') return undefined;
  if (!/^[1-9][0-9]*$/.test(value))
    throw new UsageError(`KAFKA_REPLICATION_FACTOR must be a whole number of 1 or more (got ${value})`);
  return Number(value);
}

/**
 * `cmis provision`: creates every missing catalog topic and dead-letter topic (with
 * KAFKA_REPLICATION_FACTOR replicas when set), sets existing ones' retention back to the
 * catalog's, reports partition counts that differ, and registers the schemas when a registry is set.
 */
export async function provision(env: NodeJS.ProcessEnv = process.env): Promise<ProvisionReport> {
  const replicationFactor = replicationFactorOf(env);
  if (!env.KAFKA_BROKERS)
    throw new InfraError('cmis provision needs KAFKA_BROKERS (the embedded bus provisions itself)');
  const { created, reconciled } = await withKafkaAdmin(kafkaClient(env, 'cmis provision'), async (admin) => ({
    created: await provisionTopics(admin, undefined, { replicationFactor }),
    reconciled: await reconcileTopics(admin),
  }));
  let registered: RegisteredTopicSchema[] | null = null;
  if (env.SCHEMA_REGISTRY_URL) {
    try {
      registered = await registerAllSchemas(env.SCHEMA_REGISTRY_URL);
    } catch (error) {
      throw new InfraError(`schema registry ${env.SCHEMA_REGISTRY_URL}: ${(error as Error).message}`);
    }
  }
  return { created, ...reconciled, registered };
}
