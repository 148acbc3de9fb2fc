import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { createDatabase, type Database, type Migration } from './database';
import { InvalidOrgIdError, WrongConnectionError } from './errors';
import { tenantTable } from './rls';
import { withOrg, withSystem } from './tenancy';
import { dropDatabase, freshSchemaName, TEST_DATABASE_URL } from './testing';

const notes: Migration = {
  name: '001_notes',
  async up(knex) {
    await tenantTable(knex, 'notes', (table) => {
      table.uuid('id').primary();
      table.text('body').notNullable();
    });
  },
};

const INSUFFICIENT_PRIVILEGE = '42501';
const refusedBy = (code: string) => expect.objectContaining({ code });

describe('row-level security on a tenant table', () => {
  let db: Database;
  const orgA = randomUUID();
  const orgB = randomUUID();
  const noteA = randomUUID();
  const noteB = randomUUID();

  beforeAll(async () => {
    db = createDatabase({ url: TEST_DATABASE_URL, schema: freshSchemaName('rls') });
    await db.migrate([notes]);
    await withOrg(db.app, orgA, (trx) => trx('notes').insert({ id: noteA, org_id: orgA, body: 'a' }));
    await withOrg(db.app, orgB, (trx) => trx('notes').insert({ id: noteB, org_id: orgB, body: 'b' }));
  });
  afterAll(() => dropDatabase(db));

  const bodyOf = (id: string) =>
    withSystem(db.owner, async (trx) => (await trx('notes').where({ id }).first<{ body: string }>())?.body);

  it('shows an org only its own rows', async () => {
    const rows = await withOrg(db.app, orgA, (trx) => trx('notes').select('id', 'org_id'));
    expect(rows).toEqual([{ id: noteA, org_id: orgA }]);
  });

  it("cannot update or delete another org's rows", async () => {
    const changed = await withOrg(db.app, orgA, async (trx) => ({
      updated: await trx('notes').where({ id: noteB }).update({ body: 'hijacked' }),
      deleted: await trx('notes').where({ id: noteB }).delete(),
      updatedAll: await trx('notes').update({ body: trx.raw('body') }),
    }));
    expect(changed).toEqual({ updated: 0, deleted: 0, updatedAll: 1 });
    expect(await bodyOf(noteB)).toBe('b');
  });

  it('refuses to insert a row for another org', async () => {
    await expect(
      withOrg(db.app, orgA, (trx) => trx('notes').insert({ id: randomUUID(), org_id: orgB, body: 'x' })),
    ).rejects.toEqual(refusedBy(INSUFFICIENT_PRIVILEGE));
  });

  it('refuses to move a row into another org', async () => {
    await expect(
      withOrg(db.app, orgA, (trx) => trx('notes').where({ id: noteA }).update({ org_id: orgB })),
    ).rejects.toEqual(refusedBy(INSUFFICIENT_PRIVILEGE));
    expect(await bodyOf(noteA)).toBe('a');
  });

  it('fails closed when no org is set: nothing visible, nothing writable', async () => {
    expect(await db.app('notes').select()).toEqual([]);
    const emptySetting = await db.app.transaction(async (trx) => {
      await trx.raw(`select set_config('app.current_org_id', '', true)`);
      return trx('notes').select();
    });
    expect(emptySetting).toEqual([]);
    expect(await db.app('notes').update({ body: 'x' })).toBe(0);
    expect(await db.app('notes').delete()).toBe(0);
    await expect(db.app('notes').insert({ id: randomUUID(), org_id: orgA, body: 'x' })).rejects.toEqual(
      refusedBy(INSUFFICIENT_PRIVILEGE),
    );
  });

  it('does not carry the org of a finished transaction into the next one on a pooled session', async () => {
    const onOneSession = createDatabase({ url: TEST_DATABASE_URL, schema: db.schema, poolMax: 1 });
    try {
      await withOrg(onOneSession.app, orgA, (trx) => trx('notes').select());
      expect(await onOneSession.app('notes').select()).toEqual([]);
    } finally {
      await onOneSession.destroy();
    }
  });

  describe('the app role cannot escape the policies', () => {
    const attempt = (sql: string) => db.app.transaction((trx: Knex.Transaction) => trx.raw(sql));

    it.each([
      ['disable row level security', 'alter table notes disable row level security'],
      ['stop forcing row level security', 'alter table notes no force row level security'],
      ['drop the policy', 'drop policy org_isolation on notes'],
      ['add a permissive policy', 'create policy everything on notes using (true)'],
      ['truncate (which skips policies)', 'truncate notes'],
      ['create tables in the schema', 'create table sneaky (id int)'],
    ])('cannot %s', async (_what, sql) => {
      await expect(attempt(sql)).rejects.toEqual(refusedBy(INSUFFICIENT_PRIVILEGE));
    });

    it('cannot SET ROLE to the owner', async () => {
      await expect(attempt(`set role ${db.ownerRole}`)).rejects.toEqual(refusedBy(INSUFFICIENT_PRIVILEGE));
    });

    it('is neither superuser nor BYPASSRLS, and policies are active for it', async () => {
      const { rows } = await db.app.raw(
        `select current_user as "user", current_schema() as schema, rolsuper, rolbypassrls,
                row_security_active('notes') as rls
           from pg_roles where rolname = current_user`,
      );
      expect(rows).toEqual([
        { user: db.appRole, schema: db.schema, rolsuper: false, rolbypassrls: false, rls: true },
      ]);
    });
  });

  it('lets the system path see every org', async () => {
    const ids = await withSystem(db.owner, (trx) => trx('notes').whereIn('id', [noteA, noteB]).pluck('id'));
    expect(ids.sort()).toEqual([noteA, noteB].sort());
  });

  it('refuses a malformed org id before touching the database', async () => {
    const work = jest.fn();
    await expect(withOrg(db.app, 'not-a-uuid', work)).rejects.toBeInstanceOf(InvalidOrgIdError);
    await expect(withOrg(db.app, `${orgA}' or true --`, work)).rejects.toBeInstanceOf(InvalidOrgIdError);
    expect(work).not.toHaveBeenCalled();
  });

  it('refuses the owner connection on the tenant path and the app connection on the system path', async () => {
    await expect(withOrg(db.owner, orgA, async () => 1)).rejects.toBeInstanceOf(WrongConnectionError);
    await expect(withSystem(db.app, async () => 1)).rejects.toBeInstanceOf(WrongConnectionError);
  });
});
