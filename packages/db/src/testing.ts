/**
 * For tests: a database of a test file's own on a PostgreSQL server (`createOwnDatabase`), and a
 * service's database of the test file's own, migrated (`openOwnServiceDatabase`). With DATABASE_URL
 * the latter is a database created on that server for the file and dropped by close() (the shared
 * database's schemas belong to the platforms the e2e suites run, whose reconcile checks would see
 * this file's rows); without, the embedded PGlite in memory, the file's own already.
 */
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { openServiceDatabase, type ServiceDatabase } from './open';

/** A database created on a PostgreSQL server for one test file: its name, URL, and what drops it. */
export interface OwnDatabase {
  name: string;
  url: string;
  /** Drops the database (connections to it are ended) and closes the server connection; safe twice. */
  drop(): Promise<void>;
}

/**
 * Creates `paygraph_<label>_<random>` on the server of `serverUrl` (a URL with any database: the
 * new one's URL is the same with the name swapped in).
 */
export async function createOwnDatabase(serverUrl: string, label: string): Promise<OwnDatabase> {
  if (!/^[a-z0-9_]+$/.test(label)) throw new Error(`a database label is lower-case letters, digits and underscores: ${label}`);
  const name = `paygraph_${label}_${randomBytes(4).toString('hex')}`;
  const server = postgres(serverUrl, { max: 1, onnotice: () => {} });
  try {
    await server.unsafe(`create database ${name}`);
  } catch (error) {
    await server.end();
    throw error;
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  let dropped: Promise<void> | null = null;
  return {
    name,
    url: url.toString(),
    drop: () =>
      (dropped ??= (async () => {
        try {
          await server.unsafe(`drop database if exists ${name} with (force)`);
        } finally {
          await server.end();
        }
      })()),
  };
}

export async function openOwnServiceDatabase<TSchema extends Record<string, unknown>>(options: {
  service: string;
  schema: TSchema;
  migrationsFolder: string;
  /** Names the database (lower-case letters, digits and underscores). */
  label: string;
}): Promise<ServiceDatabase<TSchema>> {
  const serverUrl = process.env.DATABASE_URL;
  if (!serverUrl) {
    return openServiceDatabase({ service: options.service, target: { kind: 'pglite', dataDir: `memory://${options.label}` }, schema: options.schema, migrationsFolder: options.migrationsFolder });
  }
  const own = await createOwnDatabase(serverUrl, options.label);
  let database: ServiceDatabase<TSchema>;
  try {
    database = await openServiceDatabase({ service: options.service, target: { kind: 'postgres', url: own.url, poolMax: 4 }, schema: options.schema, migrationsFolder: options.migrationsFolder });
  } catch (error) {
    await own.drop();
    throw error;
  }
  return {
    ...database,
    async close() {
      await database.close();
      await own.drop();
    },
  };
}
