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
];
