import type { Migration } from '../db';
import { tenantTable } from '../db';

/** Every service's own projection of orgs and API keys (from the tenancy topic). */
export const tenancyMigrations: Migration[] = [
  {
    name: 'cmis_platform_0003_tenancy_projection',
    async up(knex) {
      await tenantTable(knex, 'tenancy_orgs', (t) => {
        t.primary(['org_id']);
        t.text('name').notNullable();
        t.timestamp('created_at', { useTz: true }).notNullable();
      });
      await tenantTable(knex, 'tenancy_api_keys', (t) => {
        t.text('key_id').primary();
        t.text('hash').notNullable().unique();
        t.specificType('scopes', 'text[]').notNullable();
        t.text('prefix').notNullable();
        t.timestamp('issued_at', { useTz: true }).notNullable();
        t.timestamp('revoked_at', { useTz: true });
      });
    },
  },
];
