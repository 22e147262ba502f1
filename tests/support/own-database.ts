/**
 * A PostgreSQL database of a test file's own, created on the server the suite runs on and dropped
 * after. On PostgreSQL every test file's platform shares DATABASE_URL, and any platform's workers
 * (outbox relays, delivery workers) may claim another's work, as any instance of a deployment may;
 * a file whose assertions need its platform alone takes one of these. On PGlite (no DATABASE_URL)
 * every platform has its own DATA_DIR already, and this gives nothing.
 */
import { createOwnDatabase } from '@paygraph/db/testing';

export interface OwnDatabase {
  /** `{ DATABASE_URL }` for the platform's environment, or `{}` on PGlite. */
  env: Record<string, string>;
  drop(): Promise<void>;
}

/** `label`: lower-case letters, digits and underscores (the database is paygraph_<label>_<random>). */
export async function ownDatabaseWhenShared(label: string, sharedUrl = process.env.DATABASE_URL): Promise<OwnDatabase> {
  if (!sharedUrl) return { env: {}, drop: async () => {} };
  const own = await createOwnDatabase(sharedUrl, label);
  return { env: { DATABASE_URL: own.url }, drop: own.drop };
}
