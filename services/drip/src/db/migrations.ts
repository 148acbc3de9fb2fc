import { tenantTable, timerMigrations, type Migration } from '@cmis/platform';

export const dripMigrations: Migration[] = [
  ...timerMigrations,
  {
    name: 'drip_0001_read_models',
    async up(knex) {
      // Folded from each campaign's stream: its current version and status.
      await tenantTable(knex, 'drips', (t) => {
        t.text('drip_id').notNullable();
        t.text('name').notNullable();
        t.text('status').notNullable();
        t.integer('version').notNullable();
        t.jsonb('campaign').notNullable();
        t.text('entry_event');
        t.boolean('entry_identified').notNullable().defaultTo(false);
        t.timestamp('created_at', { useTz: true }).notNullable();
        t.timestamp('updated_at', { useTz: true }).notNullable();
        t.primary(['org_id', 'drip_id']);
      });
      // Every version a subscriber may have got a step of.
      await tenantTable(knex, 'drip_versions', (t) => {
        t.text('drip_id').notNullable();
        t.integer('version').notNullable();
        t.jsonb('campaign').notNullable();
        t.timestamp('at', { useTz: true }).notNullable();
        t.primary(['org_id', 'drip_id', 'version']);
      });
      await tenantTable(knex, 'contacts', (t) => {
        t.text('contact_id').notNullable();
        t.jsonb('traits').notNullable();
        t.text('email');
        t.primary(['org_id', 'contact_id']);
        t.index(['org_id', 'email']);
      });
      // Snapshot of each subscription's stream, for lookups and lists.
      await tenantTable(knex, 'subscriptions', (t) => {
        t.text('subscription_id').notNullable();
        t.text('drip_id').notNullable();
        t.text('contact_id').notNullable();
        t.text('status').notNullable();
        t.jsonb('state').notNullable();
        t.integer('stream_version').notNullable();
        t.text('next_step_id');
        t.timestamp('send_at', { useTz: true });
        t.text('last_error');
        t.timestamp('enrolled_at', { useTz: true }).notNullable();
        t.timestamp('updated_at', { useTz: true }).notNullable();
        t.primary(['org_id', 'subscription_id']);
        t.index(['org_id', 'contact_id', 'status']);
        t.index(['org_id', 'drip_id', 'status']);
      });
      // Re-enrollment bookkeeping per campaign and contact; the row is the enrollment's lock.
      await tenantTable(knex, 'enrollments', (t) => {
        t.text('drip_id').notNullable();
        t.text('contact_id').notNullable();
        t.integer('count').notNullable();
        t.timestamp('last_enrolled_at', { useTz: true }).notNullable();
        t.text('active_subscription_id');
        t.primary(['org_id', 'drip_id', 'contact_id']);
      });
      // What became of each step's email and refused enrollments, with the reason.
      await tenantTable(knex, 'history', (t) => {
        t.bigIncrements('id').primary();
        t.text('contact_id').notNullable();
        t.text('drip_id').notNullable();
        t.text('subscription_id');
        t.text('step_id');
        t.text('kind').notNullable();
        t.text('outcome').notNullable();
        t.jsonb('detail').notNullable();
        t.timestamp('at', { useTz: true }).notNullable();
        t.index(['org_id', 'contact_id', 'id']);
      });
    },
  },
];
