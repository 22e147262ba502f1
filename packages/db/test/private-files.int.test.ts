// Proves DATA_DIR is private: makePrivateDirectory creates folders 0700, tightens a looser existing
// tree (0755 folders, 0644 files) to 0700/0600 with one log line naming how many entries, leaves
// symbolic links alone and says nothing when nothing changed; a real embedded database opened on
// a data folder and the generated service secret leave nothing readable by group or others.
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, lstatSync, rmSync, symlinkSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { closeSharedDatabases, makePrivateDirectory, openServiceDatabase } from '../src/index';
import { resolveServiceSecret } from '@paygraph/server';

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
    writeFileSync(path.join(root, 'pglite', 'base', 'hashes'), 'argon2id...', { mode: 0o644 });
    writeFileSync(path.join(root, 'service-secret'), 'secret', { mode: 0o640 });
    writeFileSync(path.join(root, 'already-private'), 'x', { mode: 0o600 });
    const outside = path.join(scratch(), 'outside');
    writeFileSync(outside, 'not ours', { mode: 0o644 });
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
    const database = await openServiceDatabase({
      service: 'privacy',
      target: { kind: 'pglite', dataDir },
      schema: {},
      migrationsFolder: path.join(import.meta.dirname, 'fixtures/migrations'),
    });
    try {
      await database.query('select 1');
    } finally {
      await database.close();
    }
    expect(readdirSync(path.join(dataDir, 'pglite')).length).toBeGreaterThan(3);
    expect(looseEntries(dataDir)).toEqual([]);
  });
});
