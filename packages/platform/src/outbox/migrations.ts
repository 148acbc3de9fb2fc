import type { Migration } from '../db';
import { RELAY_SHARDS } from './shards';

/**
 * After eventStoreMigrations: the relay's work queue. Every event appended with a topic gets
 * a narrow row in outbox_pending (by trigger, in the appending transaction); the relay deletes
 * it once the broker acked. Deleting a narrow row is far cheaper than rewriting the wide event
 * row to mark it, and the events table stays append-only.
 */
export const outboxMigrations: Migration[] = [
  {
    name: 'cmis_platform_0002_outbox_pending',
    async up(knex) {
      await knex.raw(`
        create table outbox_pending (
          position bigint primary key references events (position),
          shard    smallint not null
        )`);
      await knex.raw('create index outbox_pending_by_shard on outbox_pending (shard, position)');
      // Runs as the table owner: the app role appends events but cannot see or touch the queue.
      await knex.raw(`
        create function outbox_enqueue() returns trigger language plpgsql security definer
        set search_path from current as $$
        begin
          insert into outbox_pending (position, shard)
          values (new.position, (hashtext(new.key) & ${RELAY_SHARDS - 1}));
          return null;
        end $$`);
      await knex.raw(`
        create trigger events_outbox_enqueue after insert on events
        for each row when (new.topic is not null) execute function outbox_enqueue()`);
      await knex.raw('revoke all on outbox_pending from public');
    },
  },
  {
    // One queue insert per appending statement instead of one plpgsql call per row (~22 µs a
    // row), reading the statement's new rows from its transition table; and no foreign key to
    // events (~12 µs a row to check): events are append-only, no role but the owner may delete
    // one, so a queued position always has its event.
    name: 'cmis_platform_0003_outbox_enqueue_per_statement',
    async up(knex) {
      await knex.raw(`
        create function outbox_enqueue_appended() returns trigger language plpgsql security definer
        set search_path from current as $$
        begin
          insert into outbox_pending (position, shard)
            select position, (hashtext(key) & ${RELAY_SHARDS - 1}) from appended where topic is not null;
          return null;
        end $$`);
      await knex.raw('drop trigger events_outbox_enqueue on events');
      await knex.raw('drop function outbox_enqueue()');
      await knex.raw(`
        create trigger events_outbox_enqueue after insert on events
        referencing new table as appended
        for each statement execute function outbox_enqueue_appended()`);
      await knex.raw('alter table outbox_pending drop constraint if exists outbox_pending_position_fkey');
      // The schema's default privileges had granted the app role DML on the queue (the revoke
      // from public did not reach it): only the owner, through the relay, may read or delete it.
      await knex.raw(`
        do $$
        declare grantee text;
        begin
          for grantee in
            select distinct g.grantee from information_schema.role_table_grants g
             where g.table_schema = current_schema() and g.table_name = 'outbox_pending'
               and g.grantee <> current_user
          loop
            execute format('revoke all on outbox_pending from %I', grantee);
          end loop;
        end $$`);
    },
  },
];
