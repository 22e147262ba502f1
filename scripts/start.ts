/**
 * `npm start`: the whole supergraph in one process on the embedded database (or DATABASE_URL).
 * Ctrl-C stops it cleanly; data stays in DATA_DIR for the next start.
 */
import { createLogger, lifecycleLogger } from '@paygraph/logging';
import { runProcess } from '@paygraph/server';
import { startPlatform } from '@paygraph/platform';

const logger = createLogger({ name: 'paygraph' });
const startedAt = Date.now();
await runProcess(logger, async () => {
  const platform = await startPlatform({ env: process.env, logger });
  const database = process.env.DATABASE_URL ? 'PostgreSQL (DATABASE_URL)' : `embedded PGlite in ${platform.config.dataDir}`;
  // JSON lines like the rest (tests and benchmarks read the URLs from the fields or the message).
  const lifecycle = lifecycleLogger(logger);
  for (const subgraph of platform.subgraphs.values()) lifecycle.info({ subgraph: subgraph.name, url: subgraph.url }, `subgraph ${subgraph.name} at ${subgraph.url} is ready`);
  lifecycle.info({ database }, `database: ${database}`);
  const startupSeconds = Number(((Date.now() - startedAt) / 1000).toFixed(1));
  lifecycle.info({ url: platform.gatewayUrl, startupSeconds }, `Gateway ready at ${platform.gatewayUrl} (GraphQL IDE: open it in a browser) in ${startupSeconds} s`);
  return platform.stop;
});
