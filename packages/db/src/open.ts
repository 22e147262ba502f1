import { mkdirSync } from 'node:fs';
import { makePrivateDirectory, PRIVATE_DIRECTORY_MODE } from './private-files';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import postgres from 'postgres';
import { DATABASE_STARTUP_WAIT_MS_DEFAULT, registerPing, waitForDatabase } from './availability';
import { applyMigrations } from './migrate';
import type { RawTransaction, SqlRunner } from './raw';
import { reportPool, timedRunners } from './metrics';
import { tracedRunners } from './tracing';
import { pgliteForDrizzle, pgliteRunners } from './pglite-statements';
import { openPglite } from './pglite-template';

/** The drizzle database type every store is written against; both drivers satisfy it. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Database<TSchema extends Record<string, unknown> = Record<string, any>> = PgDatabase<PgQueryResultHKT, TSchema>;

export type DatabaseTarget = (
  | { kind: 'pglite'; dataDir: string }
  | {
      kind: 'postgres';
      url: string;
      poolMax: number;
      /** How long opening one connection may take (DATABASE_CONNECT_TIMEOUT_MS). */
      connectTimeoutMs?: number;
      /** How long start-up waits for an unreachable database (DATABASE_STARTUP_WAIT_SECONDS). */
      startupWaitMs?: number;
      /** The server ends a session idle this long inside a transaction (DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS). */
      idleInTransactionTimeoutMs?: number;
    }
) & {
  /**
   * A test's control: statements sent are counted here per service (tests assert that fan-out
   * is batched). Given by whoever starts the services (createRuntime's queryCounts), not a global.
   */
  queryCounts?: QueryCounts;
};

/** Statements sent, by service. */
export type QueryCounts = Map<string, number>;

/**
 * Opening a connection gives up after this long by default: a refused connection fails at once,
 * this bounds a host that does not answer, so a request answers SERVICE_UNAVAILABLE within ~2 s.
 */
export const DATABASE_CONNECT_TIMEOUT_MS_DEFAULT = 1_000;
/**
 * A transaction of ours is idle between its statements for microseconds to milliseconds (an outbox
 * relay's lock transaction for one pass). One idle for this long belongs to a process that froze
 * (SIGSTOP, a stalled VM) or lost its network without the socket closing: PostgreSQL then ends its
 * session, rolling it back, so the rows it locked (a wallet, an order, the ledger's chain head,
 * which every posting takes) are free again for every other process.
 */
export const DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS_DEFAULT = 15_000;
/**
 * postgres.js waits before reconnecting a connection whose last attempt failed (its default grows
 * to 20 s, which a request queued on that connection would wait too). Ours: 50 ms doubling, at
 * most 500 ms, with jitter: reconnects are spread but a request still answers within ~2 s.
 */
const RECONNECT_DELAY_FIRST_SECONDS = 0.05;
const RECONNECT_DELAY_MAX_SECONDS = 0.5;

export function reconnectDelaySeconds(failures: number): number {
  const base = Math.min(RECONNECT_DELAY_FIRST_SECONDS * 2 ** Math.min(failures, 16), RECONNECT_DELAY_MAX_SECONDS);
  return base * (0.5 + Math.random() / 2);
}

export interface ServiceDatabase<TSchema extends Record<string, unknown>> {
  db: Database<TSchema>;
  /** One database transaction of hand-written SQL (hot paths); drizzle's `db` for the rest. */
  transaction: RawTransaction;
  /** One hand-written statement outside a transaction (prepared on postgres.js). */
  query: SqlRunner['query'];
  target: DatabaseTarget;
  /** Releases this service's hold on the shared client; the last one closes it. */
  close(): Promise<void>;
}

const envName = (service: string) => service.toUpperCase().replace(/[^A-Z0-9]/g, '_');

/**
 * `<SERVICE>_DATABASE_URL`, else `DATABASE_URL`, else the embedded PGlite under `dataDir`
 * (`memory://` keeps it in memory, for tests).
 */
export function resolveDatabaseTarget(
  service: string,
  env: NodeJS.ProcessEnv,
  dataDir: string,
  poolMax = 10,
  timing: { connectTimeoutMs?: number; startupWaitMs?: number; idleInTransactionTimeoutMs?: number } = {},
): DatabaseTarget {
  const url = env[`${envName(service)}_DATABASE_URL`] || env.DATABASE_URL;
  if (url) return { kind: 'postgres', url, poolMax, ...timing };
  return { kind: 'pglite', dataDir };
}

interface Shared<T> {
  client: T;
  holders: number;
  close(): Promise<void>;
}

/** One PGlite per data folder and one pool per URL, per process, shared by the services in it. */
const pgliteClients = new Map<string, Promise<Shared<PGlite>>>();
const postgresClients = new Map<string, Shared<postgres.Sql>>();

async function acquirePglite(dataDir: string): Promise<Shared<PGlite>> {
  let shared = pgliteClients.get(dataDir);
  if (!shared) {
    shared = (async () => {
      let location = dataDir;
      if (!dataDir.startsWith('memory://')) {
        location = path.join(dataDir, 'pglite');
        // Owner-only, looser existing files tightened (private-files.ts).
        makePrivateDirectory(dataDir);
        mkdirSync(location, { recursive: true, mode: PRIVATE_DIRECTORY_MODE });
      }
      const client = await openPglite(location); // a new cluster from a dump in test runs (pglite-template.ts)
      // What PGlite just created (a first start's cluster) follows the umask: tightened now.
      if (!dataDir.startsWith('memory://')) makePrivateDirectory(dataDir, { warn: () => {} });
      return { client, holders: 0, close: () => client.close() };
    })();
    pgliteClients.set(dataDir, shared);
  }
  const resolved = await shared;
  resolved.holders += 1;
  return resolved;
}

function acquirePostgres(url: string, poolMax: number, connectTimeoutMs: number, idleInTransactionTimeoutMs: number): Shared<postgres.Sql> {
  let shared = postgresClients.get(url);
  if (!shared) {
    // A connection that dies (restart, stop, network) is reopened by postgres.js on the next query
    // that needs it, after reconnectDelaySeconds; its queries fail with a connection error, which
    // the servers answer as SERVICE_UNAVAILABLE (errors.ts). patches/postgres+3.4.9.patch keeps a
    // write racing the close from ending the process.
    const client = postgres(url, {
      max: poolMax,
      onnotice: () => {},
      connect_timeout: connectTimeoutMs / 1000,
      backoff: reconnectDelaySeconds,
      idle_timeout: 30,
      // Sent in the start-up message: no round trip of its own.
      connection: { application_name: 'paygraph', idle_in_transaction_session_timeout: idleInTransactionTimeoutMs },
    });
    shared = { client, holders: 0, close: () => client.end({ timeout: 5 }) };
    postgresClients.set(url, shared);
  }
  shared.holders += 1;
  return shared;
}

async function release<T>(map: Map<string, T>, key: string, shared: Shared<unknown>): Promise<void> {
  shared.holders -= 1;
  if (shared.holders > 0) return;
  map.delete(key);
  await shared.close();
}

/** Opens a service's database and brings its schema up to date before returning. */
export async function openServiceDatabase<TSchema extends Record<string, unknown>>(options: {
  service: string;
  target: DatabaseTarget;
  schema: TSchema;
  migrationsFolder: string;
}): Promise<ServiceDatabase<TSchema>> {
  const { target } = options;
  const counts = target.queryCounts;
  const counter = { logQuery: () => void counts?.set(options.service, (counts.get(options.service) ?? 0) + 1) };
  let db: Database<TSchema>;
  let transaction: RawTransaction;
  let query: SqlRunner['query'];
  let close: () => Promise<void>;
  if (target.kind === 'pglite') {
    const shared = await acquirePglite(target.dataDir);
    // drizzle and the hand-written SQL path both run statements as named ones, one call into the database each (pglite-statements.ts).
    db = drizzlePglite(pgliteForDrizzle(shared.client), { schema: options.schema, logger: counter }) as unknown as Database<TSchema>;
    ({ transaction, query } = pgliteRunners(shared.client, counter.logQuery));
    reportPool(options.service, null); // no pool: the pool gauges are listed without samples (metrics.ts)
    close = () => release(pgliteClients as Map<string, unknown>, target.dataDir, shared);
  } else {
    const shared = acquirePostgres(
      target.url,
      target.poolMax,
      target.connectTimeoutMs ?? DATABASE_CONNECT_TIMEOUT_MS_DEFAULT,
      target.idleInTransactionTimeoutMs ?? DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS_DEFAULT,
    );
    db = drizzlePostgres(shared.client, { schema: options.schema, logger: counter }) as unknown as Database<TSchema>;
    // BEGIN is pipelined with the first statements on an idle connection (patches/postgres+3.4.9.patch)
    // and its outcome awaited before COMMIT. Should BEGIN itself fail, the statements sent behind
    // it have run each on its own, outside a transaction, and the transaction still fails. That is
    // accepted because BEGIN (no arguments beyond the isolation words) fails on a live connection
    // only when the connection is lost, and then everything behind it fails too; no test makes it
    // fail alone short of rewriting it on the wire, so this stays a known limit of the patch.
    transaction = async <T>(work: (sql: SqlRunner) => Promise<T>) => {
      const sent: Promise<unknown>[] = [];
      const result = (await shared.client.begin((tx) =>
        work({
          query: async <R>(text: string, params: readonly unknown[] = []) => {
            counter.logQuery();
            return (await tx.unsafe(text, params as postgres.ParameterOrJSON<never>[], { prepare: true })) as unknown as R[];
          },
          send: (text, params = []) => {
            counter.logQuery();
            const statement = tx.unsafe(text, params as postgres.ParameterOrJSON<never>[], { prepare: true }).execute();
            statement.catch(() => {}); // observed below
            sent.push(statement);
          },
        }),
      )) as T;
      // A sent statement that failed after the function returned aborted the transaction: its
      // COMMIT then rolled back (PostgreSQL answers it with ROLLBACK, not an error), so its
      // failure is the transaction's.
      await Promise.all(sent);
      return result;
    };
    query = async <R>(text: string, params: readonly unknown[] = []) => {
      counter.logQuery();
      return (await shared.client.unsafe(text, params as postgres.ParameterOrJSON<never>[], { prepare: true })) as unknown as R[];
    };
    const stopReporting = reportPool(options.service, shared.client as unknown as Parameters<typeof reportPool>[1]);
    close = () => {
      stopReporting();
      return release(postgresClients, target.url, shared);
    };
  }
  // Statement and transaction durations of the hand-written SQL path on the service's /metrics (metrics.ts).
  ({ transaction, query } = timedRunners(options.service, transaction, query));
  // A span per transaction and statement while tracing is on (tracing.ts); nothing added while off.
  ({ transaction, query } = tracedRunners(options.service, transaction, query));
  try {
    // A database that is down or restarting at start-up is waited for (each attempt logged), not a
    // reason to exit: the process comes up as soon as it answers.
    await waitForDatabase(`${options.service} migrations`, () => applyMigrations(db, options.service, options.migrationsFolder), {
      waitMs: target.kind === 'postgres' ? (target.startupWaitMs ?? DATABASE_STARTUP_WAIT_MS_DEFAULT) : 0,
    });
  } catch (error) {
    await close();
    throw error;
  }
  const unregisterPing = registerPing(options.service, () => query('select 1'));
  let closed = false;
  return {
    db,
    transaction,
    query,
    target,
    close: async () => {
      if (closed) return;
      closed = true;
      unregisterPing();
      await close();
    },
  };
}

/** Closes every shared client regardless of holders (process shutdown). */
export async function closeSharedDatabases(): Promise<void> {
  const pglites = [...pgliteClients.values()];
  pgliteClients.clear();
  const pools = [...postgresClients.values()];
  postgresClients.clear();
  await Promise.all([...pglites.map(async (shared) => (await shared).close()), ...pools.map((shared) => shared.close())]);
}
