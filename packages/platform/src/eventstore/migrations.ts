import type { Migration } from '../db';
import { enableTenantRls } from '../db';

/** Platform migrations a service puts first in its own list: `db.migrate([...eventStoreMigrations, ...own])`. */
export const eventStoreMigrations: readonly Migration[] = [
  {
    name: 'cmis_platform_0001_event_store',
    async up(knex) {
      await knex.raw(`
        create table events (
          position       bigserial primary key,
          org_id         uuid not null,
          stream_type    text not null,
          stream_id      text not null,
          stream_version integer not null check (stream_version > 0),
          event_id       uuid not null constraint events_event_id_unique unique,
          type           text not null,
          data           jsonb not null,
          metadata       jsonb not null default '{}'::jsonb,
          topic          text,
          key            text,
          occurred_at    timestamptz not null,
          constraint events_stream_version_unique unique (org_id, stream_type, stream_id, stream_version),
          constraint events_published_needs_key check (topic is null or key is not null)
        )`);
      // What still has to go to Kafka is queued by the outbox migrations (outbox_pending).
      await enableTenantRls(knex, 'events');
      // Append-only: no role but the owner may update or delete events (and nothing does).
      await knex.raw(`
        do $$
        declare grantee regrole;
        begin
          for grantee in
            select distinct acl.grantee::regrole
              from pg_class c, aclexplode(c.relacl) acl
             where c.oid = 'events'::regclass and acl.grantee <> c.relowner and acl.grantee <> 0
               and acl.privilege_type in ('UPDATE', 'DELETE')
          loop
            execute format('revoke update, delete on events from %s', grantee);
          end loop;
        end $$`);
    },
    async down(knex) {
      await knex.schema.dropTable('events');
    },
  },
];
