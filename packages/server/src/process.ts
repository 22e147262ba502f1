import { ConfigError } from '@paygraph/config';
import { lifecycleLogger, type Logger } from '@paygraph/logging';

/**
 * Runs a process entry point: `start` returns how to stop. Bad configuration exits with 2 and its
 * one-line message; any other start failure is logged and exits with 1. SIGINT and SIGTERM stop
 * once, then exit 0 (1 if stopping failed).
 */
export async function runProcess(logger: Logger, start: () => Promise<() => Promise<void>>): Promise<void> {
  // Start-up and shutdown lines are JSON like every other line, shown whatever LOG_LEVEL says (but silent).
  const lifecycle = lifecycleLogger(logger);
  let stop: () => Promise<void>;
  try {
    stop = await start();
  } catch (error) {
    if (error instanceof ConfigError) {
      lifecycle.fatal(error.message);
      process.exit(2);
    }
    logger.fatal({ err: error }, 'failed to start');
    process.exit(1);
  }
  let stopping = false;
  const onSignal = async (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    lifecycle.info({ signal }, `${signal}: stopping`);
    try {
      await stop();
      lifecycle.info('stopped cleanly');
      process.exit(0);
    } catch (error) {
      logger.error({ err: error }, 'stopping failed');
      process.exit(1);
    }
  };
  process.on('SIGINT', (signal) => void onSignal(signal));
  process.on('SIGTERM', (signal) => void onSignal(signal));
}
