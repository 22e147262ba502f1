import type { ApolloServerOptions, ApolloServerPlugin, BaseContext } from '@apollo/server';
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginInlineTraceDisabled,
  ApolloServerPluginLandingPageDisabled,
} from '@apollo/server/plugin/disabled';
import type { GraphQLFormattedError } from 'graphql';
import { isDatabaseUnavailable, isNumericOutOfRange } from '@paygraph/db';
import { ErrorCode, OUT_OF_RANGE_MESSAGE, isPublicCode, maskError, serviceUnavailable } from '@paygraph/errors';
import type { Logger } from '@paygraph/logging';

/** Largest JSON request body accepted, in bytes (1 MiB, express's '1mb'); anything larger is refused before parsing. */
export const JSON_BODY_LIMIT = 1024 * 1024;

interface SafetyContext extends BaseContext {
  requestId?: string;
  logger?: Logger;
}

/** True when the error is a database fault that the response reports as SERVICE_UNAVAILABLE. */
function becomesUnavailable(code: unknown, error: unknown): boolean {
  return !isPublicCode(code) && isDatabaseUnavailable(error);
}

/** True when the error is a number out of its column's range, which the response reports as BAD_USER_INPUT. */
function becomesOutOfRange(code: unknown, error: unknown): boolean {
  return !isPublicCode(code) && isNumericOutOfRange(error);
}

/**
 * The `formatError` of every server: a database that is unreachable, restarting or dropped the
 * connection is the public, retryable SERVICE_UNAVAILABLE (one place, for every resolver), never
 * an internal error; a number the database cannot hold (a total past the bigint of minor units a
 * flood of maximal top-ups reaches, say) is BAD_USER_INPUT; everything else is masked as maskError decides.
 */
export function formatServerError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError {
  if (becomesOutOfRange(formatted.extensions?.code, error)) {
    return maskError({ message: OUT_OF_RANGE_MESSAGE, ...(formatted.path ? { path: formatted.path } : {}), extensions: { code: ErrorCode.BAD_USER_INPUT } }, error);
  }
  if (!becomesUnavailable(formatted.extensions?.code, error)) return withVariableField(maskError(formatted, error));
  return maskError(
    {
      message: serviceUnavailable().message,
      ...(formatted.path ? { path: formatted.path } : {}),
      extensions: { code: ErrorCode.SERVICE_UNAVAILABLE },
    },
    error,
  );
}

/** The start of graphql-js's message for a variable it could not coerce. */
const VARIABLE_COERCION = /^Variable "\$([_A-Za-z][_0-9A-Za-z]*)" got invalid value /;

/**
 * Where the value graphql-js printed (with `inspect`: a JSON-quoted string, a number, `{ key:
 * value }`, `[...]`) ends in `message`, read from `start`; -1 when it does not end.
 */
function endOfPrintedValue(message: string, start: number): number {
  let depth = 0;
  let index = start;
  while (index < message.length) {
    const char = message[index]!;
    if (char === '"') {
      // A string: to its closing quote, past escaped ones.
      index += 1;
      while (index < message.length && message[index] !== '"') index += message[index] === '\\' ? 2 : 1;
      if (index >= message.length) return -1;
    } else if (char === '{' || char === '[') depth += 1;
    else if (char === '}' || char === ']') depth -= 1;
    else if (depth === 0 && (message.startsWith('; ', index) || message.startsWith(' at "', index))) return index;
    index += 1;
  }
  return -1;
}

/**
 * graphql-js's message for a variable it could not coerce prints the whole value the client sent:
 * `Variable "$i" got invalid value { email: "x", password: "secret", otp: "1" }; Field "otp" is
 * not defined by type "LoginInput".` Messages never echo secrets (API.md), so the value is left
 * out: `Variable "$i" got invalid value; Field "otp" ...`. The offending field is its path in the
 * request's variables as graphql-js prints it after ` at ` (`input.amount.amount`, `ids[2]`), or the
 * variable's name when the whole value is wrong. Null for any other message.
 */
export function variableCoercion(message: string): { message: string; field: string } | null {
  const match = VARIABLE_COERCION.exec(message);
  if (!match) return null;
  const name = match[1]!;
  const valueEnd = endOfPrintedValue(message, match[0].length);
  if (valueEnd === -1) return null;
  const rest = message.slice(valueEnd);
  const located = new RegExp(`^ at "(${name}(?:[.[][^"]*)?)"; `).exec(rest);
  if (located) return { field: located[1]!, message: `Variable "$${name}" got invalid value at "${located[1]}"; ${withoutLeafValue(rest.slice(located[0].length))}` };
  if (!rest.startsWith('; ')) return null;
  return { field: name, message: `Variable "$${name}" got invalid value; ${withoutLeafValue(rest.slice(2))}` };
}

/**
 * A built-in scalar's refusal prints the value too (`String cannot represent a non string value:
 * { secret: "x" }`, `ID cannot represent value: ...`): it ends at the kind of value refused.
 */
const withoutLeafValue = (reason: string): string => reason.replace(/^((?:Enum "\w+"|\w+) cannot represent [^:]*value): [\s\S]*$/, '$1.');

/**
 * Input problems name the offending `field` (README): a variable graphql-js could not coerce (an
 * Amount "1.5", an unknown Currency, a misspelt input field) is named by its path in the request's
 * variables, `input.amount.amount` or `ids[2]`, and its message no longer quotes the value sent.
 */
export function withVariableField(formatted: GraphQLFormattedError): GraphQLFormattedError {
  if (formatted.extensions?.code !== ErrorCode.BAD_USER_INPUT) return formatted;
  const coercion = variableCoercion(formatted.message);
  if (!coercion) return formatted;
  return { ...formatted, message: coercion.message, extensions: { ...formatted.extensions, field: formatted.extensions.field ?? coercion.field } };
}

/** graphql-js's suggestion of a schema name ("Did you mean \"email\"?", one or several names). */
const SUGGESTION = / ?Did you mean [^?]*\?/g;

/**
 * A message without graphql-js's suggestions of schema names. Apollo Server's
 * `hideSchemaDetailsFromClientErrors` takes them out of validation errors only; a variable's
 * coercion error ("Field \"emial\" is not defined by type \"LoginInput\". Did you mean \"email\"?")
 * keeps them, so production servers pass every message through this too.
 */
export function withoutSuggestions(formatted: GraphQLFormattedError): GraphQLFormattedError {
  return formatted.message.includes('Did you mean') ? { ...formatted, message: formatted.message.replace(SUGGESTION, '') } : formatted;
}

/**
 * Logs every error that will be masked (with the request id, so the log explains the generic
 * message), stamps masked errors and the response with the request id.
 */
export function apolloSafetyPlugin<TContext extends SafetyContext>(fallbackLogger: Logger): ApolloServerPlugin<TContext> {
  return {
    async requestDidStart() {
      return {
        async didEncounterErrors({ errors, contextValue }) {
          const logger = contextValue.logger ?? fallbackLogger;
          let unavailableLogged = false;
          for (const error of errors) {
            const code = error.extensions?.code;
            const status = (error.extensions?.http as { status?: number } | undefined)?.status;
            if (code === undefined && error.originalError === undefined && status !== undefined && status >= 400 && status < 500) {
              // Apollo Server's own refusal of a malformed request that carries no code (such as an
              // unsupported persisted query version): a request error, not an internal one.
              Object.assign(error.extensions as Record<string, unknown>, { code: 'BAD_REQUEST' });
              continue;
            }
            if (becomesOutOfRange(code, error)) {
              logger.warn({ err: error.originalError ?? error, path: error.path, requestId: contextValue.requestId }, 'number out of range: answered BAD_USER_INPUT');
              continue;
            }
            if (becomesUnavailable(code, error)) {
              // An outage fails every request: one warning per request, not an error per field.
              if (!unavailableLogged) logger.warn({ err: error.originalError ?? error, requestId: contextValue.requestId }, 'database unavailable');
              unavailableLogged = true;
              continue;
            }
            if (isPublicCode(code)) continue;
            if (typeof code === 'string' && code !== 'INTERNAL_SERVER_ERROR') continue;
            logger.error({ err: error.originalError ?? error, path: error.path, requestId: contextValue.requestId }, 'request failed');
          }
        },
        async willSendResponse({ response, contextValue }) {
          const requestId = contextValue.requestId;
          if (!requestId) return;
          response.http.headers.set('x-request-id', requestId);
          if (response.body.kind !== 'single') return;
          for (const error of response.body.singleResult.errors ?? []) {
            if (error.extensions?.code === 'INTERNAL_SERVER_ERROR') {
              (error as { extensions: Record<string, unknown> }).extensions = { ...error.extensions, requestId };
            }
          }
        },
      };
    },
  };
}

/** Options every Apollo Server of the platform starts from, in every mode. */
export function baseApolloOptions<TContext extends SafetyContext>(logger: Logger, production = process.env.NODE_ENV === 'production'): Pick<
  ApolloServerOptions<TContext>,
  'includeStacktraceInErrorResponses' | 'formatError' | 'plugins' | 'logger' | 'stringifyResult' | 'stopOnTerminationSignals'
> {
  return {
    includeStacktraceInErrorResponses: false,
    // The process owns shutdown (stop HTTP, then Apollo, then databases); Apollo's own signal
    // handler would race it and leave the process hanging.
    stopOnTerminationSignals: false,
    // In production no message names a schema element the client did not write (README).
    formatError: production ? (formatted, error) => withoutSuggestions(formatServerError(formatted, error)) : formatServerError,
    // No HTTP caching of GraphQL responses here, no traces: both cost CPU on every request.
    plugins: [ApolloServerPluginLandingPageDisabled(), ApolloServerPluginInlineTraceDisabled(), ApolloServerPluginCacheControlDisabled(), apolloSafetyPlugin<TContext>(logger)],
    logger: {
      debug: (message) => logger.debug(message),
      info: (message) => logger.info(message),
      warn: (message) => logger.warn(message),
      error: (message) => logger.error(message),
    },
    stringifyResult: (value) => JSON.stringify(value),
  };
}
