/**
 * Ports: the typed calls one service makes to another. Each caller keeps the operation documents it
 * sends in `src/ports/<callee>.graphql`; GraphQL Code Generator validates them against the callee's
 * schema and types their variables and results (`src/generated/<callee>-operations.ts`, see
 * codegen.ts), so a field the callee renames or an argument it changes fails the typecheck.
 *
 * A port also translates what the callee refuses into what the caller's own clients understand:
 * a callee's error carries the callee's message and input path (`input.entries.0.accountId`), which
 * mean nothing to, say, a `payOrder` caller. A port lists the callee's codes it expects, each with
 * the caller's outcome or error; any other refusal is a broken contract between the two services
 * (the caller sent what the callee cannot accept, or lacks a scope): an internal error, masked for
 * clients, with the callee's words kept for the log. SERVICE_UNAVAILABLE (the callee, or a service
 * it needs, cannot answer) is never translated: it is retryable whoever says it.
 */
import { apiError, ErrorCode } from '@paygraph/errors';
import type { CallOptions, ServiceClient } from './index';

/**
 * An operation document with its result and variables types, as the typed-document-node plugin
 * generates it (`documentMode: 'string'`: a string that also carries the types).
 */
export interface TypedOperation<TResult, TVariables> {
  __apiType?: (variables: TVariables) => TResult;
  toString(): string;
}

/** What a callee refused, in its own terms: for the caller's translation and log, never for its clients. */
export interface Refusal {
  /** The callee's service name. */
  service: string;
  code: ErrorCode;
  message: string;
  /** The callee's input path at fault, if it named one. */
  field: string | null;
  /** The callee's other extensions (e.g. `retryAfterSeconds`). */
  details: Record<string, unknown>;
}

const REFUSAL = Symbol('paygraph.refusal');

/** The error the service client throws for a callee's answer with a public code (index.ts). */
export function refusalError(refusal: Refusal): Error {
  const { field, details } = refusal;
  const error = apiError(refusal.code, refusal.message, { ...(field === null ? {} : { field }), details });
  Object.defineProperty(error, REFUSAL, { value: refusal, enumerable: false });
  return error;
}

/** The callee's refusal carried by an error the service client threw, else null. */
export function refusalOf(error: unknown): Refusal | null {
  if (typeof error !== 'object' || error === null) return null;
  return (error as { [REFUSAL]?: Refusal })[REFUSAL] ?? null;
}

/** A translated refusal: the caller's error, or a value the call resolves with (an outcome). */
export type Translation<TOutcome = never> = (refusal: Refusal) => Error | { outcome: TOutcome };
/** Per callee code, the caller's translation; SERVICE_UNAVAILABLE always passes through. */
export type Translations<TOutcome = never> = Partial<Record<Exclude<ErrorCode, 'SERVICE_UNAVAILABLE'>, Translation<TOutcome>>>;

/**
 * A refusal the caller does not expect: the two services disagree (an invalid request, a missing
 * scope). Internal: clients see "Internal server error" with a request id; the log has the rest.
 */
export class ServiceContractError extends Error {
  override name = 'ServiceContractError';
  constructor(
    readonly refusal: Refusal,
    operation: string,
  ) {
    super(`${refusal.service} refused ${operation} with ${refusal.code}${refusal.field ? ` on ${refusal.field}` : ''}: ${refusal.message}`);
  }
}

export interface PortCallOptions<TOutcome> extends CallOptions {
  /** Translations for this call, over the port's. */
  translate?: Translations<TOutcome>;
}

export interface Port {
  readonly service: string;
  /**
   * Sends one operation; resolves with its typed result, or with the outcome a translation gave.
   * Throws the caller's error for a translated refusal, a ServiceContractError for any other, and
   * the service client's own errors (SERVICE_UNAVAILABLE, ServiceCallError) unchanged.
   */
  call<TResult, TVariables, TOutcome = never>(operation: TypedOperation<TResult, TVariables>, variables: TVariables, options?: PortCallOptions<TOutcome>): Promise<TResult | TOutcome>;
}

export interface PortOptions {
  client: ServiceClient;
  /** The callee's service name. */
  service: string;
  /** Translations of the callee's codes for every call of this port. */
  translate?: Translations<never>;
  /** Call options of every call (the request id of the caller's request). */
  callOptions?: CallOptions;
}

/** The operation's name, for messages (`mutation Transfer(...)` gives "Transfer"). */
function operationName(document: string): string {
  return /^\s*(?:query|mutation)\s+(\w+)/.exec(document)?.[1] ?? 'an operation';
}

export function createPort(options: PortOptions): Port {
  return {
    service: options.service,
    async call<TResult, TVariables, TOutcome = never>(operation: TypedOperation<TResult, TVariables>, variables: TVariables, callOptions: PortCallOptions<TOutcome> = {}): Promise<TResult | TOutcome> {
      const { translate, ...requestOptions } = callOptions;
      const document = operation.toString();
      try {
        return await options.client.request<TResult>(options.service, document, variables as Record<string, unknown>, { ...options.callOptions, ...requestOptions });
      } catch (error) {
        const refusal = refusalOf(error);
        if (!refusal || refusal.code === ErrorCode.SERVICE_UNAVAILABLE) throw error;
        const translation = translate?.[refusal.code] ?? options.translate?.[refusal.code];
        if (!translation) throw Object.assign(new ServiceContractError(refusal, operationName(document)), { cause: error });
        const translated = translation(refusal);
        if (translated instanceof Error) {
          if (!('cause' in translated) || translated.cause === undefined) Object.assign(translated, { cause: error });
          return Promise.reject(translated);
        }
        return translated.outcome;
      }
    },
  };
}

/** Common translations. */
export const translations = {
  /** The refusal resolves the call with `value` (e.g. "no such user" as null). */
  outcome:
    <TOutcome>(value: TOutcome): Translation<TOutcome> =>
    () => ({ outcome: value }),
  /** The caller's own error with its message and, for input problems, its own field. */
  error:
    (code: ErrorCode, message: string, field?: string): Translation =>
    () =>
      apiError(code, message, field === undefined ? {} : { field }),
};
