import type { Migration } from '../db';
import { RELAY_SHARDS } from './shards';

/** After eventStoreMigrations: the relay's per-shard work queue. */
export const outboxMigrations: Migration[] = [
  {
    name: 'cmis_platform_0002_outbox_shards',
    async up(knex) {
      await knex.raw(
        `create index events_unpublished_by_shard on events ((hashtext(key) & ${RELAY_SHARDS - 1}), position)
          where topic is not null and published_at is null`,
      );
    },
  },
];
