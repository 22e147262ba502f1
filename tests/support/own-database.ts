/**
 * A PostgreSQL database of a test file's own, created on the server the suite runs on and dropped
 * after. On PostgreSQL every test file's platform shares DATABASE_URL, and any platform's workers
 * (outbox relays, delivery workers) may claim another's work, as any instance of a deployment may;
 * a file whose assertions need its platform alone takes one of these. On PGlite (no DATABASE_URL)
 * every platform has its own DATA_DIR already, and this gives nothing.
 */
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';

export interface OwnDatabase {
  /** `{ DATABASE_URL }` for the platform's environment, or `{}` on PGlite. */
  env: Record<string, string>;
  drop(): Promise<void>;
}

export async function ownDatabaseWhenShared(prefix: string, sharedUrl = process.env.DATABASE_URL): Promise<OwnDatabase> {
  if (!sharedUrl) return { env: {}, drop: async () => {} };
  const database = `${prefix}_${randomBytes(4).toString('hex')}`;
  const server = postgres(sharedUrl, { max: 1, onnotice: () => {} });
  await server.unsafe(`create database ${database}`);
  const url = new URL(sharedUrl);
  url.pathname = `/${database}`;
  return {
    env: { DATABASE_URL: url.toString() },
    async drop() {
      await server.unsafe(`drop database if exists ${database} with (force)`);
      await server.end();
    },
  };
}
