/**
 * `npm start`: the whole supergraph in one process on the embedded database (or DATABASE_URL).
 * Ctrl-C stops it cleanly; data stays in DATA_DIR for the next start.
 */
import { loadLimitSettings } from '@paygraph/config';
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
  // The IDE is served where introspection is (gateway.ts): not in production unless INTROSPECTION=on.
  const ide = platform.config.NODE_ENV !== 'production' || loadLimitSettings(process.env).INTROSPECTION === 'on';
  const served = ide ? 'GraphQL IDE: open it in a browser' : 'no GraphQL IDE in production: set INTROSPECTION=on for it';
  lifecycle.info({ url: platform.gatewayUrl, startupSeconds, ide }, `Gateway ready at ${platform.gatewayUrl} (${served}) in ${startupSeconds} s`);
  return platform.stop;
});
