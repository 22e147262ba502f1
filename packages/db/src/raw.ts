/**
 * Hand-written SQL for the hottest paths, on either driver: postgres.js runs each statement as a
 * named prepared statement (one round trip, planned once per connection), PGlite as it is.
 * Parameters are passed as text and cast in the SQL (`$1::bigint`), results read back as text
 * where precision matters, so both drivers behave the same.
 */
export interface SqlRunner {
  query<T = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<T[]>;
  /**
   * Inside a transaction only: sends a statement whose rows nobody reads without waiting for its
   * answer (on postgres.js it travels with the next statement or the COMMIT: a round trip less).
   * It runs before every statement sent after it; its failure fails the transaction, which
   * rolls back (at the latest its COMMIT reports it). Not the other way round: on postgres.js a
   * query() called but not yet awaited reaches the connection a microtask after a send() made
   * meanwhile, so send only once the queries it must follow are awaited (PGlite keeps call order).
   */
  send?(text: string, params?: readonly unknown[]): void;
}

/**
 * Runs a statement whose rows nobody reads: sent without waiting where the runner can (inside a
 * transaction: it travels with the next statement or the COMMIT, and its failure fails the
 * transaction), awaited otherwise.
 */
export async function sendStatement(sql: SqlRunner, text: string, params?: readonly unknown[]): Promise<void> {
  if (sql.send) sql.send(text, params);
  else await sql.query(text, params);
}

export type RawTransaction = <T>(work: (sql: SqlRunner) => Promise<T>) => Promise<T>;
