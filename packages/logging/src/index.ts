/**
 * Structured logging with pino. One root logger per process; each service and request gets a
 * child carrying `service` and `requestId`. Credentials are redacted wherever they appear.
 */
import { randomUUID } from 'node:crypto';
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

export const REQUEST_ID_HEADER = 'x-request-id';

const redactPaths = [
  'password',
  '*.password',
  'input.password',
  'variables.input.password',
  'variables.password',
  'refreshToken',
  '*.refreshToken',
  'accessToken',
  '*.accessToken',
  'authorization',
  'headers.authorization',
  'req.headers.authorization',
  'secret',
  '*.secret',
];

let stdout: DestinationStream | undefined;

/**
 * The process's one stdout destination, shared by every root logger (so their lines never
 * interleave mid-line), written asynchronously: a line goes out at once when no write is in
 * flight, and the lines logged meanwhile go out together in the next write. Under load that is one
 * write for many access-log lines instead of a blocking write each (bench:gateway profile: 6% of
 * the gateway's CPU in synchronous writes). pino flushes it synchronously when the process exits.
 */
function processStdout(): DestinationStream {
  return (stdout ??= pino.destination({ dest: 1, sync: false }));
}

/** `destination`: where lines go instead of stdout (tests capture them). */
export function createLogger(options: { level?: string; name?: string; destination?: DestinationStream } = {}): Logger {
  const settings = {
    level: options.level ?? process.env.LOG_LEVEL ?? 'info',
    ...(options.name ? { name: options.name } : {}),
    redact: { paths: redactPaths, censor: '[redacted]' },
    base: { pid: process.pid },
  };
  return pino(settings, options.destination ?? processStdout());
}

/**
 * The logger for start-up and shutdown lines (listening URLs, stopping, stopped, bad configuration):
 * at info even under LOG_LEVEL=warn or error, so an operator (and a script waiting for "ready")
 * always sees a process come up and go; LOG_LEVEL=silent silences them too.
 */
export function lifecycleLogger(logger: Logger): Logger {
  if (logger.level === 'silent' || logger.isLevelEnabled('info')) return logger;
  return logger.child({}, { level: 'info' });
}

const requestIdPattern = /^[A-Za-z0-9._:-]{1,64}$/;

/** Keeps a caller's request id when it is well-formed (so traces join up), else makes one. */
export function requestIdFrom(header: string | string[] | undefined | null): string {
  const value = Array.isArray(header) ? header[0] : header;
  return value && requestIdPattern.test(value) ? value : randomUUID();
}
