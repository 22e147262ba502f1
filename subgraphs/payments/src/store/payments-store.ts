/**
 * The only place with SQL for payments: reads (reads.ts) and writes (writes.ts) over one set of
 * columns (columns.ts, from the drizzle tables), events shaped through the typed contract (events.ts).
 */
import type { Database, RawTransaction, SqlRunner } from '@paygraph/db';
import type { schema } from '../db/schema';
import { createPaymentsReads } from './reads';
import { createPaymentsWrites } from './writes';

export { LogAhead, LogPruned } from './reads';
export { PaymentConflict, type PaymentAttempt, type PaymentChanges, type PaymentGuard, type OrderMove } from './writes';

export function createPaymentsStore(database: { db: Database<typeof schema>; transaction: RawTransaction; query: SqlRunner['query'] }) {
  return { ...createPaymentsReads(database), ...createPaymentsWrites(database) };
}

export type PaymentsStore = ReturnType<typeof createPaymentsStore>;
