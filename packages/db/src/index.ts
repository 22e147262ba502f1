/**
 * Storage for every service: drizzle over ONE embedded PGlite per process (default) or over a
 * PostgreSQL server (`DATABASE_URL`, or `<SERVICE>_DATABASE_URL` for one service). Each service
 * lives in its own Postgres schema; migrations are applied at start-up under an advisory lock.
 */
export {
  openServiceDatabase,
  closeSharedDatabases,
  type QueryCounts,
  type ServiceDatabase,
  type Database,
  type DatabaseTarget,
  resolveDatabaseTarget,
  DATABASE_CONNECT_TIMEOUT_MS_DEFAULT,
  reconnectDelaySeconds,
} from './open';
export {
  waitForDatabase,
  setDatabaseLogger,
  pingServiceDatabase,
  DATABASE_PING_TIMEOUT_MS,
  DATABASE_STARTUP_WAIT_MS_DEFAULT,
  type AvailabilityLogger,
} from './availability';
export { applyMigrations } from './migrate';
export { makePrivateDirectory, PRIVATE_DIRECTORY_MODE, PRIVATE_FILE_MODE, PRIVATE_UMASK, restrictFileCreation } from './private-files';
export { newId } from './ids';
export { isUniqueViolation, isCheckViolation, isDatabaseUnavailable, isNumericOutOfRange } from './errors';
export { rowsOf, retryOnConflict } from './rows';
export type { SqlRunner, RawTransaction } from './raw';
export { sendStatement } from './raw';
