/**
 * The closed set of error codes of the public API (see shared/API.md) and the masking that keeps
 * stack traces, SQL and secrets out of every response.
 */
import { GraphQLError, type GraphQLFormattedError } from 'graphql';

export const ErrorCode = {
  /** No valid credentials: missing, malformed, expired or forged token. */
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  /** Authenticated, but the viewer may not do this. */
  FORBIDDEN: 'FORBIDDEN',
  /** The input is malformed or breaks a documented limit; `extensions.field` names it. */
  BAD_USER_INPUT: 'BAD_USER_INPUT',
  /** The referenced object does not exist (or the viewer may not know it exists). */
  NOT_FOUND: 'NOT_FOUND',
  /** The source account's available balance is below the amount. */
  INSUFFICIENT_FUNDS: 'INSUFFICIENT_FUNDS',
  /** The idempotency key was used before with different parameters. */
  IDEMPOTENCY_KEY_REUSED: 'IDEMPOTENCY_KEY_REUSED',
  /** The object is not in a state that allows the operation. */
  INVALID_STATE: 'INVALID_STATE',
  /** Too many attempts; `extensions.retryAfterSeconds` says when to try again. */
  RATE_LIMITED: 'RATE_LIMITED',
  /**
   * A database or service this request needs is unreachable. Retryable: nothing changed, or the
   * change completes later; retry with the same idempotency key.
   */
  SERVICE_UNAVAILABLE: 'SERVICE_UNAVAILABLE',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const httpStatusByCode: Record<ErrorCode, number> = {
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  BAD_USER_INPUT: 400,
  NOT_FOUND: 404,
  INSUFFICIENT_FUNDS: 402,
  IDEMPOTENCY_KEY_REUSED: 409,
  INVALID_STATE: 409,
  RATE_LIMITED: 429,
  SERVICE_UNAVAILABLE: 503,
};

const publicCodes = new Set<string>(Object.values(ErrorCode));

/**
 * Codes produced by graphql-js and Apollo Server for malformed requests. Their messages describe
 * the request, never server internals, so they are passed through as they are.
 */
const requestErrorCodes = new Set<string>([
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_REQUEST',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
  'OPERATION_RESOLUTION_FAILURE',
  // Edge limits (issue 11): Apollo Router's codes, then ours where the Router has none.
  'MAX_DEPTH_LIMIT',
  'MAX_HEIGHT_LIMIT',
  'MAX_ALIASES_LIMIT',
  'MAX_ROOT_FIELDS_LIMIT',
  'COST_ESTIMATED_TOO_EXPENSIVE',
  'REQUEST_TIMEOUT',
  'MAX_TOKENS_LIMIT',
  'MAX_DIRECTIVES_LIMIT',
  'RESPONSE_TOO_LARGE',
]);

export interface ErrorOptions {
  /** The input field at fault, as a dotted path (`input.email`). */
  field?: string;
  /** Extra machine-readable details; never secrets. */
  details?: Record<string, unknown>;
}

/** Builds a client-facing error. Resolver errors keep HTTP 200, as GraphQL over HTTP expects. */
export function apiError(code: ErrorCode, message: string, options: ErrorOptions = {}): GraphQLError {
  return new GraphQLError(message, {
    extensions: {
      code,
      ...(options.field === undefined ? {} : { field: options.field }),
      ...options.details,
    },
  });
}

/**
 * For an error that ends the whole request before execution (the context function): the same
 * error with the HTTP status of its code (401 for a bad token). Other errors are returned as given.
 */
export function withHttpStatus(error: unknown): unknown {
  if (!(error instanceof GraphQLError) || !isPublicCode(error.extensions.code)) return error;
  return new GraphQLError(error.message, {
    extensions: { ...error.extensions, http: { status: httpStatusByCode[error.extensions.code] } },
  });
}

export const unauthenticated = (message = 'Authentication required: send a valid access token.') =>
  apiError(ErrorCode.UNAUTHENTICATED, message);
export const forbidden = (message = 'You are not allowed to do this.') => apiError(ErrorCode.FORBIDDEN, message);
export const badUserInput = (message: string, field?: string) =>
  apiError(ErrorCode.BAD_USER_INPUT, message, field === undefined ? {} : { field });
export const notFound = (message: string) => apiError(ErrorCode.NOT_FOUND, message);
export const invalidState = (message: string) => apiError(ErrorCode.INVALID_STATE, message);
export const idempotencyKeyReused = (field = 'input.idempotencyKey') =>
  apiError(ErrorCode.IDEMPOTENCY_KEY_REUSED, 'This idempotency key was already used with different parameters.', { field });
export const rateLimited = (message: string, retryAfterSeconds: number) =>
  apiError(ErrorCode.RATE_LIMITED, message, { details: { retryAfterSeconds } });

/**
 * BAD_USER_INPUT's message for a number the database cannot hold (SQLSTATE 22003, mapped by every
 * server's formatError): an amount whose account totals would pass PostgreSQL's bigint of minor
 * units, or a position past it. A caller translating a callee's refusal recognises it by this text.
 */
export const OUT_OF_RANGE_MESSAGE = 'A number in this request, or a total it would make, is larger than the platform can record. Nothing changed.';

export const serviceUnavailable = (message = 'A service this request needs is unavailable; nothing changed or the change completes later. Retry with the same idempotency key.') =>
  apiError(ErrorCode.SERVICE_UNAVAILABLE, message);

export function isPublicCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && publicCodes.has(code);
}

export const INTERNAL_ERROR_MESSAGE = 'Internal server error';
/** Apollo Server's prefix for errors thrown while building the context; not meant for people. */
const CONTEXT_FAILURE_PREFIX = /^Context creation failed: /;

/**
 * The `extensions` keys a client may see. Everything else (stack traces, a downstream response
 * with a subgraph's URL, service names) is dropped.
 */
export const PUBLIC_EXTENSION_KEYS: ReadonlySet<string> = new Set(['code', 'field', 'retryAfterSeconds', 'requestId']);

function safeExtensions(extensions: Record<string, unknown> | undefined): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  if (!extensions) return result;
  for (const [key, value] of Object.entries(extensions)) {
    if (PUBLIC_EXTENSION_KEYS.has(key)) result[key] = value;
  }
  return result;
}

export interface MaskOptions {
  /** Called with every error that is masked, so the original can be logged server side. */
  onInternalError?: (error: unknown, formatted: GraphQLFormattedError) => void;
  requestId?: string;
}

/**
 * The `formatError` of every server (gateway and subgraphs): public codes and request errors keep
 * their message; anything else becomes a generic internal error carrying only a request id.
 */
export function maskError(formatted: GraphQLFormattedError, error: unknown, options: MaskOptions = {}): GraphQLFormattedError {
  const code = formatted.extensions?.code;
  if (isPublicCode(code) || (typeof code === 'string' && requestErrorCodes.has(code))) {
    return {
      message: formatted.message.replace(CONTEXT_FAILURE_PREFIX, ''),
      ...(formatted.locations ? { locations: formatted.locations } : {}),
      ...(formatted.path ? { path: formatted.path } : {}),
      extensions: safeExtensions(formatted.extensions),
    };
  }
  options.onInternalError?.(error, formatted);
  return {
    message: INTERNAL_ERROR_MESSAGE,
    ...(formatted.path ? { path: formatted.path } : {}),
    extensions: {
      code: 'INTERNAL_SERVER_ERROR',
      ...(options.requestId ? { requestId: options.requestId } : {}),
    },
  };
}

/** A programmer's invariant that did not hold: the request fails as an internal error (masked), the log says which. */
export class InvariantError extends Error {
  override name = 'InvariantError';
}

/**
 * What a client sees for `error` thrown by a resolver: graphql-js wraps a plain error, then every
 * server's formatError masks it. For tests that check nothing of a callee leaks.
 */
export function publicViewOf(error: unknown): GraphQLFormattedError {
  const graphQLError = error instanceof GraphQLError ? error : new GraphQLError(error instanceof Error ? error.message : String(error), { originalError: error instanceof Error ? error : null });
  return maskError(graphQLError.toJSON(), error);
}

/** Asserts a programmer's invariant with a message saying which one (instead of a bare `!`). */
export function invariant(condition: unknown, message: string): asserts condition {
  if (!condition) throw new InvariantError(`Invariant broken: ${message}`);
}
