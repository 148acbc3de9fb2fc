/** withOrg was given something that is not an org id; nothing was sent to Postgres. */
export class InvalidOrgIdError extends Error {
  override readonly name = 'InvalidOrgIdError';
  constructor(readonly orgId: unknown) {
    super(`org id must be a uuid, got ${JSON.stringify(orgId)}`);
  }
}

/**
 * A tenant path was handed the system connection or the other way round. withOrg on the owner
 * connection would silently see every org, so the mix-up is refused before any query runs.
 */
export class WrongConnectionError extends Error {
  override readonly name = 'WrongConnectionError';
  constructor(
    readonly operation: 'withOrg' | 'withOrgs' | 'withSystem',
    readonly expected: 'app' | 'owner',
  ) {
    super(`${operation} needs the ${expected} connection of a database made by createDatabase`);
  }
}

/** The service's database settings are unusable (bad schema or role name, bad URL). */
export class DatabaseConfigError extends Error {
  override readonly name = 'DatabaseConfigError';
}

/**
 * The roles found in Postgres would let the app role escape row-level security
 * (superuser, BYPASSRLS, or membership in the owner role); the service refuses to start.
 */
export class UnsafeRoleError extends Error {
  override readonly name = 'UnsafeRoleError';
}

/** enableTenantRls was asked to protect a table that cannot be protected. */
export class TenantTableError extends Error {
  override readonly name = 'TenantTableError';
}

/**
 * The service was told its schema is migrated by a separate step (DATABASE_MIGRATIONS=verify)
 * but migrations are pending; it refuses to start rather than run on a partial schema.
 */
export class SchemaNotMigratedError extends Error {
  override readonly name = 'SchemaNotMigratedError';
  constructor(
    readonly schema: string,
    readonly pending: readonly string[],
  ) {
    super(
      `schema ${schema} is not migrated: ${pending.length} migration${pending.length === 1 ? '' : 's'} pending ` +
        `(${pending.slice(0, 3).join(', ')}${pending.length > 3 ? ', …' : ''}); run the service's migrate step first`,
    );
  }
}
