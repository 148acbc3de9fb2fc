// SQLSTATE codes this package reacts to (https://www.postgresql.org/docs/current/errcodes-appendix.html).
export const DUPLICATE_OBJECT = '42710';
export const DUPLICATE_SCHEMA = '42P06';
export const UNIQUE_VIOLATION = '23505';
export const INSUFFICIENT_PRIVILEGE = '42501';
export const UNDEFINED_TABLE = '42P01';
/** Also what `set role` answers for a role that does not exist. */
export const INVALID_PARAMETER_VALUE = '22023';

export type PgError = Error & { code: string; constraint?: string; detail?: string };

export function isPgError(error: unknown, code: string): error is PgError {
  return error instanceof Error && (error as { code?: unknown }).code === code;
}

/**
 * SQLSTATE class 22, data exception: Postgres refused a value itself (22P05/22021 text it cannot
 * store, 22P02 a malformed literal, 22003 a number out of range). Retrying the same value never helps.
 */
export function isPgDataError(error: unknown): error is PgError {
  const code = error instanceof Error ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' && code.length === 5 && code.startsWith('22');
}
