// Proves the layering by reading every import of the source tree: shared packages never import a
// service, the gateway, the launcher or a script; @paygraph/testing imports no layer above the
// shared packages; a subgraph imports no other subgraph and not the gateway; the gateway imports
// no subgraph; and a relative import never reaches into another unit (across units, imports go
// through the package name). Test files may start the platform (@paygraph/platform) and use the
// shared test support (tests/support); a subgraph may import another's published limits (its
// `/limits` export), nothing else of it. The checker is also run on made-up imports, so a rule
// that could never fire would show.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repositoryRoot } from '@paygraph/config';

/** A folder that is one workspace (`packages/db`, `subgraphs/payments`, `gateway`) or another top-level folder. */
type Unit = string;

const SOURCE_EXTENSIONS = new Set(['.ts', '.tsx', '.mts', '.js', '.mjs']);
const SKIPPED_FOLDERS = new Set(['node_modules', 'generated', 'ide-dist', 'dist']);

/** Workspace package names (`@paygraph/db`) to their folder (`packages/db`). */
function workspaceFolders(): Map<string, Unit> {
  const folders = new Map<string, Unit>();
  for (const parent of ['packages', 'subgraphs']) {
    for (const name of readdirSync(path.join(repositoryRoot, parent))) {
      const manifest = path.join(repositoryRoot, parent, name, 'package.json');
      try {
        folders.set((JSON.parse(readFileSync(manifest, 'utf8')) as { name: string }).name, `${parent}/${name}`);
      } catch {
        // A folder without a manifest is not a workspace.
      }
    }
  }
  folders.set('@paygraph/gateway', 'gateway');
  return folders;
}

/** The unit a repository-relative path belongs to. */
function unitOf(relativePath: string): Unit {
  const [top, second] = relativePath.split('/');
  return top === 'packages' || top === 'subgraphs' ? `${top}/${second}` : top!;
}

const isTestFile = (relativePath: string) => /(^|\/)test\//.test(relativePath);

/**
 * What one subgraph may import from another: its published contract modules (package.json
 * `exports` subpaths), never the service itself. Issue 13: the callee's limits are imported, not
 * re-typed on the caller's side.
 */
const CONTRACT_SUBPATHS = new Set(['limits']);

/** Test support shared by every test file (private PostgreSQL clusters, spawned processes). */
const TEST_SUPPORT = 'tests/support/';

/** Module specifiers of import and export statements and dynamic imports, comments left out. */
export function importSpecifiers(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const pattern = /(?:^|[;\s])(?:import|export)\s[^'"`;]*?from\s*['"]([^'"]+)['"]|(?:^|[;\s])import\s*['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/gm;
  return [...code.matchAll(pattern)].map((match) => (match[1] ?? match[2] ?? match[3])!);
}

/** Why an import from `file` (repository-relative) of `specifier` breaks the layering, or null. */
export function violation(file: string, specifier: string, folders: Map<string, Unit>): string | null {
  const from = unitOf(file);
  let target: Unit;
  if (specifier.startsWith('.')) {
    const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier));
    target = unitOf(resolved);
    if (isTestFile(file) && resolved.startsWith(TEST_SUPPORT)) return null;
    if (target !== from) return `reaches into ${target} by a relative path (import it by its package name)`;
    return null;
  }
  const name = specifier.split('/').slice(0, 2).join('/');
  const folder = folders.get(name);
  if (!folder) return null; // Node built-ins and libraries.
  target = folder;
  if (target === from) return null;
  const test = isTestFile(file);
  const isSubgraph = (unit: Unit) => unit.startsWith('subgraphs/');
  const launcher = 'packages/platform';
  if (target === launcher) return test ? null : `imports the launcher (${specifier}); only tests and npm start may`;
  if (from === 'packages/testing' && (isSubgraph(target) || target === 'gateway')) return `@paygraph/testing imports ${specifier}, a layer above it`;
  if (from.startsWith('packages/') && from !== launcher && (isSubgraph(target) || target === 'gateway')) return `a shared package imports ${specifier}`;
  const subpath = specifier.split('/').slice(2).join('/');
  if (isSubgraph(from) && isSubgraph(target) && CONTRACT_SUBPATHS.has(subpath)) return null;
  if (isSubgraph(from) && isSubgraph(target)) return `a subgraph imports another subgraph (${specifier}); call it through its port`;
  if (isSubgraph(from) && target === 'gateway') return `a subgraph imports the gateway (${specifier})`;
  if (from === 'gateway' && isSubgraph(target)) return `the gateway imports a subgraph (${specifier})`;
  return null;
}

function sourceFiles(folder: string): string[] {
  const files: string[] = [];
  const walk = (absolute: string) => {
    for (const entry of readdirSync(absolute)) {
      if (SKIPPED_FOLDERS.has(entry)) continue;
      const child = path.join(absolute, entry);
      if (statSync(child).isDirectory()) walk(child);
      else if (SOURCE_EXTENSIONS.has(path.extname(entry)) && !entry.endsWith('.d.ts')) files.push(path.relative(repositoryRoot, child).split(path.sep).join('/'));
    }
  };
  walk(path.join(repositoryRoot, folder));
  return files;
}

const folders = workspaceFolders();
const layered = [...folders.values()];

describe('import direction', () => {
  it.each(layered)('%s imports only what its layer may', (unit) => {
    const found: string[] = [];
    for (const file of sourceFiles(unit)) {
      for (const specifier of importSpecifiers(readFileSync(path.join(repositoryRoot, file), 'utf8'))) {
        const reason = violation(file, specifier, folders);
        if (reason) found.push(`${file}: ${reason}`);
      }
    }
    expect(found).toEqual([]);
  });

  it('finds every kind of import statement, and none in comments', () => {
    const source = [
      "import { a } from '@paygraph/db';",
      "import type {\n  B,\n  C,\n} from '../src/b';",
      "export { d } from './d';",
      "import './side-effect';",
      "const e = await import('@paygraph/payments');",
      "// import { no } from '@paygraph/gateway';",
      "/* import { no } from '@paygraph/ledger'; */",
    ].join('\n');
    expect(importSpecifiers(source)).toEqual(['@paygraph/db', '../src/b', './d', './side-effect', '@paygraph/payments']);
  });

  it('refuses each kind of upward or sideways import', () => {
    const cases: [file: string, specifier: string][] = [
      ['packages/db/src/open.ts', '@paygraph/payments'],
      ['packages/server/src/service.ts', '@paygraph/gateway'],
      ['packages/events/src/outbox.ts', '@paygraph/platform'],
      ['packages/testing/src/index.ts', '../../../scripts/platform'],
      ['packages/testing/src/index.ts', '@paygraph/users'],
      ['subgraphs/payments/src/flow.ts', '@paygraph/ledger'],
      ['subgraphs/payments/src/flow.ts', '../../ledger/src/server'],
      ['subgraphs/payments/src/flow.ts', '@paygraph/ledger/src/store/ledger-store'],
      ['packages/db/src/open.ts', '../../../tests/support/private-postgres'],
      ['subgraphs/wallet/src/server.ts', '@paygraph/gateway'],
      ['subgraphs/wallet/src/server.ts', '@paygraph/platform'],
      ['gateway/src/gateway.ts', '@paygraph/payments'],
    ];
    for (const [file, specifier] of cases) expect(violation(file, specifier, folders), `${file} -> ${specifier}`).not.toBeNull();
    const allowed: [file: string, specifier: string][] = [
      ['packages/server/src/service.ts', '@paygraph/db'],
      ['packages/platform/src/platform.ts', '@paygraph/payments'],
      ['subgraphs/users/test/users.int.test.ts', '@paygraph/platform/fixtures'],
      ['subgraphs/payments/src/flow.ts', './domain/payment-state'],
      ['gateway/src/gateway.ts', '@paygraph/server'],
      ['packages/testing/src/index.ts', '@paygraph/identity'],
      ['subgraphs/payments/src/services.ts', '@paygraph/ledger/limits'],
      ['packages/db/test/postgres-faults.int.test.ts', '../../../tests/support/private-postgres'],
    ];
    for (const [file, specifier] of allowed) expect(violation(file, specifier, folders), `${file} -> ${specifier}`).toBeNull();
  });
});
