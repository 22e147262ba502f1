import { createRequire } from 'node:module';
import { configDefaults, defineConfig } from 'vitest/config';
import { TEST_SERVICE_SECRET } from './tests/support/constants.ts';

/**
 * graphql ships a CommonJS build (`main`, what Node loads for every importer) and an ESM one
 * (`module`, what Vite would pick for transformed sources). Two copies in one process break
 * `instanceof GraphQLError` between our code and Apollo or graphql-ws, so tests use Node's.
 */
const graphqlEntry = createRequire(import.meta.url).resolve('graphql');

/**
 * Three projects, split by file suffix: unit (*.test.ts, no I/O), integration (*.int.test.ts,
 * real database, subgraphs over HTTP) and e2e (*.e2e.test.ts, the platform as `npm start` runs it).
 * DATABASE_URL switches every database test from embedded PGlite to the PostgreSQL server.
 */
const shared = {
  alias: [{ find: /^graphql$/, replacement: graphqlEntry }],
  env: { SERVICE_SECRET: TEST_SERVICE_SECRET },
  exclude: [...configDefaults.exclude, '**/ide-dist/**'],
};

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          ...shared,
          name: 'unit',
          include: ['{packages,subgraphs,gateway}/**/test/**/*.test.ts', 'tests/repo/**/*.test.ts'],
          exclude: [...shared.exclude, '**/*.int.test.ts', '**/*.e2e.test.ts'],
        },
      },
      {
        test: {
          ...shared,
          name: 'integration',
          include: ['{packages,subgraphs,gateway}/**/test/**/*.int.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          ...shared,
          name: 'e2e',
          include: ['tests/**/*.e2e.test.ts'],
          globalSetup: ['tests/support/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
