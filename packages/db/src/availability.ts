/**
 * What the platform does while its database is away: start-up waits for it with backoff (each
 * attempt logged) instead of exiting, and readiness asks each service's database for `select 1`
 * within a bound.
 */
import { isDatabaseUnavailable } from './errors';

/** The part of a pino logger this module uses (the server passes its own in). */
export interface AvailabilityLogger {
  warn(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
}

/** Start-up retries: 250 ms, doubling, at most 5 s apart (with jitter, so instances spread out). */
const STARTUP_RETRY_FIRST_MS = 250;
const STARTUP_RETRY_MAX_MS = 5_000;
/** How long start-up waits for an unreachable database before giving up (exit 1) by default. */
export const DATABASE_STARTUP_WAIT_MS_DEFAULT = 300_000;

let defaultLogger: AvailabilityLogger = {
  warn: (fields, message) => console.warn(message, JSON.stringify(fields)),
  info: (fields, message) => console.info(message, JSON.stringify(fields)),
};

/** The process's logger for database availability messages (createRuntime sets it). */
export function setDatabaseLogger(logger: AvailabilityLogger): void {
  defaultLogger = logger;
}

/** The logger set by setDatabaseLogger (private-files.ts logs with it too). */
export const currentDatabaseLogger = (): AvailabilityLogger => defaultLogger;

export function startupRetryDelayMs(attempt: number): number {
  const base = Math.min(STARTUP_RETRY_FIRST_MS * 2 ** Math.min(attempt - 1, 16), STARTUP_RETRY_MAX_MS);
  return Math.round(base * (0.75 + Math.random() / 4));
}

function errorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current && typeof current === 'object'; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * Runs `attempt` until it succeeds; while it fails because the database is unavailable, waits with
 * backoff and tries again, logging each failed attempt, for at most `waitMs` in all. Any other
 * failure (bad SQL in a migration, wrong password) is thrown at once: waiting would not fix it.
 */
export async function waitForDatabase<T>(
  what: string,
  attempt: () => Promise<T>,
  options: {
    waitMs?: number;
    logger?: AvailabilityLogger;
    /** What the messages name as unavailable: `database` unless the attempt reaches something else (NATS). */
    dependency?: string;
  } = {},
): Promise<T> {
  const waitMs = options.waitMs ?? DATABASE_STARTUP_WAIT_MS_DEFAULT;
  const dependency = options.dependency ?? 'database';
  const logger = options.logger ?? defaultLogger;
  const startedAt = Date.now();
  for (let attemptNumber = 1; ; attemptNumber += 1) {
    try {
      const result = await attempt();
      if (attemptNumber > 1) logger.info({ what, attempts: attemptNumber, waitedMs: Date.now() - startedAt }, `${dependency} reachable: start-up continues`);
      return result;
    } catch (error) {
      if (!isDatabaseUnavailable(error)) throw error;
      const delayMs = startupRetryDelayMs(attemptNumber);
      const waitedMs = Date.now() - startedAt;
      if (waitedMs + delayMs > waitMs) {
        logger.warn({ what, attempts: attemptNumber, waitedMs, code: errorCode(error) }, `${dependency} still unavailable: giving up start-up`);
        throw error;
      }
      logger.warn({ what, attempt: attemptNumber, retryInMs: delayMs, code: errorCode(error) }, `${dependency} unavailable at start-up: retrying`);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}

/** How long `select 1` may take before a database counts as down for readiness. */
export const DATABASE_PING_TIMEOUT_MS = 1_000;

/** The open databases of each service in this process, by service name (readiness asks them). */
const pings = new Map<string, Set<() => Promise<unknown>>>();

export function registerPing(service: string, ping: () => Promise<unknown>): () => void {
  let set = pings.get(service);
  if (!set) {
    set = new Set();
    pings.set(service, set);
  }
  set.add(ping);
  return () => {
    set.delete(ping);
    if (set.size === 0 && pings.get(service) === set) pings.delete(service);
  };
}

async function answersWithin(ping: () => Promise<unknown>, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  try {
    return await Promise.race([ping().then(() => true, () => false), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * 'up' when every database the service opened in this process answers `select 1` within the
 * bound, 'down' when one does not, 'none' when the service opened none.
 */
export async function pingServiceDatabase(service: string, timeoutMs = DATABASE_PING_TIMEOUT_MS): Promise<'up' | 'down' | 'none'> {
  const set = pings.get(service);
  if (!set || set.size === 0) return 'none';
  const results = await Promise.all([...set].map((ping) => answersWithin(ping, timeoutMs)));
  return results.every(Boolean) ? 'up' : 'down';
}
