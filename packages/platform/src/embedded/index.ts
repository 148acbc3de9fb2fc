export {
  startEmbeddedPostgres,
  DEFAULT_EMBEDDED_POSTGRES_PORT,
  EMBEDDED_DATABASE,
  type EmbeddedPostgres,
  type EmbeddedPostgresOptions,
} from './postgres';
export type { EmbeddedPostgresLogger } from './postgres-process';
export { defaultDataDir } from './data-dir';
export {
  EmbeddedPostgresError,
  DataDirNotWritableError,
  DataDirInUseError,
  DataDirCorruptError,
  PostgresStartError,
  PortInUseError,
  PostgresStartTimeoutError,
  PostgresUserError,
  PostgresBinariesError,
} from './errors';
