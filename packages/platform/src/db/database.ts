import knex, { type Knex } from 'knex';
import type { Client } from 'pg';
import { ensureServiceRoles, withBootstrapLock } from './bootstrap';
import { DatabaseConfigError, SchemaNotMigratedError, UnsafeRoleError } from './errors';
import { INVALID_PARAMETER_VALUE, isPgError, UNDEFINED_TABLE } from './pg-errors';
import { registerConnection } from './tenancy';

export type DatabaseOptions = {
  /**
   * The service's runtime connection. If its user is the app role it is used as is (with its
   * password, for production); otherwise the same server and database are reached as the app role.
   */
  url: string;
  /** The service's schema, e.g. `rules`; it also names the roles `cmis_<schema>_owner|app`. */
  schema: string;
  /** Overrides the app login role's name. */
  appRole?: string;
  /**
   * Admin login for role bootstrap and migrations (superuser, or CREATEROLE and a member of
   * the owner role). Defaults to `url`, which suits local trust-auth setups.
   */
  ownerUrl?: string;
  /** Size of the app pool. */
  poolMax?: number;
  /** Size of the owner pool: migrations, plus the relay's and pollers' concurrent shards. */
  ownerPoolMax?: number;
  /**
   * Create the roles and the schema before the first connection (default true). False when a
   * separate migration step did it (`main.js migrate`): no admin session is opened, and the
   * URLs are used as given.
   */
  bootstrap?: boolean;
};

/** A migration shipped in code: services keep them in src/db/migrations/*.ts. */
export type Migration = {
  name: string;
  up(knex: Knex): Promise<void>;
  down?(knex: Knex): Promise<void>;
};

export type Database = {
  readonly schema: string;
  readonly ownerRole: string;
  readonly appRole: string;
  /** Migrations, DDL and infrastructure through withSystem. Sessions run as the owner role. */
  readonly owner: Knex;
  /** The runtime connection, as the app role, subject to row-level security. Use withOrg. */
  readonly app: Knex;
  /** Applies pending migrations in list order; resolves to the names applied now. */
  migrate(migrations: readonly Migration[]): Promise<string[]>;
  /** Changes nothing; throws SchemaNotMigratedError naming what `migrate` would still apply. */
  verifyMigrated(migrations: readonly Migration[]): Promise<void>;
  destroy(): Promise<void>;
};

const SCHEMA_NAME = /^[a-z][a-z0-9_]{0,39}$/;
const ROLE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
const MIGRATIONS_TABLE = 'knex_migrations';

export function createDatabase(options: DatabaseOptions): Database {
  const { schema } = options;
  if (!SCHEMA_NAME.test(schema) || schema.startsWith('pg_')) {
    throw new DatabaseConfigError(`schema must be lower snake case, at most 40 characters: ${schema}`);
  }
  const ownerRole = `cmis_${schema}_owner`;
  const appRole = options.appRole ?? `cmis_${schema}_app`;
  if (!ROLE_NAME.test(appRole)) throw new DatabaseConfigError(`not a role name: ${appRole}`);
  const adminUrl = options.ownerUrl ?? options.url;
  const runtime = appConnection(options.url, appRole);
  if (userOf(adminUrl) === appRole) {
    throw new DatabaseConfigError(`ownerUrl must name an admin login, not the app role ${appRole}`);
  }

  let bootstrapped: Promise<void> | undefined;
  const bootstrap = (): Promise<void> => {
    if (options.bootstrap === false) return Promise.resolve();
    bootstrapped ??= withBootstrapLock(adminUrl, schema, (client) =>
      ensureServiceRoles(client, { schema, ownerRole, appRole, appPassword: runtime.password }),
    ).catch((error: unknown) => {
      bootstrapped = undefined; // let the next use try again
      throw error;
    });
    return bootstrapped;
  };

  const owner = knex({
    client: 'pg',
    connection: async () => {
      await bootstrap();
      return { connectionString: adminUrl };
    },
    pool: {
      min: 0,
      max: options.ownerPoolMax ?? 6,
      afterCreate: (conn: Client, done: (error: Error | null, conn: Client) => void) => {
        const id = (name: string) => conn.escapeIdentifier(name);
        conn.query(`set role ${id(ownerRole)}; set search_path to ${id(schema)}`).then(
          () => done(null, conn),
          (error: Error) => done(error, conn),
        );
      },
    },
  });

  const app = knex({
    client: 'pg',
    connection: async () => {
      await bootstrap();
      return { connectionString: runtime.connectionString };
    },
    pool: {
      min: 0,
      max: options.poolMax ?? 10,
      afterCreate: (conn: Client, done: (error: Error | null, conn: Client) => void) => {
        confineAppSession(conn, schema, appRole).then(
          () => done(null, conn),
          (error: Error) => done(error, conn),
        );
      },
    },
  });

  registerConnection(owner, 'owner');
  registerConnection(app, 'app');

  return {
    schema,
    ownerRole,
    appRole,
    owner,
    app,
    async migrate(migrations) {
      await bootstrap();
      return withBootstrapLock(adminUrl, schema, async () => {
        const config: Knex.MigratorConfig = {
          migrationSource: migrationSource(migrations),
          schemaName: schema,
          tableName: MIGRATIONS_TABLE,
        };
        // We hold the service's bootstrap lock, so a knex lock still set is left over from a crash.
        await owner.migrate.forceFreeMigrationsLock(config);
        const [, applied] = (await owner.migrate.latest(config)) as [number, string[]];
        await hideMigrationTables(owner, schema, appRole);
        return applied;
      });
    },
    async verifyMigrated(migrations) {
      migrationSource(migrations); // the same checks of names as migrate
      let applied: Set<string>;
      try {
        const { rows } = await owner.raw<{ rows: Array<{ name: string }> }>('select name from ??', [
          `${schema}.${MIGRATIONS_TABLE}`,
        ]);
        applied = new Set(rows.map((row) => row.name));
      } catch (error) {
        // No owner role (set role fails), no schema or no migration table yet: nothing was migrated.
        if (!isPgError(error, INVALID_PARAMETER_VALUE) && !isPgError(error, UNDEFINED_TABLE)) throw error;
        applied = new Set();
      }
      const pending = migrations.map((m) => m.name).filter((name) => !applied.has(name));
      if (pending.length > 0) throw new SchemaNotMigratedError(schema, pending);
    },
    async destroy() {
      await Promise.all([app.destroy(), owner.destroy()]);
    },
  };
}

function migrationSource(migrations: readonly Migration[]): Knex.MigrationSource<Migration> {
  const names = new Set<string>();
  for (const migration of migrations) {
    if (!migration.name) throw new DatabaseConfigError('every migration needs a name');
    if (names.has(migration.name)) throw new DatabaseConfigError(`duplicate migration ${migration.name}`);
    names.add(migration.name);
  }
  return {
    getMigrations: async () => [...migrations],
    getMigrationName: (migration) => migration.name,
    getMigration: async (migration) => ({
      up: (knex: Knex) => migration.up(knex),
      down: (knex: Knex) => {
        if (!migration.down) throw new Error(`migration ${migration.name} cannot be rolled back`);
        return migration.down(knex);
      },
    }),
  };
}

/** The app role must not be able to edit migration bookkeeping (default privileges granted it DML). */
async function hideMigrationTables(owner: Knex, schema: string, appRole: string): Promise<void> {
  for (const table of [MIGRATIONS_TABLE, `${MIGRATIONS_TABLE}_lock`]) {
    await owner.raw('revoke all on ?? from ??', [`${schema}.${table}`, appRole]);
  }
  const sequences = await owner.raw<{ rows: Array<{ name: string | null }> }>(
    `select pg_get_serial_sequence(?, 'id') as name union all select pg_get_serial_sequence(?, 'index')`,
    [`${schema}.${MIGRATIONS_TABLE}`, `${schema}.${MIGRATIONS_TABLE}_lock`],
  );
  for (const { name } of sequences.rows) {
    if (name) await owner.raw(`revoke all on sequence ${name} from ??`, [appRole]);
  }
}

/**
 * Every new app session is checked before use: a URL that failed to switch user would
 * otherwise hand the service a connection that ignores row-level security.
 */
async function confineAppSession(conn: Client, schema: string, appRole: string): Promise<void> {
  const { rows } = await conn.query<{ user: string; bypasses: boolean }>(
    `select current_user as user, (rolsuper or rolbypassrls) as bypasses from pg_roles where rolname = current_user`,
  );
  const session = rows[0];
  if (!session || session.user !== appRole || session.bypasses) {
    throw new UnsafeRoleError(
      `app connection runs as ${session?.user ?? 'unknown'}, expected confined ${appRole}`,
    );
  }
  await conn.query(`set search_path to ${conn.escapeIdentifier(schema)}`);
}

function userOf(url: string): string {
  try {
    return decodeURIComponent(new URL(url).username);
  } catch {
    throw new DatabaseConfigError('database url is not a URL');
  }
}

function appConnection(url: string, appRole: string): { connectionString: string; password?: string } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new DatabaseConfigError('database url is not a URL');
  }
  if (decodeURIComponent(parsed.username) === appRole) {
    return {
      connectionString: url,
      password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
    };
  }
  parsed.username = appRole;
  parsed.password = '';
  if (decodeURIComponent(parsed.username) !== appRole) {
    throw new DatabaseConfigError(`cannot put the app role into the database url (it needs a host)`);
  }
  return { connectionString: parsed.toString() };
}
