/** True for a unique-constraint violation (SQLSTATE 23505), optionally on a named constraint. */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const candidates = [error, (error as { cause?: unknown } | null)?.cause];
  return candidates.some((candidate) => {
    if (!candidate || typeof candidate !== 'object') return false;
    const record = candidate as { code?: unknown; constraint?: unknown; constraint_name?: unknown };
    if (record.code !== '23505') return false;
    if (constraint === undefined) return true;
    return record.constraint === constraint || record.constraint_name === constraint;
  });
}

/** True for a CHECK constraint violation (SQLSTATE 23514), optionally on a named constraint. */
export function isCheckViolation(error: unknown, constraint?: string): boolean {
  const candidates = [error, (error as { cause?: unknown } | null)?.cause];
  return candidates.some((candidate) => {
    const record = candidate as { code?: unknown; constraint?: unknown; constraint_name?: unknown } | null;
    if (!record || record.code !== '23514') return false;
    return constraint === undefined || record.constraint === constraint || record.constraint_name === constraint;
  });
}

/**
 * Socket-level codes (Node, postgres.js) that mean the database could not be reached or the
 * connection died: nothing about the request itself is wrong, a retry later can succeed.
 */
const UNREACHABLE_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  // postgres.js
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
]);

/**
 * SQLSTATEs of a server that is going away or not accepting work yet: admin_shutdown (57P01),
 * crash_shutdown (57P02), cannot_connect_now (57P03, starting up or shutting down),
 * too_many_connections (53300). Class 08 (connection exception) is matched by prefix.
 */
const UNAVAILABLE_SQLSTATES: ReadonlySet<string> = new Set(['57P01', '57P02', '57P03', '53300']);

/** How deep a chain of wrappers (GraphQLError.originalError, DrizzleQueryError.cause) is followed. */
const ERROR_CHAIN_DEPTH_MAX = 6;

function isUnavailableCode(code: unknown): boolean {
  if (typeof code !== 'string') return false;
  return UNREACHABLE_CODES.has(code) || UNAVAILABLE_SQLSTATES.has(code) || /^08[0-9A-Z]{3}$/.test(code);
}

/**
 * True when `error` (or what it wraps) says the database is unreachable, restarting or dropped the
 * connection: the one classification behind SERVICE_UNAVAILABLE for database faults. A query the
 * database rejected (constraint, syntax, serialization) is not unavailability.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < ERROR_CHAIN_DEPTH_MAX && current && typeof current === 'object'; depth += 1) {
    const record = current as { code?: unknown; errors?: unknown; originalError?: unknown; cause?: unknown };
    if (isUnavailableCode(record.code)) return true;
    // Node reports a refused connection to every address of a host as an AggregateError.
    if (Array.isArray(record.errors) && record.errors.some((inner) => isUnavailableCode((inner as { code?: unknown } | null)?.code))) return true;
    current = record.originalError ?? record.cause;
  }
  return false;
}

/**
 * True when `error` (or what it wraps) is PostgreSQL's numeric_value_out_of_range (SQLSTATE 22003):
 * a number the request carried, or a total it would make, does not fit its column (a bigint of
 * minor units, a position). The request is what is wrong, not the service.
 */
export function isNumericOutOfRange(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < ERROR_CHAIN_DEPTH_MAX && current && typeof current === 'object'; depth += 1) {
    const record = current as { code?: unknown; originalError?: unknown; cause?: unknown };
    if (record.code === '22003') return true;
    current = record.originalError ?? record.cause;
  }
  return false;
}
