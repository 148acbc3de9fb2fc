import { tenancyTopic } from '@cmis/contracts';
import type { Bus, Subscription } from '../bus';
import type { Database } from '../db';
import { startInbox, PoisonEventError, type InboxOptions } from '../inbox';

export interface TenancyProjectionOptions {
  bus: Bus;
  db: Database;
  codec: InboxOptions['codec'];
  /** The service's name: its consumer group is `<service>.tenancy`. */
  service: string;
  onRetry?: InboxOptions['onRetry'];
  onDeadLetter?: InboxOptions['onDeadLetter'];
}

/** Keeps the service's tenancy_orgs / tenancy_api_keys up to date from the tenancy topic. */
export function startTenancyProjection(options: TenancyProjectionOptions): Promise<Subscription> {
  return startInbox({
    bus: options.bus,
    db: options.db,
    codec: options.codec,
    groupId: `${options.service}.tenancy`,
    topics: [tenancyTopic.name],
    onRetry: options.onRetry,
    onDeadLetter: options.onDeadLetter,
    async handle({ envelope }, { trx, orgId }) {
      const at = new Date(envelope.time);
      const data = envelope.data as Record<string, unknown>;
      switch (envelope.type) {
        case 'cmis.tenancy.org-created':
          await trx('tenancy_orgs')
            .insert({ org_id: orgId, name: data.name, created_at: at })
            .onConflict('org_id')
            .ignore();
          return;
        case 'cmis.tenancy.api-key-issued':
          if (data.orgId !== orgId)
            throw new PoisonEventError(envelope.id, 'key issued for another org than its envelope');
          await trx('tenancy_api_keys')
            .insert({
              org_id: orgId,
              key_id: data.keyId,
              hash: data.hash,
              scopes: data.scopes,
              prefix: data.prefix,
              issued_at: at,
            })
            .onConflict('key_id')
            .ignore();
          return;
        case 'cmis.tenancy.api-key-revoked':
          // The earliest revocation wins: revoking now a key due to go after a grace period.
          await trx('tenancy_api_keys')
            .where({ key_id: data.keyId })
            .andWhere((q) => q.whereNull('revoked_at').orWhere('revoked_at', '>', at))
            .update({ revoked_at: at });
          return;
        default:
          throw new PoisonEventError(envelope.id, `unknown tenancy event type ${envelope.type}`);
      }
    },
  });
}
