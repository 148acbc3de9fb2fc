import { Client } from 'pg';
import { UnsafeRoleError } from './errors';
import { DUPLICATE_OBJECT, DUPLICATE_SCHEMA, isPgError, UNIQUE_VIOLATION } from './pg-errors';

export type ServiceRoles = {
  schema: string;
  ownerRole: string;
  appRole: string;
  /** Set on the app role when this process creates it (taken from the runtime URL). */
  appPassword?: string;
};

// First key of every CMIS advisory lock ('CMIS'); the second is hashtext(schema).
const LOCK_NAMESPACE = 0x434d4953;

/**
 * Runs `work` on a dedicated admin session that holds the service's bootstrap lock.
 * Bootstrap and migrations of one service in one database are serialized by it, so concurrent
 * GRANTs ("tuple concurrently updated") and knex's own non-waiting migration lock never race.
 * Ending the session releases the lock, also when the process dies.
 */
export async function withBootstrapLock<T>(
  adminUrl: string,
  schema: string,
  work: (client: Client) => Promise<T>,
): Promise<T> {
  const client = new Client({ connectionString: adminUrl });
  // A dropped connection also rejects the pending query; without a listener it would crash the process.
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query('select pg_advisory_lock($1, hashtext($2))', [LOCK_NAMESPACE, schema]);
    return await work(client);
  } finally {
    await client.end();
  }
}

/**
 * Makes sure the owner role, the app login role and the schema exist with the grants the app
 * role needs, and that the app role cannot bypass row-level security. Idempotent.
 */
export async function ensureServiceRoles(client: Client, roles: ServiceRoles): Promise<void> {
  const { schema, ownerRole, appRole, appPassword } = roles;
  const id = (name: string) => client.escapeIdentifier(name);

  await createRoleIfMissing(client, ownerRole, 'NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE');
  const password = appPassword ? ` PASSWORD ${client.escapeLiteral(appPassword)}` : '';
  const appCreated = await createRoleIfMissing(
    client,
    appRole,
    `LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE${password}`,
  );
  if (appCreated) await client.query(`alter role ${id(appRole)} set search_path = ${id(schema)}`);
  await assertAppRoleIsConfined(client, appRole, ownerRole);

  // A non-superuser admin (managed Postgres) must be a member to SET ROLE to the owner.
  const member = await client.query<{ member: boolean }>(
    `select pg_has_role(current_user, $1, 'MEMBER') as member`,
    [ownerRole],
  );
  if (!member.rows[0]?.member) await client.query(`grant ${id(ownerRole)} to current_user`);

  await createSchemaIfMissing(client, schema, ownerRole);

  // Granted by the owner itself, so the default privileges cover every table its migrations create.
  await client.query('begin');
  try {
    await client.query(`set local role ${id(ownerRole)}`);
    await client.query(`grant usage on schema ${id(schema)} to ${id(appRole)}`);
    await client.query(
      `alter default privileges in schema ${id(schema)} grant select, insert, update, delete on tables to ${id(appRole)}`,
    );
    await client.query(
      `alter default privileges in schema ${id(schema)} grant usage, select on sequences to ${id(appRole)}`,
    );
    await client.query('commit');
  } catch (error) {
    await client.query('rollback');
    throw error;
  }
}

/**
 * Creates the role unless it exists. Roles are cluster-wide while the bootstrap lock is per
 * database, so two services' processes can still race here: the loser's duplicate is fine.
 */
async function createRoleIfMissing(client: Client, role: string, options: string): Promise<boolean> {
  const existing = await client.query('select 1 from pg_roles where rolname = $1', [role]);
  if (existing.rowCount) return false;
  try {
    await client.query(`create role ${client.escapeIdentifier(role)} ${options}`);
    return true;
  } catch (error) {
    if (isPgError(error, DUPLICATE_OBJECT) || isPgError(error, UNIQUE_VIOLATION)) return false;
    throw error;
  }
}

async function createSchemaIfMissing(client: Client, schema: string, ownerRole: string): Promise<void> {
  const found = await client.query<{ owner: string }>(
    `select r.rolname as owner from pg_namespace n join pg_roles r on r.oid = n.nspowner where n.nspname = $1`,
    [schema],
  );
  const owner = found.rows[0]?.owner;
  if (owner === undefined) {
    const id = (name: string) => client.escapeIdentifier(name);
    try {
      await client.query(`create schema ${id(schema)} authorization ${id(ownerRole)}`);
    } catch (error) {
      if (!isPgError(error, DUPLICATE_SCHEMA) && !isPgError(error, UNIQUE_VIOLATION)) throw error;
    }
    return;
  }
  if (owner !== ownerRole) {
    throw new UnsafeRoleError(`schema ${schema} is owned by ${owner}, expected ${ownerRole}`);
  }
}

/** Refuses an app role that could read across orgs: superuser, BYPASSRLS, or able to become the owner. */
async function assertAppRoleIsConfined(client: Client, appRole: string, ownerRole: string): Promise<void> {
  const { rows } = await client.query<{ rolname: string }>(
    `select r.rolname from pg_roles r
      where pg_has_role($1, r.oid, 'MEMBER') and (r.rolsuper or r.rolbypassrls or r.rolname = $2)`,
    [appRole, ownerRole],
  );
  if (rows.length > 0) {
    const roles = rows.map((row) => row.rolname).join(', ');
    throw new UnsafeRoleError(
      `app role ${appRole} can bypass row-level security through ${roles}; fix the role before starting`,
    );
  }
}
