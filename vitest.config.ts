import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { configDefaults, defineConfig } from 'vitest/config';
import { TEST_SERVICE_SECRET } from './tests/support/constants.ts';

/**
 * graphql ships a CommonJS build (`main`, what Node loads for every importer) and an ESM one
 * (`module`, what Vite would pick for transformed sources). Two copies in one process break
 * `instanceof GraphQLError` between our code and Apollo or graphql-ws, so tests use Node's.
 */
const graphqlEntry = createRequire(import.meta.url).resolve('graphql');

/**
 * New embedded clusters load a dump of a fresh one instead of running initdb each (about 1.4 s
 * against 4; packages/db pglite-template.ts): the suite makes one per integration file and per
 * platform it starts. The dump lives with the installed packages, named by PGlite's version.
 */
const pgliteTemplateDir = fileURLToPath(new URL('./node_modules/.cache/paygraph-pglite', import.meta.url));

/**
 * Three projects, split by file suffix: unit (*.test.ts, no I/O), integration (*.int.test.ts,
 * real database, subgraphs over HTTP) and e2e (*.e2e.test.ts, the platform as `npm start` runs it).
 * DATABASE_URL switches every database test from embedded PGlite to the PostgreSQL server.
 */
const shared = {
  // Files of a project share their worker's modules: with isolation vitest starts a fresh process
  // per file and imports the whole graph again (graphql, Apollo, PGlite's WebAssembly), a third of
  // the suite's time (unit and integration 315 s against 135 s, e2e 334 s against 267 s, 2 cores).
  // What a file changes in its process must be put back or not matter to the next: tests close what
  // they open, restore the environment variables they set, set explicitly the file modes they test
  // (a service's start-up leaves the umask at 077) and read a service's process-wide metrics as deltas.
  isolate: false,
  alias: [{ find: /^graphql$/, replacement: graphqlEntry }],
  env: { SERVICE_SECRET: TEST_SERVICE_SECRET, PGLITE_TEMPLATE_DIR: pgliteTemplateDir },
  exclude: [...configDefaults.exclude, '**/ide-dist/**'],
};

/**
 * Vitest's default is one worker less than the cores: on a 2-core machine, one file at a time,
 * though an integration file spends much of its time waiting (timers, sockets, start-ups). Unit
 * and integration files share nothing (each integration file opens databases of its own), so they
 * run first, as one group, a file per core and at least two at once. The e2e files share one
 * platform (and on PostgreSQL one database), and some change what the others would see (rate
 * budgets per address, risk rules): they run after, one file at a time, as they did on 2 cores
 * (on a larger machine the default let several run at once against that one platform).
 */
const isolatedFiles = { maxWorkers: Math.max(2, availableParallelism()), sequence: { groupOrder: 0 } };
const sharedPlatformFiles = { maxWorkers: 1, sequence: { groupOrder: 1 } };

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          ...shared,
          name: 'unit',
          ...isolatedFiles,
          include: ['{packages,subgraphs,gateway}/**/test/**/*.test.ts', 'tests/repo/**/*.test.ts'],
          exclude: [...shared.exclude, '**/*.int.test.ts', '**/*.e2e.test.ts'],
        },
      },
      {
        test: {
          ...shared,
          name: 'integration',
          ...isolatedFiles,
          include: ['{packages,subgraphs,gateway}/**/test/**/*.int.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          ...shared,
          name: 'e2e',
          ...sharedPlatformFiles,
          include: ['tests/**/*.e2e.test.ts'],
          globalSetup: ['tests/support/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
