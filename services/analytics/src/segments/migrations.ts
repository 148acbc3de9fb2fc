import { tenantTable, timerMigrations, type Migration } from '@cmis/platform';

export const segmentMigrations: Migration[] = [
  // The analytics schema's durable timers: owned by this slice (see timers.ts), no other slice
  // of the service includes timerMigrations.
  ...timerMigrations,
  {
    name: 'analytics_seg_0001_projections',
    async up(knex) {
      // Folded from each segment's stream: its current version.
      await tenantTable(knex, 'seg_definitions', (t) => {
        t.text('segment_id').notNullable();
        t.text('name').notNullable();
        t.integer('version').notNullable();
        t.jsonb('definition').notNullable();
        t.timestamp('created_at', { useTz: true }).notNullable();
        t.timestamp('updated_at', { useTz: true }).notNullable();
        t.primary(['org_id', 'segment_id']);
      });
      // Every contact seen on any input (the backfill walks these), with its traits.
      await tenantTable(knex, 'seg_contacts', (t) => {
        t.text('contact_id').notNullable();
        t.jsonb('traits').notNullable().defaultTo(knex.raw(`'{}'::jsonb`));
        t.primary(['org_id', 'contact_id']);
      });
      // Counted events: track calls by name, human email opens and clicks ('opened', 'clicked').
      await tenantTable(knex, 'seg_events', (t) => {
        t.bigIncrements('id').primary();
        t.text('contact_id').notNullable();
        t.text('source').notNullable();
        t.text('event').notNullable();
        t.timestamp('at', { useTz: true }).notNullable();
        t.index(['org_id', 'contact_id', 'at']);
      });
      await tenantTable(knex, 'seg_rfm', (t) => {
        t.text('contact_id').notNullable();
        t.text('segment').notNullable();
        t.primary(['org_id', 'contact_id']);
      });
      await tenantTable(knex, 'seg_list_members', (t) => {
        t.text('list_id').notNullable();
        t.text('contact_id').notNullable();
        t.timestamp('added_at', { useTz: true }).notNullable();
        t.primary(['org_id', 'list_id', 'contact_id']);
        t.index(['org_id', 'contact_id']);
      });
      await tenantTable(knex, 'seg_members', (t) => {
        t.text('segment_id').notNullable();
        t.text('contact_id').notNullable();
        t.integer('version').notNullable();
        t.timestamp('entered_at', { useTz: true }).notNullable();
        t.primary(['org_id', 'segment_id', 'contact_id']);
        t.index(['org_id', 'contact_id']);
      });
    },
  },
];
