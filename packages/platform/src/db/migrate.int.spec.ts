import { randomUUID } from 'node:crypto';
import { createDatabase, type Database, type Migration } from './database';
import { DatabaseConfigError, TenantTableError, UnsafeRoleError } from './errors';
import { enableTenantRls, tenantTable } from './rls';
import { withOrg } from './tenancy';
import { asAdmin, dropDatabase, freshSchemaName, TEST_DATABASE_URL } from './testing';

const contacts: Migration = {
  name: '001_contacts',
  async up(knex) {
    await tenantTable(knex, 'contacts', (table) => {
      table.uuid('id').primary();
      table.text('email').notNullable();
    });
  },
};
const segments: Migration = {
  name: '002_segments',
  async up(knex) {
    await tenantTable(knex, 'segments', (table) => {
      table.uuid('id').primary();
    });
  },
};

describe('createDatabase and migrate', () => {
  const opened: Database[] = [];
  const open = (options: Partial<Parameters<typeof createDatabase>[0]> & { schema: string }) => {
    const db = createDatabase({ url: TEST_DATABASE_URL, ...options });
    opened.push(db);
    return db;
  };
  afterAll(async () => {
    for (const db of opened) await dropDatabase(db);
  });

  it('lets several processes migrate one schema at the same time, applying each migration once', async () => {
    const schema = freshSchemaName('mig');
    const processes = Array.from({ length: 4 }, () => open({ schema }));

    const applied = await Promise.all(processes.map((db) => db.migrate([contacts, segments])));

    expect(applied.flat().sort()).toEqual(['001_contacts', '002_segments']);
    const [first] = processes as [Database];
    const names = await first.owner('knex_migrations').orderBy('id').pluck('name');
    expect(names).toEqual(['001_contacts', '002_segments']);
    expect(await first.migrate([contacts, segments])).toEqual([]);
  });

  it('keeps the migration table inside the service schema, out of the app role’s reach', async () => {
    const db = open({ schema: freshSchemaName('mig') });
    await db.migrate([contacts]);

    const { rows } = await db.owner.raw(`select to_regclass(?) as migrations`, [
      `${db.schema}.knex_migrations`,
    ]);
    expect(rows[0].migrations).not.toBeNull();
    await expect(db.app('knex_migrations').delete()).rejects.toEqual(
      expect.objectContaining({ code: '42501' }),
    );
  });

  it('grants the app role the tables of later migrations too, under the same policies', async () => {
    const db = open({ schema: freshSchemaName('mig') });
    await db.migrate([contacts]);
    expect(await db.migrate([contacts, segments])).toEqual(['002_segments']);

    const orgId = randomUUID();
    const id = randomUUID();
    await withOrg(db.app, orgId, (trx) => trx('segments').insert({ id, org_id: orgId }));
    expect(await withOrg(db.app, orgId, (trx) => trx('segments').pluck('id'))).toEqual([id]);
    expect(await withOrg(db.app, randomUUID(), (trx) => trx('segments').pluck('id'))).toEqual([]);
  });

  it('creates the owner as a login-less role that owns the schema and its tables', async () => {
    const db = open({ schema: freshSchemaName('mig') });
    await db.migrate([contacts]);
    const facts = await asAdmin(async (client) => {
      const { rows } = await client.query(
        `select o.rolcanlogin as owner_login, a.rolcanlogin as app_login,
                (select nspowner::regrole::text from pg_namespace where nspname = $3) as schema_owner,
                (select tableowner from pg_tables where schemaname = $3 and tablename = 'contacts') as table_owner,
                (select relforcerowsecurity from pg_class where oid = to_regclass($3 || '.contacts')) as forced
           from pg_roles o, pg_roles a where o.rolname = $1 and a.rolname = $2`,
        [db.ownerRole, db.appRole, db.schema],
      );
      return rows[0];
    });
    expect(facts).toEqual({
      owner_login: false,
      app_login: true,
      schema_owner: db.ownerRole,
      table_owner: db.ownerRole,
      forced: true,
    });
  });

  it('tolerates another service’s process creating the same role at the same moment', async () => {
    // Roles are cluster-wide but the bootstrap lock is per schema, so only duplicate_object handling saves this.
    const appRole = `cmis_${freshSchemaName('shared')}_app`;
    const services = Array.from({ length: 10 }, () => open({ schema: freshSchemaName('mig'), appRole }));
    await expect(Promise.all(services.map((db) => db.migrate([])))).resolves.toHaveLength(10);
  });

  it('sets the password from the runtime url on the app role it creates', async () => {
    const schema = freshSchemaName('mig');
    const url = new URL(TEST_DATABASE_URL);
    url.username = `cmis_${schema}_app`;
    url.password = 's3cret/with:chars';
    const db = open({ schema, url: url.toString(), ownerUrl: TEST_DATABASE_URL });
    await db.migrate([contacts]);

    const stored = await asAdmin(async (client) => {
      const { rows } = await client.query('select rolpassword from pg_authid where rolname = $1', [
        db.appRole,
      ]);
      return rows[0]?.rolpassword as string | null;
    });
    expect(stored).toMatch(/^(SCRAM-SHA-256|md5)/);
    expect((await db.app.raw('select current_user as u')).rows).toEqual([{ u: db.appRole }]);
  });

  it('refuses an admin url that is the app role itself', () => {
    const url = new URL(TEST_DATABASE_URL);
    url.username = 'cmis_billing_app';
    expect(() => createDatabase({ url: url.toString(), schema: 'billing' })).toThrow(DatabaseConfigError);
  });

  it('refuses to start when the app role could bypass row-level security', async () => {
    const appRole = `cmis_${freshSchemaName('bypass')}_app`;
    await asAdmin((client) => client.query(`create role ${appRole} login bypassrls`));
    const db = open({ schema: freshSchemaName('mig'), appRole });

    await expect(db.migrate([contacts])).rejects.toBeInstanceOf(UnsafeRoleError);
    await expect(db.app.raw('select 1')).rejects.toBeInstanceOf(UnsafeRoleError);
  });

  it('refuses to protect a table without a non-null uuid org_id', async () => {
    const db = open({ schema: freshSchemaName('mig') });
    const broken: Migration = {
      name: '001_broken',
      async up(knex) {
        await knex.schema.createTable('audit', (table) => table.uuid('org_id'));
        await enableTenantRls(knex, 'audit');
      },
    };
    await expect(db.migrate([broken])).rejects.toBeInstanceOf(TenantTableError);
    const { rows } = await db.owner.raw(`select to_regclass('audit') as audit`);
    expect(rows[0].audit).toBeNull(); // the failed migration rolled back
  });
});
