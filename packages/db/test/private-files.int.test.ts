// Proves DATA_DIR is private: makePrivateDirectory creates folders 0700, tightens a looser existing
// tree (0755 folders, 0644 files) to 0700/0600 with one log line naming how many entries, leaves
// symbolic links alone and says nothing when nothing changed; a real embedded database opened on
// a data folder and the generated service secret leave nothing readable by group or others; and
// after a service process's start-up (createRuntime sets umask 077) a file created later, such as
// the files of a table PGlite creates while running, is 0600 from the start.
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, lstatSync, rmSync, symlinkSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '@paygraph/logging';
import { createRuntime, resolveServiceSecret } from '@paygraph/server';
import { closeSharedDatabases, makePrivateDirectory, openServiceDatabase, PRIVATE_UMASK } from '../src/index';

const roots: string[] = [];
const scratch = () => {
  const root = mkdtempSync(path.join(tmpdir(), 'paygraph-private-'));
  roots.push(root);
  return root;
};

afterAll(async () => {
  await closeSharedDatabases();
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

const modeOf = (file: string) => statSync(file).mode & 0o777;

const openEmbedded = (service: string, dataDir: string) =>
  openServiceDatabase({ service, target: { kind: 'pglite', dataDir }, schema: {}, migrationsFolder: path.join(import.meta.dirname, 'fixtures/migrations') });

/** Every entry under `directory` (symbolic links excluded) that group or others may access. */
function looseEntries(directory: string): string[] {
  const loose: string[] = [];
  const pending = [directory];
  for (let guard = 0; pending.length > 0 && guard < 100_000; guard += 1) {
    const current = pending.pop()!;
    const stats = lstatSync(current);
    if (stats.isSymbolicLink()) continue;
    if ((stats.mode & 0o077) !== 0) loose.push(current);
    if (stats.isDirectory()) for (const name of readdirSync(current)) pending.push(path.join(current, name));
  }
  return loose;
}

function capture() {
  const lines: { fields: Record<string, unknown>; message: string }[] = [];
  return { lines, logger: { warn: (fields: Record<string, unknown>, message: string) => lines.push({ fields, message }) } };
}

describe('makePrivateDirectory', () => {
  it('creates a missing folder (and its missing parents) 0700', () => {
    const target = path.join(scratch(), 'a', 'data');
    const { lines, logger } = capture();
    expect(makePrivateDirectory(target, logger)).toBe(0);
    expect(modeOf(target)).toBe(0o700);
    expect(lines).toEqual([]);
  });

  it('tightens a looser existing tree with one log line, then has nothing to say', () => {
    const root = path.join(scratch(), 'data');
    mkdirSync(path.join(root, 'pglite', 'base'), { recursive: true });
    for (const folder of [root, path.join(root, 'pglite'), path.join(root, 'pglite', 'base')]) chmodSync(folder, 0o755);
    // Modes set explicitly: a create's mode passes through the process's umask, and a service's
    // start-up in an earlier test file of the same worker leaves it at 077.
    const files: [string, number][] = [
      [path.join(root, 'pglite', 'base', 'hashes'), 0o644],
      [path.join(root, 'service-secret'), 0o640],
      [path.join(root, 'already-private'), 0o600],
    ];
    for (const [file, mode] of files) {
      writeFileSync(file, 'x');
      chmodSync(file, mode);
    }
    const outside = path.join(scratch(), 'outside');
    writeFileSync(outside, 'not ours');
    chmodSync(outside, 0o644);
    symlinkSync(outside, path.join(root, 'link'));
    const { lines, logger } = capture();
    expect(makePrivateDirectory(root, logger)).toBe(5);
    expect(looseEntries(root)).toEqual([]);
    expect(modeOf(path.join(root, 'pglite', 'base', 'hashes'))).toBe(0o600);
    expect(modeOf(path.join(root, 'pglite'))).toBe(0o700);
    // The link's target is not ours to change.
    expect(modeOf(outside)).toBe(0o644);
    expect(lines).toEqual([{ fields: { directory: root, tightened: 5 }, message: expect.stringMatching(/tightened/) }]);
    expect(makePrivateDirectory(root, logger)).toBe(0);
    expect(lines).toHaveLength(1);
  });
});

describe('the data folder in use', () => {
  it('an embedded database and the generated service secret leave nothing readable by others', async () => {
    const dataDir = path.join(scratch(), 'data');
    const secret = resolveServiceSecret(undefined, dataDir);
    expect(secret.length).toBeGreaterThan(20);
    expect(modeOf(dataDir)).toBe(0o700);
    expect(modeOf(path.join(dataDir, 'service-secret'))).toBe(0o600);
    const database = await openEmbedded('privacy', dataDir);
    try {
      await database.query('select 1');
    } finally {
      await database.close();
    }
    expect(readdirSync(path.join(dataDir, 'pglite')).length).toBeGreaterThan(3);
    expect(looseEntries(dataDir)).toEqual([]);
  });
});

describe('the umask a service process sets at start-up', () => {
  it('makes files and folders created after start-up owner-only, PGlite\'s included', async () => {
    const dataDir = path.join(scratch(), 'data');
    // A permissive umask, as a shell usually has: without start-up's, new files would be 0644.
    const outer = process.umask(0o022);
    try {
      createRuntime({ env: { ...process.env, DATA_DIR: dataDir, NODE_ENV: 'test' }, services: [], logger: createLogger({ level: 'silent' }) });
      expect(process.umask()).toBe(PRIVATE_UMASK);
      // Created with Node's default modes (0666 files, 0777 folders), as any library would.
      const elsewhere = scratch();
      writeFileSync(path.join(elsewhere, 'later'), 'x');
      mkdirSync(path.join(elsewhere, 'folder'));
      expect(modeOf(path.join(elsewhere, 'later'))).toBe(0o600);
      expect(modeOf(path.join(elsewhere, 'folder'))).toBe(0o700);
      const database = await openEmbedded('privacy-later', dataDir);
      const before = new Set(listFiles(dataDir));
      try {
        // New relation files, written by PGlite after opening (after open's tightening pass).
        // PostgreSQL asks for 0600 itself here; the umask covers whatever asks for more.
        await database.query('create table written_later (id int primary key, note text)');
        await database.query("insert into written_later select n, repeat('x', 200) from generate_series(1, 2000) as n");
        await database.query('checkpoint');
      } finally {
        await database.close();
        await closeSharedDatabases();
      }
      const created = listFiles(dataDir).filter((file) => !before.has(file));
      expect(created.length).toBeGreaterThan(0);
      expect(created.filter((file) => (statSync(file).mode & 0o077) !== 0)).toEqual([]);
      expect(looseEntries(dataDir)).toEqual([]);
    } finally {
      process.umask(outer);
    }
  });
});

function listFiles(directory: string): string[] {
  const files: string[] = [];
  const pending = [directory];
  while (pending.length > 0) {
    const current = pending.pop()!;
    const stats = lstatSync(current);
    if (stats.isDirectory()) for (const name of readdirSync(current)) pending.push(path.join(current, name));
    else if (stats.isFile()) files.push(current);
  }
  return files;
}
