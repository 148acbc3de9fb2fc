import type { Migration } from '../db';
import { tenantTable } from '../db';

/** The inbox's bookkeeping: which event ids each consumer group has applied, per org. */
export const inboxMigrations: Migration[] = [
  {
    name: 'platform_0001_inbox_processed',
    async up(knex) {
      await tenantTable(knex, 'inbox_processed', (t) => {
        t.text('consumer_group').notNullable();
        t.text('event_id').notNullable();
        t.timestamp('processed_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
        t.primary(['org_id', 'consumer_group', 'event_id']);
      });
    },
  },
];
