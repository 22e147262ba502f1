/**
 * What a service's /metrics says about its database: durations of the hand-written SQL path
 * (`transaction()` and `query()`: every statement, and every transaction as a whole) and, on
 * PostgreSQL, the pool as postgres.js's own queues see it at scrape time (patches/postgres+3.4.9.patch
 * adds the read-only `stats()`).
 *
 * Not observed, and why: drizzle's statements are counted (a target's queryCounts, for tests) but not timed, as drizzle's
 * logger is called before a statement runs and nothing after; PGlite has no pool (one in-process
 * connection that runs one statement at a time), so it reports no pool gauges. In `npm start` on
 * PostgreSQL the services of the process share one pool per URL: each service reports that pool.
 */
import { serviceMetrics } from '@paygraph/metrics';
import type { RawTransaction, SqlRunner } from './raw';

const elapsedSeconds = (started: bigint) => Number(process.hrtime.bigint() - started) / 1e9;

/** The same runners, each statement and transaction timed into the service's db_query_duration_seconds. */
export function timedRunners(service: string, transaction: RawTransaction, query: SqlRunner['query']): { transaction: RawTransaction; query: SqlRunner['query'] } {
  const metrics = serviceMetrics(service);
  const timedQuery = (run: SqlRunner['query']): SqlRunner['query'] =>
    async function timed<T>(text: string, params?: readonly unknown[]): Promise<T[]> {
      const started = process.hrtime.bigint();
      try {
        return await run<T>(text, params);
      } finally {
        metrics.observeQuery('statement', elapsedSeconds(started));
      }
    };
  return {
    query: timedQuery(query),
    transaction: async (work) => {
      const started = process.hrtime.bigint();
      try {
        return await transaction((sql) => work({ query: timedQuery(sql.query.bind(sql)), ...(sql.send ? { send: sql.send.bind(sql) } : {}) }));
      } finally {
        metrics.observeQuery('transaction', elapsedSeconds(started));
      }
    },
  };
}

/** postgres.js's pool queues (the patch's `stats()`); absent on an unpatched install. */
export interface PoolStats {
  max: number;
  idle: number;
  busy: number;
  reserved: number;
  connecting: number;
  waiting: number;
}

/** Reports a postgres.js pool on the service's /metrics; returns what stops reporting it. */
export function reportPool(service: string, client: { stats?: () => PoolStats } | null): () => void {
  const metrics = serviceMetrics(service);
  const connections = metrics.gauge('db_pool_connections', 'Connections of the service\'s PostgreSQL pool by state: in_use (running queries or reserved by a transaction), idle, connecting.', ['driver', 'state']);
  const waiting = metrics.gauge('db_pool_waiting_queries', 'Queries waiting for a free connection of the service\'s PostgreSQL pool.', ['driver']);
  const max = metrics.gauge('db_pool_connections_max', 'Size bound of the service\'s PostgreSQL pool (DATABASE_POOL_MAX).', ['driver']);
  // Declared everywhere (a scrape lists them); on PGlite, which has no pool, they have no samples.
  const stats = client?.stats;
  if (typeof stats !== 'function') return () => {};
  const driver = 'postgres';
  const removers = [
    connections.addSource(() => {
      const now = stats();
      return [[{ driver, state: 'in_use' }, now.busy + now.reserved], [{ driver, state: 'idle' }, now.idle], [{ driver, state: 'connecting' }, now.connecting]];
    }),
    waiting.addSource(() => [[{ driver }, stats().waiting]]),
    max.addSource(() => [[{ driver }, stats().max]]),
  ];
  return () => removers.forEach((remove) => remove());
}
