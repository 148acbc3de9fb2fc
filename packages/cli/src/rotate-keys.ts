// `cmis org rotate-keys`: every active key of an org gets a successor with the same scopes, and
// is revoked, at once or after a grace period. The org's keys are read from the tenancy topic
// (kept forever, the source every service projects); the revocation travels on it too, so it
// reaches every service's projection, and each service's key cache forgets within its TTL.
// A revocation with a grace period is an api-key-revoked event whose time is the end of the
// grace: the projections record that time, and a key is refused from it on.
import { createCodec, DecodeError, tenancyTopic, type Codec } from '@cmis/contracts';
import { createKafkaBus, createTenancyAdmin } from '@cmis/platform';
import { InfraError, kafkaBrokers, kafkaClient } from './cli-support';
import { readTopic } from './topic-reader';

export const DEFAULT_GRACE_MS = 24 * 60 * 60 * 1000;

export interface ActiveKey {
  keyId: string;
  prefix: string;
  scopes: string[];
}

export interface Rotation {
  orgId: string;
  /** When the old keys stop working. */
  revokedFrom: string;
  rotated: Array<{ oldKeyId: string; keyId: string; key: string; prefix: string; scopes: string[] }>;
}

/** The org's keys that are issued and not revoked (nor due to be), from the tenancy topic. */
export async function activeKeys(env: NodeJS.ProcessEnv, orgId: string, codec?: Codec): Promise<ActiveKey[]> {
  const decoder = codec ?? createCodec({ registryUrl: env.SCHEMA_REGISTRY_URL });
  const records = await readTopic(kafkaClient(env, 'cmis org rotate-keys'), tenancyTopic.name, {
    keep: (r) => r.key === tenancyTopic.key({ orgId, subject: orgId }),
  });
  const keys = new Map<string, ActiveKey>();
  for (const record of records) {
    let envelope;
    try {
      envelope = await decoder.decode(tenancyTopic.name, { value: record.value, headers: record.headers });
    } catch (error) {
      if (error instanceof DecodeError) continue; // the projections dead-letter it; so does nothing here
      throw new InfraError(`cannot decode the tenancy topic: ${(error as Error).message}`);
    }
    if (envelope.orgId !== orgId) continue;
    if (envelope.type === 'cmis.tenancy.api-key-issued') {
      const data = envelope.data as { keyId: string; prefix: string; scopes: string[] };
      keys.set(data.keyId, { keyId: data.keyId, prefix: data.prefix, scopes: data.scopes });
    } else if (envelope.type === 'cmis.tenancy.api-key-revoked') {
      keys.delete((envelope.data as { keyId: string }).keyId);
    }
  }
  return [...keys.values()];
}

export async function rotateKeys(
  env: NodeJS.ProcessEnv,
  options: { orgId: string; graceMs?: number; now?: () => Date },
): Promise<Rotation> {
  const now = options.now ?? (() => new Date());
  const codec = createCodec({ registryUrl: env.SCHEMA_REGISTRY_URL });
  const keys = await activeKeys(env, options.orgId, codec);
  const revokedFrom = new Date(now().getTime() + (options.graceMs ?? DEFAULT_GRACE_MS));
  const bus = createKafkaBus({ brokers: kafkaBrokers(env, 'cmis org rotate-keys'), clientId: 'cmis-cli' });
  const admin = createTenancyAdmin({ bus, codec, now });
  const rotation: Rotation = { orgId: options.orgId, revokedFrom: revokedFrom.toISOString(), rotated: [] };
  try {
    // Each successor is published before its predecessor's revocation: no moment without a key.
    for (const old of keys) {
      const issued = await admin.issueKey(options.orgId, { scopes: old.scopes });
      await admin.revokeKey(options.orgId, old.keyId, { at: revokedFrom });
      rotation.rotated.push({ oldKeyId: old.keyId, ...issued });
    }
  } catch (error) {
    const done = rotation.rotated.map((r) => `${r.oldKeyId} -> ${r.keyId} (${r.key})`).join(', ');
    throw new InfraError(
      `rotation stopped: ${(error as Error).message}${done ? `; rotated before it stopped: ${done}` : ''}`,
    );
  } finally {
    await bus.close();
  }
  return rotation;
}

export function formatRotation(rotation: Rotation): string {
  if (rotation.rotated.length === 0) return `org ${rotation.orgId} has no active keys: nothing rotated\n`;
  return (
    [
      `rotated ${rotation.rotated.length} keys of org ${rotation.orgId}; the old ones stop working at ${rotation.revokedFrom}`,
      'new keys (shown once, keep them now):',
      ...rotation.rotated.map((r) => `  ${r.key}  (replaces ${r.oldKeyId}; scopes ${r.scopes.join(',')})`),
    ].join('\n') + '\n'
  );
}
