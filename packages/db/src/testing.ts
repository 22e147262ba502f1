/**
 * For store tests: a service's database of the test file's own, migrated. With DATABASE_URL it is a
 * database created on that server for the file and dropped by close() (the shared database's
 * schemas belong to the platforms the e2e suites run, whose reconcile checks would see this file's
 * rows); without, the embedded PGlite in memory, the file's own already.
 */
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { openServiceDatabase, type ServiceDatabase } from './open';

export async function openOwnServiceDatabase<TSchema extends Record<string, unknown>>(options: {
  service: string;
  schema: TSchema;
  migrationsFolder: string;
  /** Names the database (letters, digits and underscores). */
  label: string;
}): Promise<ServiceDatabase<TSchema>> {
  const serverUrl = process.env.DATABASE_URL;
  if (!serverUrl) {
    return openServiceDatabase({ service: options.service, target: { kind: 'pglite', dataDir: `memory://${options.label}` }, schema: options.schema, migrationsFolder: options.migrationsFolder });
  }
  const name = `paygraph_${options.label}_${randomBytes(4).toString('hex')}`;
  const server = postgres(serverUrl, { max: 1, onnotice: () => {} });
  const drop = async () => {
    await server.unsafe(`drop database if exists ${name} with (force)`);
    await server.end();
  };
  await server.unsafe(`create database ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  let database: ServiceDatabase<TSchema>;
  try {
    database = await openServiceDatabase({ service: options.service, target: { kind: 'postgres', url: url.toString(), poolMax: 4 }, schema: options.schema, migrationsFolder: options.migrationsFolder });
  } catch (error) {
    await drop();
    throw error;
  }
  return {
    ...database,
    async close() {
      await database.close();
      await drop();
    },
  };
}
