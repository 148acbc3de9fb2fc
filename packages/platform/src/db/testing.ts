// Helpers for int specs only (not exported from the package): each spec file works in its own
// schema and roles, so files run in parallel and reruns need no cleanup of earlier runs.
import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import type { Database } from './database';

export const TEST_DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export function freshSchemaName(prefix: string): string {
  return `${prefix}_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
}

/** Runs SQL as the admin login, outside any service role. */
export async function asAdmin<T>(work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Destroys the pools, then drops the schema and the roles so test runs do not pile up roles. */
export async function dropDatabase(db: Pick<Database, 'destroy' | 'ownerRole' | 'appRole'>): Promise<void> {
  await db.destroy();
  await asAdmin(async (client) => {
    const existing = await client.query<{ rolname: string }>(
      'select rolname from pg_roles where rolname = any($1)',
      [[db.ownerRole, db.appRole]],
    );
    const roles = existing.rows.map((row) => client.escapeIdentifier(row.rolname));
    if (roles.length === 0) return;
    // One role at a time: dropping both at once trips over the default ACL that links them.
    for (const role of roles) await client.query(`drop owned by ${role} cascade`);
    for (const role of roles) await client.query(`drop role ${role}`);
  });
}
