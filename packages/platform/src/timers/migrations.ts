import { tenantTable, type Migration } from '../db';

/**
 * Durable timers in the owning service's schema: services put `...timerMigrations` in their own
 * list (each service has its own schema, so the names never clash). One row per pending timer;
 * firing deletes it, so the table holds only what is still to fire (or parked after failing).
 */
export const timerMigrations: Migration[] = [
  {
    name: 'platform_timers_0001_timers',
    async up(knex) {
      await tenantTable(knex, 'timers', (t) => {
        t.text('timer_id').notNullable();
        t.text('kind').notNullable();
        t.timestamp('due_at', { useTz: true }).notNullable();
        t.jsonb('payload').notNullable().defaultTo(knex.raw(`'{}'::jsonb`));
        t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
        t.integer('attempts').notNullable().defaultTo(0);
        t.text('last_error');
        // Set when a timer failed maxAttempts times: kept, never fired again until rescheduled.
        t.timestamp('parked_at', { useTz: true });
        t.primary(['org_id', 'timer_id']);
      });
      // A round walks the orgs with pending timers (a skip scan over org_id) and takes each
      // one's earliest due timers from this index.
      await knex.raw('create index timers_due_by_org on timers (org_id, due_at) where parked_at is null');
      // "Anything due?" and "when is the next one?" in one probe, for idle pollers and the gauges.
      await knex.raw('create index timers_due on timers (due_at) where parked_at is null');
      await knex.raw('create index timers_parked on timers (org_id) where parked_at is not null');
    },
    async down(knex) {
      await knex.schema.dropTable('timers');
    },
  },
  {
    // A round leases its timers (one statement for many orgs), then fires each org's in the org's
    // own transaction; the token proves a firing still holds the lease it was given.
    name: 'platform_timers_0002_leases',
    async up(knex) {
      await knex.raw('alter table timers add column lease_token uuid, add column leased_until timestamptz');
      // Room on each page for the leased version of its rows (a HOT update, no index entries).
      await knex.raw('alter table timers set (fillfactor = 80)');
    },
    async down(knex) {
      await knex.raw('alter table timers reset (fillfactor)');
      await knex.raw('alter table timers drop column lease_token, drop column leased_until');
    },
  },
  {
    // The trace context a timer was scheduled in: its firing continues that trace (a workflow's
    // delay before its email stays in the trace of the action that enrolled the contact).
    name: 'platform_timers_0003_trace_context',
    async up(knex) {
      await knex.raw('alter table timers add column traceparent text, add column tracestate text');
    },
    async down(knex) {
      await knex.raw('alter table timers drop column traceparent, drop column tracestate');
    },
  },
];
