import { sql } from 'drizzle-orm';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import type { Database } from './open';
import { rowsOf } from './rows';

/** One lock for all migrations of the platform: a start-up race between instances waits here. */
const MIGRATION_LOCK_KEY = 727_172_001;

/**
 * Applies the drizzle-kit migrations in `migrationsFolder` that this database has not seen, in one
 * transaction holding a transaction-level advisory lock, so two instances starting at once apply
 * each migration exactly once. Bookkeeping lives in `drizzle.__migrations_<service>`.
 */
export async function applyMigrations(db: Database, service: string, migrationsFolder: string): Promise<number> {
  const migrations = readMigrationFiles({ migrationsFolder });
  const table = sql.raw(`"drizzle"."__migrations_${service.replace(/[^a-z0-9_]/g, '_')}"`);
  return db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`);
    await tx.execute(sql`create schema if not exists "drizzle"`);
    await tx.execute(sql`create table if not exists ${table} (id serial primary key, hash text not null, created_at bigint not null)`);
    const rows = rowsOf<{ created_at: string | number | null }>(await tx.execute(sql`select max(created_at) as created_at from ${table}`));
    const lastApplied = Number(rows[0]?.created_at ?? 0);
    let applied = 0;
    for (const migration of migrations) {
      if (migration.folderMillis <= lastApplied) continue;
      for (const statement of migration.sql) {
        if (statement.trim().length > 0) await tx.execute(sql.raw(statement));
      }
      await tx.execute(sql`insert into ${table} (hash, created_at) values (${migration.hash}, ${migration.folderMillis})`);
      applied += 1;
    }
    return applied;
  });
}
