/**
 * Spans for the hand-written SQL path (postgres.js and PGlite have no OpenTelemetry
 * instrumentation): one per transaction and one per statement, named by the statement's summary,
 * with `db.system` and no parameter values (@paygraph/telemetry). Decided when the database opens:
 * with tracing off (the default) the runners are returned as they are, so a statement costs nothing
 * more. drizzle's own queries (reads and admin paths) are not traced.
 */
import { traceStatement, traceTransaction, tracingOn } from '@paygraph/telemetry';
import type { RawTransaction, SqlRunner } from './raw';

export function tracedRunners(service: string, transaction: RawTransaction, query: SqlRunner['query']): { transaction: RawTransaction; query: SqlRunner['query'] } {
  if (!tracingOn()) return { transaction, query };
  return {
    transaction: (work) =>
      traceTransaction(service, () =>
        transaction((sql) => work({ query: (text, params) => traceStatement(service, text, () => sql.query(text, params)), ...(sql.send ? { send: sql.send.bind(sql) } : {}) })),
      ),
    query: (text, params) => traceStatement(service, text, () => query(text, params)),
  };
}
