// New embedded clusters from a dump of a fresh one (pglite-template.ts): only with
// PGLITE_TEMPLATE_DIR set; the dump is taken before anything is written, so every cluster made
// from it starts empty and independent; an existing cluster on disk is opened, never replaced; a
// template that cannot be written costs nothing but the speed-up.
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { openPglite } from '../src/pglite-template';

const folders: string[] = [];
const folder = (label: string) => {
  const created = mkdtempSync(path.join(tmpdir(), `pglite-template-${label}-`));
  folders.push(created);
  return created;
};
const opened: PGlite[] = [];
const open = async (location: string, env: NodeJS.ProcessEnv) => {
  const client = await openPglite(location, env);
  opened.push(client);
  return client;
};
/** Our calls of PGlite.create: PGlite makes one of its own (noInitDb) to run initdb. */
const ownCalls = (create: { mock: { calls: unknown[][] } }) =>
  create.mock.calls.filter(([options]) => !(typeof options === 'object' && options !== null && (options as { noInitDb?: boolean }).noInitDb));
/** How each of our calls made its cluster. */
const madeBy = (create: { mock: { calls: unknown[][] } }) =>
  ownCalls(create).map(([options]) => (typeof options === 'object' && options !== null && 'loadDataDir' in options ? 'dump' : 'initdb'));
const tables = async (client: PGlite) =>
  (await client.query<{ name: string }>(`select table_name as name from information_schema.tables where table_schema = 'public' order by 1`)).rows.map((row) => row.name);

afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(opened.splice(0).map((client) => client.close()));
});

afterAll(() => {
  for (const created of folders) rmSync(created, { recursive: true, force: true });
});

describe('openPglite', () => {
  it('dumps the first new cluster before it is used and makes the next ones from the dump, each empty and its own', async () => {
    const env = { PGLITE_TEMPLATE_DIR: folder('dir') };
    const create = vi.spyOn(PGlite, 'create');
    const first = await open('memory://first', env);
    expect(readdirSync(env.PGLITE_TEMPLATE_DIR)).toEqual([expect.stringMatching(/^fresh-cluster-pglite-[\d.]+\.tar$/)]);
    await first.query(`create table written_first (id integer)`);

    const second = await open('memory://second', env);
    const onDisk = folder('cluster');
    const third = await open(onDisk, env);
    // initdb once (the first), then loads of the dump.
    expect(madeBy(create)).toEqual(['initdb', 'dump', 'dump']);
    expect(await tables(second)).toEqual([]); // the dump was taken before the first one's table
    await second.query(`create table written_second (id integer)`);
    expect(await tables(first)).toEqual(['written_first']);
    expect(await tables(third)).toEqual([]);
    expect(existsSync(path.join(onDisk, 'PG_VERSION'))).toBe(true); // the folder holds the cluster
  });

  it('opens a cluster that is already on disk as it is, with what was written to it', async () => {
    const env = { PGLITE_TEMPLATE_DIR: folder('dir') };
    await open('memory://make-the-template', env);
    const onDisk = folder('existing');
    const made = await open(onDisk, env);
    await made.query(`create table kept (id integer)`);
    await made.query(`insert into kept values (7)`);
    await made.close();
    opened.splice(opened.indexOf(made), 1);

    const create = vi.spyOn(PGlite, 'create');
    const reopened = await open(onDisk, env);
    expect(ownCalls(create)).toEqual([[onDisk]]);
    expect((await reopened.query<{ id: number }>(`select id from kept`)).rows).toEqual([{ id: 7 }]);
  });

  it('opens the cluster all the same when the template cannot be written, and later ones run initdb', async () => {
    const blocker = path.join(folder('blocked'), 'a-file');
    writeFileSync(blocker, 'not a folder');
    const env = { PGLITE_TEMPLATE_DIR: path.join(blocker, 'templates') }; // under a file: mkdir fails
    const create = vi.spyOn(PGlite, 'create');
    const first = await open('memory://unwritable-a', env);
    const second = await open('memory://unwritable-b', env);
    expect(madeBy(create)).toEqual(['initdb', 'initdb']);
    await first.query(`create table works (id integer)`);
    expect(await tables(first)).toEqual(['works']);
    expect(await tables(second)).toEqual([]);
    expect(readdirSync(path.dirname(blocker))).toEqual(['a-file']); // no partial file left behind
  });

  it('runs initdb every time without PGLITE_TEMPLATE_DIR', async () => {
    const create = vi.spyOn(PGlite, 'create');
    await open('memory://plain-a', {});
    await open('memory://plain-b', {});
    expect(ownCalls(create)).toEqual([['memory://plain-a'], ['memory://plain-b']]);
  });
});
