/**
 * Several instances of one service (`<NAME>_URL=http://a/graphql,http://b/graphql`): requests are
 * spread over them round robin; an instance that refuses connections leaves the rotation until
 * its `/health` answers again (probed with exponential backoff); a request that could not connect
 * is sent to the next instance.
 *
 * Which calls are resent to another instance, and why that is safe:
 * - Every call (queries and mutations, the gateway's and service-to-service) is resent when the
 *   attempt failed to CONNECT (refused, unknown host, unreachable, connect timeout): no byte of
 *   the request reached a server, so nothing can have happened twice.
 * - A read (a GraphQL `query` operation) is also resent when the connection broke before an answer
 *   (reset, "other side closed"): reading twice changes nothing.
 * - A write is NOT resent after it may have reached a server, even when it carries an idempotency
 *   key. The key would make a replay safe, but the first attempt may still be running (a slow
 *   instance, not a dead one) and the caller that owns the key (the client, or the payments
 *   saga's recovery) retries it anyway; it gets the error (SERVICE_UNAVAILABLE once mapped) and
 *   decides.
 * - Timeouts are never resent: the caller's time budget is spent.
 * When every instance is out of rotation, all of them are tried (a restarted one is found before
 * its probe notices).
 */
import { request } from 'undici';
import { createLogger, type Logger } from '@paygraph/logging';

/** First delay before probing an instance that failed to connect, doubled after each failed probe. */
export const INSTANCE_PROBE_BACKOFF_INITIAL_MS = 250;
/** Longest delay between two probes of an instance out of rotation. */
export const INSTANCE_PROBE_BACKOFF_MAX_MS = 5_000;
/** A probe that takes longer than this counts as failed. */
export const INSTANCE_PROBE_TIMEOUT_MS = 1_000;
/** Bounded: pools of several instances kept per process (one per distinct URL list). */
const POOLS_MAX = 256;

/** Errors raised before a connection existed: the request was never sent. */
const CONNECT_FAILURE_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'UND_ERR_CONNECT_TIMEOUT',
]);
/** Errors of a connection that broke before the answer: the request may have reached the server. */
const CONNECTION_LOST_CODES = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);

function errorCodes(error: unknown, depth = 0): string[] {
  if (typeof error !== 'object' || error === null || depth > 3) return [];
  const record = error as { code?: unknown; cause?: unknown; errors?: unknown };
  const codes = typeof record.code === 'string' ? [record.code] : [];
  codes.push(...errorCodes(record.cause, depth + 1));
  // Node's happy-eyeballs connect (several addresses) fails with an AggregateError.
  if (Array.isArray(record.errors)) for (const inner of record.errors.slice(0, 4)) codes.push(...errorCodes(inner, depth + 1));
  return codes;
}

/** True when the attempt never connected, so resending it anywhere is safe. */
export function isConnectFailure(error: unknown): boolean {
  const codes = errorCodes(error);
  return codes.length > 0 && codes.every((code) => CONNECT_FAILURE_CODES.has(code));
}

/** True when an open connection broke before the answer (the server may have acted). */
export function isConnectionLost(error: unknown): boolean {
  return errorCodes(error).some((code) => CONNECTION_LOST_CODES.has(code));
}

/**
 * True for a GraphQL `query` operation (or the `{ ... }` shorthand). Anything else, including a
 * document that opens with a comment, counts as a write: the safe side.
 */
export function isReadOperation(document: string): boolean {
  return /^\s*(query\b|\{)/.test(document);
}

/**
 * The same for a request body as Apollo's RemoteGraphQLDataSource sends it (`{"query":"..."`
 * first). Only that exact shape is recognised; anything else counts as a write.
 */
export function isReadRequestBody(body: string | undefined): boolean {
  const prefix = '{"query":"';
  return body !== undefined && body.startsWith(prefix) && isReadOperation(body.slice(prefix.length, prefix.length + 16));
}

export interface SendOptions {
  /** A read may also be resent after a connection broke mid-request. */
  read?: boolean;
}

export interface InstancePool {
  readonly urls: readonly string[];
  /** The instances in rotation now. */
  available(): string[];
  /**
   * Runs `attempt` against one instance after another (round robin start) until one answers or
   * the failure is not safe to resend (see the file comment). Rethrows the last attempt's own
   * error, unchanged, so callers map it as they would a single call.
   */
  send<T>(attempt: (url: string) => Promise<T>, options?: SendOptions): Promise<T>;
  /** Stops the health probes. */
  close(): void;
}

interface Instance {
  url: string;
  down: boolean;
  probeDelayMs: number;
  probe: NodeJS.Timeout | null;
}

export interface InstancePoolOptions {
  logger?: Logger;
  /** Answers whether an instance out of rotation is healthy again; by default GET <origin>/health. */
  probe?: (url: string) => Promise<boolean>;
}

async function probeHealth(url: string): Promise<boolean> {
  try {
    const response = await request(new URL('/health', url), {
      method: 'GET',
      headersTimeout: INSTANCE_PROBE_TIMEOUT_MS,
      bodyTimeout: INSTANCE_PROBE_TIMEOUT_MS,
      signal: AbortSignal.timeout(INSTANCE_PROBE_TIMEOUT_MS),
    });
    await response.body.dump();
    return response.statusCode === 200;
  } catch {
    return false;
  }
}

let processLogger: Logger | null = null;

export function createInstancePool(urls: readonly string[], options: InstancePoolOptions = {}): InstancePool {
  if (urls.length === 0) throw new Error('An instance pool needs at least one URL');
  const probe = options.probe ?? probeHealth;
  // An instance leaving or rejoining the rotation is worth a line in every process's log.
  const logger = () => options.logger ?? (processLogger ??= createLogger({ name: 'service-client' }));
  const instances: Instance[] = urls.map((url) => ({ url, down: false, probeDelayMs: INSTANCE_PROBE_BACKOFF_INITIAL_MS, probe: null }));
  let cursor = 0;
  let closed = false;

  const markUp = (instance: Instance) => {
    if (!instance.down) return;
    instance.down = false;
    instance.probeDelayMs = INSTANCE_PROBE_BACKOFF_INITIAL_MS;
    if (instance.probe) clearTimeout(instance.probe);
    instance.probe = null;
    logger().info({ instance: instance.url }, 'service instance back in rotation');
  };

  const scheduleProbe = (instance: Instance) => {
    if (closed || instance.probe) return;
    // Jitter (±20%) so the callers of a restarted instance do not probe it in step.
    const delayMs = Math.round(instance.probeDelayMs * (0.8 + Math.random() * 0.4));
    instance.probe = setTimeout(async () => {
      instance.probe = null;
      if (!instance.down || closed) return;
      if (await probe(instance.url)) {
        markUp(instance);
        return;
      }
      instance.probeDelayMs = Math.min(instance.probeDelayMs * 2, INSTANCE_PROBE_BACKOFF_MAX_MS);
      scheduleProbe(instance);
    }, delayMs);
    // A probe never keeps a process alive.
    instance.probe.unref();
  };

  const markDown = (instance: Instance) => {
    // With one instance there is nowhere else to go: it is always tried.
    if (instances.length === 1 || instance.down) return;
    instance.down = true;
    logger().warn({ instance: instance.url }, 'service instance refused a connection: out of rotation until /health answers');
    scheduleProbe(instance);
  };

  /** Instances in rotation from the round-robin cursor on; all of them when none is. */
  const candidates = (): Instance[] => {
    const up = instances.filter((instance) => !instance.down);
    const pool = up.length > 0 ? up : instances;
    const start = cursor++ % pool.length;
    if (cursor >= Number.MAX_SAFE_INTEGER) cursor = 0;
    return [...pool.slice(start), ...pool.slice(0, start)];
  };

  return {
    urls,
    available: () => instances.filter((instance) => !instance.down).map((instance) => instance.url),
    async send(attempt, sendOptions = {}) {
      let lastError: unknown;
      // Bounded: each instance is tried at most once per call.
      for (const instance of candidates()) {
        try {
          const result = await attempt(instance.url);
          markUp(instance);
          return result;
        } catch (error) {
          lastError = error;
          if (isConnectFailure(error)) {
            markDown(instance);
            continue;
          }
          if (sendOptions.read && isConnectionLost(error)) continue;
          throw error;
        }
      }
      throw lastError;
    },
    close() {
      closed = true;
      for (const instance of instances) {
        if (instance.probe) clearTimeout(instance.probe);
        instance.probe = null;
      }
    },
  };
}

const pools = new Map<string, InstancePool>();

/**
 * The process's pool for these instances, shared by every caller (the gateway's hop and the
 * service clients) so they agree on which instance is out of rotation.
 */
export function instancePool(urls: readonly string[], options: InstancePoolOptions = {}): InstancePool {
  const key = urls.join(' ');
  let pool = pools.get(key);
  if (!pool) {
    if (pools.size >= POOLS_MAX) {
      const [oldestKey, oldest] = pools.entries().next().value!;
      oldest.close();
      pools.delete(oldestKey);
    }
    pool = createInstancePool(urls, options);
    pools.set(key, pool);
  }
  return pool;
}

/** Every instance of `service` in a directory that may know several (else its one URL). */
export function instancesOf(directory: { url(service: string): string; urls?(service: string): readonly string[] }, service: string): readonly string[] {
  const urls = directory.urls?.(service);
  return urls && urls.length > 0 ? urls : [directory.url(service)];
}
