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

/** How long a line may wait for others to share its write to stdout, and how much may gather. */
export const STDOUT_COALESCE_MS = 10;
export const STDOUT_COALESCE_CHARS = 16 * 1024;

/** What a coalescing destination writes to: a pino destination (sonic-boom). */
export interface LineSink {
  write(chunk: string): unknown;
  flush?(callback?: (error?: Error | null) => void): void;
  flushSync?(): void;
}

/**
 * Gathers lines for up to `delayMs` (or until `maxChars` gathered) and hands them to `sink` in one
 * write. Under load that is one write per window instead of one per event-loop turn: a write to a
 * pipe costs the writing thread as much as serialising a dozen access-log lines (bench:gateway
 * profile: 6-7% of the gateway's CPU was the writes of single lines). A line waits at most
 * `delayMs` (the timer keeps the process alive that long, so a process that ends by itself writes
 * everything); process.exit and a fatal error write the gathered lines synchronously. What a
 * SIGKILL can lose grows from the write in flight to the last `delayMs` of lines.
 */
export class CoalescingDestination implements DestinationStream {
  private pending = '';
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly sink: LineSink,
    private readonly delayMs = STDOUT_COALESCE_MS,
    private readonly maxChars = STDOUT_COALESCE_CHARS,
  ) {}

  write(line: string): void {
    this.pending += line;
    if (this.pending.length >= this.maxChars) this.drain();
    else this.timer ??= setTimeout(this.drain, this.delayMs);
  }

  /** Hands the gathered lines to the sink now. */
  readonly drain = (): void => {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.pending) return;
    const chunk = this.pending;
    this.pending = '';
    this.sink.write(chunk);
  };

  /** pino's logger.flush(): the gathered lines go to the sink, then the sink flushes. */
  flush(callback?: (error?: Error | null) => void): void {
    this.drain();
    if (this.sink.flush) this.sink.flush(callback);
    else callback?.();
  }

  /** Everything gathered and everything the sink holds, written before this returns. */
  flushSync(): void {
    this.drain();
    this.sink.flushSync?.();
  }
}

let stdout: CoalescingDestination | undefined;

/**
 * The process's one stdout destination, shared by every root logger (so their lines never
 * interleave mid-line): lines are coalesced (above) and written asynchronously by sonic-boom, the
 * lines logged while a write is in flight going out together in the next. pino flushes sonic-boom
 * synchronously when the process exits; the lines still gathered here are written then too.
 */
function processStdout(): DestinationStream {
  if (stdout) return stdout;
  const destination = new CoalescingDestination(pino.destination({ dest: 1, sync: false }));
  process.once('exit', () => {
    try {
      destination.flushSync();
    } catch {
      // stdout is gone (closed pipe): nothing left to write to.
    }
  });
  return (stdout = destination);
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
 * A child of `logger` that writes its lines without the credential redaction, for lines made of
 * fixed fields that never hold a credential (the access log's: method, path, operation name,
 * status, duration, ids). Redaction clones and walks every line against the paths above: about
 * 11 µs a line, three to four times the rest of a line's cost, paid on every request by the gateway
 * and each subgraph. The child logs at every level: its caller gates by `logger`'s level, so a
 * level changed on `logger` later still applies.
 */
export function unredactedLogger(logger: Logger): Logger {
  return logger.child({}, { redact: [], level: 'trace' });
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
