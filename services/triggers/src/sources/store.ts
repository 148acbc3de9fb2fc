import { handleCommand, withOrg, withSystem, type ServiceRuntime } from '@cmis/platform';
import type { Knex } from 'knex';
import { WebhookMapping } from '../webhooks/mapping';
import { projectSourceEvents } from './projection';
import { sourceDecider, SourceNotFoundError, type SourceCommand } from './source';

export const SOURCE_STREAM = 'source';

/** Decides a command on a source, appends its events and updates the read models, in one transaction. */
export async function executeSourceCommand(
  rt: ServiceRuntime,
  orgId: string,
  sourceId: string,
  command: SourceCommand,
): Promise<void> {
  await withOrg(rt.db.app, orgId, async (trx) => {
    const { newEvents } = await handleCommand(
      rt.eventStore,
      trx,
      sourceDecider,
      { orgId, streamType: SOURCE_STREAM, streamId: sourceId },
      command,
    );
    await projectSourceEvents(trx, orgId, sourceId, newEvents);
  });
}

export interface SourceView {
  sourceId: string;
  name: string;
  mapping: WebhookMapping;
  createdAt: string;
  writeKeys: Array<{ keyId: string; prefix: string; issuedAt: string; revokedAt: string | null }>;
  webhookSecrets: Array<{ secretId: string; issuedAt: string; revokedAt: string | null }>;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export async function readSources(
  rt: ServiceRuntime,
  orgId: string,
  sourceId?: string,
): Promise<SourceView[]> {
  return withOrg(rt.db.app, orgId, async (trx) => {
    const scoped = (q: Knex.QueryBuilder) => (sourceId ? q.where({ source_id: sourceId }) : q);
    const [sources, keys, secrets] = await Promise.all([
      scoped(trx('sources').select('*').orderBy('created_at')),
      scoped(trx('source_write_keys').select('*').orderBy('issued_at')),
      scoped(
        trx('source_webhook_secrets')
          .select('secret_id', 'source_id', 'issued_at', 'revoked_at')
          .orderBy('issued_at'),
      ),
    ]);
    type SourceRow = { source_id: string; name: string; mapping: WebhookMapping; created_at: Date };
    type KeyRow = {
      source_id: string;
      key_id: string;
      prefix: string;
      issued_at: Date;
      revoked_at: Date | null;
    };
    type SecretRow = { source_id: string; secret_id: string; issued_at: Date; revoked_at: Date | null };
    return (sources as SourceRow[]).map((s) => ({
      sourceId: s.source_id,
      name: s.name,
      mapping: s.mapping,
      createdAt: iso(s.created_at)!,
      writeKeys: (keys as KeyRow[])
        .filter((k) => k.source_id === s.source_id)
        .map((k) => ({
          keyId: k.key_id,
          prefix: k.prefix,
          issuedAt: iso(k.issued_at)!,
          revokedAt: iso(k.revoked_at),
        })),
      webhookSecrets: (secrets as SecretRow[])
        .filter((k) => k.source_id === s.source_id)
        .map((k) => ({ secretId: k.secret_id, issuedAt: iso(k.issued_at)!, revokedAt: iso(k.revoked_at) })),
    }));
  });
}

export interface WebhookSource {
  orgId: string;
  sourceId: string;
  mapping: WebhookMapping;
  /** Secrets live at `now`: during a rotation, the new one and the old ones in their grace period. */
  secrets: string[];
}

/** Looks a source up by the id in its webhook URL; cross-org by nature, like API-key lookup. */
export async function findWebhookSource(
  rt: ServiceRuntime,
  sourceId: string,
  now: Date,
): Promise<WebhookSource | undefined> {
  return withSystem(rt.db.owner, async (trx) => {
    const source = await trx('sources').where({ source_id: sourceId }).first('org_id', 'mapping');
    if (!source) return undefined;
    const secrets = await trx('source_webhook_secrets')
      .where({ source_id: sourceId })
      .andWhere((q) => q.whereNull('revoked_at').orWhere('revoked_at', '>', now))
      .pluck('secret');
    return { orgId: source.org_id, sourceId, mapping: source.mapping, secrets };
  });
}

export async function requireSource(rt: ServiceRuntime, orgId: string, sourceId: string): Promise<void> {
  const found = await withOrg(rt.db.app, orgId, (trx) =>
    trx('sources').where({ source_id: sourceId }).first('source_id'),
  );
  if (!found) throw new SourceNotFoundError(`No source ${sourceId} in this org`);
}
