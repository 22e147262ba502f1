/**
 * Storage for every service: drizzle over ONE embedded PGlite per process (default) or over a
 * PostgreSQL server (`DATABASE_URL`, or `<SERVICE>_DATABASE_URL` for one service). Each service
 * lives in its own Postgres schema; migrations are applied at start-up under an advisory lock.
 */
export { openServiceDatabase, closeSharedDatabases, queryCounts, type ServiceDatabase, type Database, type DatabaseTarget, resolveDatabaseTarget } from './open';
export { applyMigrations } from './migrate';
export { newId } from './ids';
export { isUniqueViolation, isCheckViolation } from './errors';
export { rowsOf, retryOnConflict } from './rows';
export type { SqlRunner, RawTransaction } from './raw';
