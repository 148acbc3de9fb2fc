// SQLSTATE codes this package reacts to (https://www.postgresql.org/docs/current/errcodes-appendix.html).
export const DUPLICATE_OBJECT = '42710';
export const DUPLICATE_SCHEMA = '42P06';
export const UNIQUE_VIOLATION = '23505';
export const INSUFFICIENT_PRIVILEGE = '42501';

export type PgError = Error & { code: string; constraint?: string; detail?: string };

export function isPgError(error: unknown, code: string): error is PgError {
  return error instanceof Error && (error as { code?: unknown }).code === code;
}
