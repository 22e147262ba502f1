// Proves the one classification behind SERVICE_UNAVAILABLE for database faults: connection-level
// failures (refused, reset, closed, connect timeout, admin shutdown, cannot connect now, class 08),
// also when wrapped by drizzle or GraphQL, count as unavailable; errors about the query do not.
import { describe, expect, it } from 'vitest';
import { isDatabaseUnavailable } from '../src';

const withCode = (code: string) => Object.assign(new Error(code), { code });

describe('isDatabaseUnavailable', () => {
  it.each(['ECONNREFUSED', 'ECONNRESET', 'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT', '57P01', '57P02', '57P03', '53300', '08006', '08001', '08P01'])(
    '%s is unavailable',
    (code) => {
      expect(isDatabaseUnavailable(withCode(code))).toBe(true);
    },
  );

  it.each(['23505', '23514', '40001', '42P01', '22P02', 'ERR_SOMETHING'])('%s is not', (code) => {
    expect(isDatabaseUnavailable(withCode(code))).toBe(false);
  });

  it('sees through drizzle (cause), GraphQL (originalError) and AggregateError (errors)', () => {
    const drizzle = Object.assign(new Error('Failed query: select 1'), { cause: withCode('57P01') });
    expect(isDatabaseUnavailable(drizzle)).toBe(true);
    expect(isDatabaseUnavailable({ message: 'x', originalError: drizzle })).toBe(true);
    expect(isDatabaseUnavailable(new AggregateError([withCode('ECONNREFUSED'), withCode('ECONNREFUSED')]))).toBe(true);
    expect(isDatabaseUnavailable(Object.assign(new Error('Failed query'), { cause: withCode('23505') }))).toBe(false);
    expect(isDatabaseUnavailable(null)).toBe(false);
    expect(isDatabaseUnavailable('ECONNREFUSED')).toBe(false);
  });
});
