/**
 * `npm start`: the whole supergraph in one process on the embedded database (or DATABASE_URL).
 * Ctrl-C stops it cleanly; data stays in DATA_DIR for the next start.
 */
import { ConfigError } from '@paygraph/config';
import { createLogger } from '@paygraph/logging';
import { startPlatform } from './platform';

const logger = createLogger({ name: 'paygraph' });
const startedAt = Date.now();
try {
  const platform = await startPlatform({ env: process.env, logger });
  const database = process.env.DATABASE_URL ? 'PostgreSQL (DATABASE_URL)' : `embedded PGlite in ${platform.config.dataDir}`;
  for (const subgraph of platform.subgraphs.values()) console.log(`subgraph ${subgraph.name} at ${subgraph.url}`);
  console.log(`database: ${database}`);
  console.log(`Gateway ready at ${platform.gatewayUrl} (GraphQL IDE: open it in a browser) in ${((Date.now() - startedAt) / 1000).toFixed(1)} s`);
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: stopping`);
    try {
      await platform.stop();
      console.log('stopped cleanly');
      process.exit(0);
    } catch (error) {
      logger.error({ err: error }, 'stopping failed');
      process.exit(1);
    }
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(error.message);
    process.exit(2);
  }
  logger.fatal({ err: error }, 'failed to start');
  process.exit(1);
}
