/**
 * `npm start`: the whole supergraph in one process on the embedded database (or DATABASE_URL).
 * Ctrl-C stops it cleanly; data stays in DATA_DIR for the next start.
 */
import { createLogger } from '@paygraph/logging';
import { runProcess } from '@paygraph/server';
import { startPlatform } from '@paygraph/platform';

const logger = createLogger({ name: 'paygraph' });
const startedAt = Date.now();
await runProcess(logger, async () => {
  const platform = await startPlatform({ env: process.env, logger });
  const database = process.env.DATABASE_URL ? 'PostgreSQL (DATABASE_URL)' : `embedded PGlite in ${platform.config.dataDir}`;
  for (const subgraph of platform.subgraphs.values()) console.log(`subgraph ${subgraph.name} at ${subgraph.url}`);
  console.log(`database: ${database}`);
  console.log(`Gateway ready at ${platform.gatewayUrl} (GraphQL IDE: open it in a browser) in ${((Date.now() - startedAt) / 1000).toFixed(1)} s`);
  return platform.stop;
});
