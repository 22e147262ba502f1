/**
 * Hand-written SQL for the hottest paths, on either driver: postgres.js runs each statement as a
 * named prepared statement (one round trip, planned once per connection), PGlite as it is.
 * Parameters are passed as text and cast in the SQL (`$1::bigint`), results read back as text
 * where precision matters, so both drivers behave the same.
 */
export interface SqlRunner {
  query<T = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<T[]>;
}

export type RawTransaction = <T>(work: (sql: SqlRunner) => Promise<T>) => Promise<T>;
