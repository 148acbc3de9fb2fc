import { tenantTable, timerMigrations, type Migration } from '@cmis/platform';

export const triggersMigrations: Migration[] = [
  {
    name: 'triggers_0001_sources',
    async up(knex) {
      // Read models of the source aggregate, written in the same transaction as its events.
      await tenantTable(knex, 'sources', (t) => {
        t.text('source_id').notNullable();
        t.text('name').notNullable();
        t.jsonb('mapping').notNullable();
        t.timestamp('created_at', { useTz: true }).notNullable();
        t.primary(['org_id', 'source_id']);
        // Webhook URLs carry only the source id: it must name one source across orgs.
        t.unique(['source_id']);
      });
      await tenantTable(knex, 'source_write_keys', (t) => {
        t.text('key_id').notNullable();
        t.text('source_id').notNullable();
        t.text('hash').notNullable().unique();
        t.text('prefix').notNullable();
        t.timestamp('issued_at', { useTz: true }).notNullable();
        t.timestamp('revoked_at', { useTz: true });
        t.primary(['org_id', 'key_id']);
      });
      await tenantTable(knex, 'source_webhook_secrets', (t) => {
        t.text('secret_id').notNullable();
        t.text('source_id').notNullable();
        // Kept in clear: HMAC verification needs the secret itself (stored like the events that carry it).
        t.text('secret').notNullable();
        t.timestamp('issued_at', { useTz: true }).notNullable();
        t.timestamp('revoked_at', { useTz: true });
        t.primary(['org_id', 'secret_id']);
        t.index(['source_id']);
      });
    },
  },
  {
    name: 'triggers_0002_schedules',
    async up(knex) {
      // Until triggers_0003 the schedule row was also its durable timer (next_fire_at polled).
      await tenantTable(knex, 'schedules', (t) => {
        t.text('schedule_id').notNullable();
        t.text('name').notNullable();
        t.text('cron').notNullable();
        t.text('time_zone').notNullable();
        t.text('catch_up').notNullable();
        t.text('status').notNullable();
        t.timestamp('next_fire_at', { useTz: true });
        t.timestamp('last_fired_at', { useTz: true });
        t.timestamp('created_at', { useTz: true }).notNullable();
        t.primary(['org_id', 'schedule_id']);
      });
      await knex.raw(
        `create index schedules_due on schedules (next_fire_at) where status = 'active' and next_fire_at is not null`,
      );
    },
  },
  // Schedules move onto the platform's durable timers: the table, then a tick for every active
  // schedule (the kind, id and payload of schedules/ticks.ts). The schedules row keeps next_fire_at
  // for the API; the timer is what the poller locks and fires.
  ...timerMigrations,
  {
    name: 'triggers_0003_schedule_ticks_on_timers',
    async up(knex) {
      await knex.raw(`
        insert into timers (org_id, timer_id, kind, due_at, payload)
        select org_id, 'schedule:' || schedule_id, 'schedule-tick', next_fire_at,
               jsonb_build_object('scheduleId', schedule_id)
          from schedules
         where status = 'active' and next_fire_at is not null
        on conflict (org_id, timer_id) do nothing`);
      await knex.raw('drop index schedules_due');
    },
  },
];
