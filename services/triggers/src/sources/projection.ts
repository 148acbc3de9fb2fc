import type { Knex } from 'knex';
import type { SourceEvent } from './source';

/** Applies a source's new events to its read models, inside the append's transaction. */
export async function projectSourceEvents(
  trx: Knex.Transaction,
  orgId: string,
  sourceId: string,
  events: readonly SourceEvent[],
): Promise<void> {
  for (const event of events) {
    switch (event.type) {
      case 'cmis.triggers.source-created':
        await trx('sources').insert({
          org_id: orgId,
          source_id: sourceId,
          name: event.data.name,
          mapping: {},
          created_at: event.data.createdAt,
        });
        break;
      case 'cmis.triggers.write-key-issued':
        await trx('source_write_keys').insert({
          org_id: orgId,
          source_id: sourceId,
          key_id: event.data.keyId,
          hash: event.data.hash,
          prefix: event.data.prefix,
          issued_at: event.data.issuedAt,
        });
        break;
      case 'cmis.triggers.write-key-revoked':
        await trx('source_write_keys')
          .where({ org_id: orgId, key_id: event.data.keyId })
          .update({ revoked_at: event.data.effectiveAt });
        break;
      case 'cmis.triggers.webhook-secret-issued':
        await trx('source_webhook_secrets').insert({
          org_id: orgId,
          source_id: sourceId,
          secret_id: event.data.secretId,
          secret: event.data.secret,
          issued_at: event.data.issuedAt,
        });
        break;
      case 'cmis.triggers.webhook-secret-revoked':
        await trx('source_webhook_secrets')
          .where({ org_id: orgId, secret_id: event.data.secretId })
          .update({ revoked_at: event.data.effectiveAt });
        break;
      case 'cmis.triggers.webhook-mapping-set':
        await trx('sources')
          .where({ org_id: orgId, source_id: sourceId })
          .update({ mapping: JSON.stringify(event.data.mapping) });
        break;
      default: {
        const unhandled: never = event;
        throw new Error(`unprojected event ${(unhandled as SourceEvent).type}`);
      }
    }
  }
}
