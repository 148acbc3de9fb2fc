export { createDatabase } from './database';
export type { Database, DatabaseOptions, Migration } from './database';
export { enableTenantRls, tenantTable } from './rls';
export { OrgId, withOrg, withOrgs, withSystem } from './tenancy';
export {
  DatabaseConfigError,
  InvalidOrgIdError,
  SchemaNotMigratedError,
  TenantTableError,
  UnsafeRoleError,
  WrongConnectionError,
} from './errors';
export {
  DUPLICATE_OBJECT,
  INSUFFICIENT_PRIVILEGE,
  isPgDataError,
  isPgError,
  UNIQUE_VIOLATION,
} from './pg-errors';
export type { PgError } from './pg-errors';
export { findUnstorableText, isStorableText } from './storable-text';
