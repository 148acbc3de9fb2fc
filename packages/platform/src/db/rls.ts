import type { Knex } from 'knex';
import { TenantTableError } from './errors';

// nullif: once a session has used the setting, "unset" reads back as '' rather than null.
// Either way the comparison is null, so no row is visible or writable without an org.
export const CURRENT_ORG = `nullif(current_setting('app.current_org_id', true), '')::uuid`;

const TABLE_NAME = /^(?:[a-z_][a-z0-9_]*\.)?[a-z_][a-z0-9_]*$/;

/**
 * Creates a tenant table: `org_id uuid not null` comes first, `build` adds the rest, and
 * row-level security is enabled and forced on it (see enableTenantRls). For migrations.
 */
export async function tenantTable(
  knex: Knex,
  tableName: string,
  build: (table: Knex.CreateTableBuilder) => void,
): Promise<void> {
  await knex.schema.createTable(tableName, (table) => {
    table.uuid('org_id').notNullable();
    build(table);
  });
  await enableTenantRls(knex, tableName);
}

/**
 * Enables and forces row-level security on a table with an `org_id uuid not null` column:
 * - policy org_isolation (every role): rows of the org in app.current_org_id only, for reads
 *   and writes; nothing at all when the setting is absent or empty;
 * - policy system_access (the table's owner only): every row. FORCE keeps the owner subject to
 *   policies, so this is the one explicit, inspectable door that withSystem and migrations use.
 * Run it inside a migration, i.e. as the owner.
 */
export async function enableTenantRls(knex: Knex, table: string): Promise<void> {
  if (!TABLE_NAME.test(table)) throw new TenantTableError(`not a plain table name: ${table}`);
  const result = await knex.raw<{
    rows: Array<{ owner: string; kind: string; org_type: string | null; org_not_null: boolean | null }>;
  }>(
    `select r.rolname as owner, c.relkind as kind,
            format_type(a.atttypid, a.atttypmod) as org_type, a.attnotnull as org_not_null
       from pg_class c
       join pg_roles r on r.oid = c.relowner
       left join pg_attribute a on a.attrelid = c.oid and a.attname = 'org_id' and a.attnum > 0 and not a.attisdropped
      where c.oid = to_regclass(?)`,
    [table],
  );
  const found = result.rows[0];
  if (!found || !['r', 'p'].includes(found.kind)) throw new TenantTableError(`no table named ${table}`);
  if (found.org_type !== 'uuid' || found.org_not_null !== true) {
    throw new TenantTableError(`${table} needs an "org_id uuid not null" column to be a tenant table`);
  }

  await knex.raw('alter table ?? enable row level security', [table]);
  await knex.raw('alter table ?? force row level security', [table]);
  await knex.raw('drop policy if exists org_isolation on ??', [table]);
  await knex.raw(
    `create policy org_isolation on ?? using (org_id = ${CURRENT_ORG}) with check (org_id = ${CURRENT_ORG})`,
    [table],
  );
  await knex.raw('drop policy if exists system_access on ??', [table]);
  await knex.raw('create policy system_access on ?? to ?? using (true) with check (true)', [
    table,
    found.owner,
  ]);
}
