import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';
import { TEST_SERVICE_SECRET } from './tests/support/constants.ts';

/**
 * The fault suite (`npm run test:faults`, tests/faults): minutes long, it crashes the platform and
 * restarts its own PostgreSQL cluster, so plain `npm test` (vitest.config.ts) never includes it.
 * graphql resolves to Node's CommonJS build as in vitest.config.ts (one GraphQLError class).
 */
const graphqlEntry = createRequire(import.meta.url).resolve('graphql');

export default defineConfig({
  test: {
    name: 'faults',
    include: ['tests/faults/**/*.faults.test.ts'],
    alias: [{ find: /^graphql$/, replacement: graphqlEntry }],
    env: { SERVICE_SECRET: TEST_SERVICE_SECRET },
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 400_000,
  },
});
