// Proves the SQL path costs nothing more while tracing is off (no OTEL variables): the database's
// transaction and statement runners are returned as they are, not wrapped.
import { expect, it } from 'vitest';
import type { RawTransaction, SqlRunner } from '../src/raw';
import { tracedRunners } from '../src/tracing';

it('returns the runners unwrapped while tracing is off', () => {
  const query: SqlRunner['query'] = async () => [];
  const transaction: RawTransaction = (work) => work({ query });
  const runners = tracedRunners('ledger', transaction, query);
  expect(runners.transaction).toBe(transaction);
  expect(runners.query).toBe(query);
});
