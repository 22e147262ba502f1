/**
 * A new embedded cluster from a copy instead of initdb, for test runs. PGlite runs initdb for
 * every new cluster: 3.7-4.6 s on 2 cores, and the suite opens one per integration file and per
 * platform it starts (in memory, or in a fresh temporary DATA_DIR). Loading a dump of a fresh
 * cluster takes about 1.4 s.
 *
 * Opt-in: with PGLITE_TEMPLATE_DIR set (vitest.config.ts sets it to a folder under
 * node_modules/.cache), the first new cluster is dumped there right after initdb, before anything
 * is written to it, and later new clusters load that dump. The file is named by PGlite's version,
 * so an upgrade makes a new one. Without the variable (`npm start`, production) every cluster is
 * made by initdb as before: a template read from a shared folder is not something a server should
 * trust.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';

/** PGlite's version, from its package.json (not in its exports map): beside its dist folder. */
const pgliteVersion = (
  JSON.parse(readFileSync(path.join(path.dirname(createRequire(import.meta.url).resolve('@electric-sql/pglite')), '..', 'package.json'), 'utf8')) as { version: string }
).version;

/** The template's file, or null when templates are off. */
function templateFile(env: NodeJS.ProcessEnv): string | null {
  const dir = env.PGLITE_TEMPLATE_DIR;
  return dir ? path.join(path.resolve(dir), `fresh-cluster-pglite-${pgliteVersion}.tar`) : null;
}

/** Whether `location` (a folder, or `memory://...`) would get a new cluster. */
function isNewCluster(location: string): boolean {
  return location.startsWith('memory://') || !existsSync(path.join(location, 'PG_VERSION'));
}

/** Opens the PGlite at `location` (a folder, or `memory://...`), a new one from the template when there is one. */
export async function openPglite(location: string, env: NodeJS.ProcessEnv = process.env): Promise<PGlite> {
  const file = templateFile(env);
  if (!file || !isNewCluster(location)) return PGlite.create(location);
  const dataDir = location.startsWith('memory://') ? undefined : location;
  const template = await readFile(file).catch(() => null);
  if (template) return PGlite.create({ ...(dataDir ? { dataDir } : {}), loadDataDir: new Blob([template]) });
  const client = await PGlite.create(location);
  // Nothing has been written to it yet: its dump is a fresh cluster. Written aside and renamed, so
  // a reader never sees half a file (two processes making it at once each write a whole one). Only
  // a speed-up: a folder that cannot be written leaves the next clusters to initdb, as without it.
  const partial = `${file}.${process.pid}.${Date.now()}.partial`;
  try {
    const dump = await client.dumpDataDir('none');
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    await writeFile(partial, Buffer.from(await dump.arrayBuffer()), { mode: 0o600 });
    await rename(partial, file);
  } catch {
    await rm(partial, { force: true }).catch(() => {});
  }
  return client;
}
