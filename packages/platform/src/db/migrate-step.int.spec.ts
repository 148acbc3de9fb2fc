// The migration step apart from the service (Kubernetes: a Job as the schema owner, then the
// service as the app role): `main.js migrate` and DATABASE_MIGRATIONS=verify.
import { testEnv, uniqueName } from '@cmis/testkit';
import { migrateServiceProcess, startServiceProcess, type ServiceMainOptions } from '../runtime/main';
import type { CreateService } from '../runtime/service';
import type { Migration } from './database';
import { SchemaNotMigratedError } from './errors';
import { tenantTable } from './rls';
import { asAdmin, dropDatabase, TEST_DATABASE_URL } from './testing';

const notesTable: Migration = {
  name: 'toy_0001_notes',
  up: (knex) => tenantTable(knex, 'notes', (t) => t.text('body').notNullable()),
};
const tagColumn: Migration = {
  name: 'toy_0002_tags',
  up: (knex) => knex.schema.alterTable('notes', (t) => t.text('tag')),
};
const notes: CreateService = () => ({ migrations: [notesTable] });
const notesWithTags: CreateService = () => ({ migrations: [notesTable, tagColumn] });

describe('migrate step: roles and schema by a separate step, the service as the app role', () => {
  const service = uniqueName('mig');
  const schema = service.replace(/-/g, '_');
  const appRole = `cmis_${schema}_app`;
  const appUrl = (() => {
    const url = new URL(TEST_DATABASE_URL);
    url.username = appRole;
    url.password = 'app-pass/1';
    return url.toString();
  })();
  const env = testEnv();
  const processEnv = {
    KAFKA_BROKERS: env.kafkaBrokers!.join(','),
    SCHEMA_REGISTRY_URL: env.schemaRegistryUrl,
    REDIS_URL: env.redisUrl,
    LOG_LEVEL: 'silent',
    DATABASE_URL: appUrl,
    DATABASE_OWNER_URL: TEST_DATABASE_URL,
  };
  const options = (create: CreateService): ServiceMainOptions => ({ service, httpPort: 0, create });
  const roles = () =>
    asAdmin(async (client) => {
      const { rows } = await client.query<{ rolname: string }>(
        'select rolname from pg_roles where rolname = any($1) order by rolname',
        [[`cmis_${schema}_owner`, appRole]],
      );
      return rows.map((row) => row.rolname);
    });

  afterAll(() =>
    dropDatabase({ destroy: async () => undefined, ownerRole: `cmis_${schema}_owner`, appRole }),
  );

  it('refuses to serve an unmigrated schema, naming the step to run, and creates nothing', async () => {
    const start = startServiceProcess(options(notes), { ...processEnv, DATABASE_MIGRATIONS: 'verify' });
    await expect(start).rejects.toBeInstanceOf(SchemaNotMigratedError);
    await expect(start).rejects.toThrow(
      /not migrated: \d+ migrations pending .*run the service's migrate step/,
    );
    expect(await roles()).toEqual([]);
  });

  it('migrates once as the owner, sets the app role password, and applies nothing the second time', async () => {
    const applied = await migrateServiceProcess(options(notes), processEnv);
    expect(applied).toContain('toy_0001_notes');
    expect(applied[0]).toMatch(/^cmis_platform_0001/);
    expect(await migrateServiceProcess(options(notes), processEnv)).toEqual([]);

    expect(await roles()).toEqual([`cmis_${schema}_app`, `cmis_${schema}_owner`].sort());
    const password = await asAdmin(async (client) => {
      const { rows } = await client.query('select rolpassword from pg_authid where rolname = $1', [appRole]);
      return rows[0]?.rolpassword as string | null;
    });
    expect(password).toMatch(/^(SCRAM-SHA-256|md5)/);
  });

  it('then serves as the app role without migrating, and refuses a build with a pending migration', async () => {
    const running = await startServiceProcess(options(notes), {
      ...processEnv,
      DATABASE_MIGRATIONS: 'verify',
    });
    try {
      expect((await fetch(`${running.url}/readyz`)).status).toBe(200);
      const { rows } = await running.service.runtime.db.app.raw('select current_user as u');
      expect(rows).toEqual([{ u: appRole }]);
    } finally {
      await running.shutdown();
    }

    const newer = startServiceProcess(options(notesWithTags), {
      ...processEnv,
      DATABASE_MIGRATIONS: 'verify',
    });
    await expect(newer).rejects.toThrow(/1 migration pending \(toy_0002_tags\)/);
    expect(await migrateServiceProcess(options(notesWithTags), processEnv)).toEqual(['toy_0002_tags']);
  });
});
