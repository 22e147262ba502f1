/**
 * The internal client for service-to-service GraphQL calls: the target is looked up in the
 * service list, a service token (scoped, short-lived, from auth) is attached, the request id is
 * propagated and every call has a timeout. A callee's error with a public code is thrown with that
 * code and the callee's refusal attached (port.ts): services call each other through ports, which
 * translate it into the caller's outcome or error so the callee's message and input path never
 * reach the caller's clients; a callee that cannot be reached or does not answer in time is
 * SERVICE_UNAVAILABLE (retryable); anything else (a callee's internal error, a malformed answer) is
 * a ServiceCallError, an internal error.
 */
import { isPublicCode, serviceUnavailable } from '@paygraph/errors';
import { serviceCredential, type TokenVerifierOptions } from '@paygraph/identity';
import { REQUEST_ID_HEADER } from '@paygraph/logging';
import { instancePool, instancesOf, isReadOperation } from './balancer';
import { postText, type HttpResponse } from './http';
import { refusalError } from './port';

export { keepAliveFetcher, postText, SERVICE_CONNECT_TIMEOUT_MS, type HttpResponse } from './http';
export { createPort, refusalError, refusalOf, ServiceContractError, translations, type Port, type PortCallOptions, type PortOptions, type Refusal, type Translation, type Translations, type TypedOperation } from './port';
export { instancePool, instancesOf, isConnectFailure, isConnectionLost, isReadOperation, isReadRequestBody, type InstancePool } from './balancer';

/** Resolves a service name to its GraphQL URL at call time (ports may be known only after listen). */
export interface ServiceDirectory {
  url(service: string): string;
  /** Every instance of the service when it runs several (balancer.ts spreads calls over them). */
  urls?(service: string): readonly string[];
}

export const SERVICE_CALL_TIMEOUT_MS = 5_000;
/** Renew a service token this long before it expires. */
const TOKEN_RENEW_MARGIN_MS = 60_000;

export class ServiceCallError extends Error {
  override name = 'ServiceCallError';
}

/** HTTP statuses of a callee (or a proxy before it) that is overloaded, restarting or gone. */
const UNAVAILABLE_HTTP_STATUSES: ReadonlySet<number> = new Set([502, 503, 504]);

/**
 * The public, retryable SERVICE_UNAVAILABLE for a callee that could not be reached or did not
 * answer in time. The message is the generic one (no service names or addresses reach clients);
 * the cause (which callee, why) stays on `cause` for the server log.
 */
export function unreachable(target: string, cause: unknown): ReturnType<typeof serviceUnavailable> {
  const reason = cause instanceof Error ? cause : new Error(String(cause));
  return Object.assign(serviceUnavailable(), { cause: Object.assign(new ServiceCallError(`${target} did not answer: ${reason.message}`), { cause: reason }) });
}

export interface ServiceClientOptions {
  /** The calling service's own name (its credential and scopes follow from it). */
  service: string;
  serviceSecret: string;
  directory: ServiceDirectory;
  timeoutMs?: number;
  /** Supplies the service token directly (auth signs its own instead of asking itself over HTTP). */
  tokenProvider?: () => Promise<string>;
}

export interface CallOptions {
  requestId?: string;
  timeoutMs?: number;
}

export interface ServiceClient {
  request<TData>(target: string, query: string, variables?: Record<string, unknown>, options?: CallOptions): Promise<TData>;
}

function originOf(graphqlUrl: string): string {
  return new URL(graphqlUrl).origin;
}

export function authEndpoints(directory: ServiceDirectory) {
  const origin = () => originOf(directory.url('auth'));
  return {
    jwks: () => `${origin()}/.well-known/jwks.json`,
    serviceToken: () => `${origin()}/internal/service-token`,
  };
}

type KeysFetch = NonNullable<TokenVerifierOptions['fetchKeys']>;

/**
 * Fetches auth's published keys (JWKS) from every auth instance, as jose's remote key set calls
 * fetch: through the same instance pool as every call to auth (balancer.ts), so requests spread
 * over the instances, one that refuses leaves the rotation until its /health answers, and the
 * fetch (a read) is resent to the next instance after a refused or broken connection. When no
 * instance answers it is a 503, so the verifier answers SERVICE_UNAVAILABLE (retryable) and does
 * not call the token invalid; jose's own timeout is left to jose (also SERVICE_UNAVAILABLE).
 */
export function authKeysFetch(directory: ServiceDirectory): KeysFetch {
  return async (url, init) => {
    const path = new URL(url).pathname;
    try {
      return await instancePool(instancesOf(directory, 'auth')).send((instance) => fetch(`${originOf(instance)}${path}`, init), { read: true });
    } catch (error) {
      if (init.signal.aborted) throw error;
      return new Response(null, { status: 503, statusText: 'no auth instance answered' });
    }
  };
}

/**
 * Where a token verifier reads auth's keys: AUTH_JWKS_URL when set (one URL the operator chose),
 * else auth's JWKS fetched over every auth instance in the directory (authKeysFetch).
 */
export function authKeySource(directory: ServiceDirectory, jwksUrl?: string): Pick<TokenVerifierOptions, 'keys' | 'fetchKeys'> {
  if (jwksUrl) return { keys: jwksUrl };
  return { keys: authEndpoints(directory).jwks(), fetchKeys: authKeysFetch(directory) };
}

type GraphQLBody<TData> = { data?: TData | null; errors?: { message: string; extensions?: Record<string, unknown> }[] };

function parseBody<TData>(text: string): GraphQLBody<TData> | null {
  try {
    return JSON.parse(text) as GraphQLBody<TData>;
  } catch {
    return null;
  }
}

export function createServiceClient(options: ServiceClientOptions): ServiceClient {
  const timeoutMs = options.timeoutMs ?? SERVICE_CALL_TIMEOUT_MS;
  let cached: { token: string; renewAt: number } | null = null;
  let pending: Promise<string> | null = null;

  async function fetchServiceToken(): Promise<string> {
    // Any auth instance signs it; resent to another one only when the first could not connect.
    let response: HttpResponse;
    try {
      response = await instancePool(instancesOf(options.directory, 'auth')).send((url) =>
        postText(
          `${originOf(url)}/internal/service-token`,
          { 'content-type': 'application/json' },
          JSON.stringify({ service: options.service, credential: serviceCredential(options.serviceSecret, options.service) }),
          timeoutMs,
        ),
      );
    } catch (error) {
      throw unreachable('auth', error);
    }
    if (UNAVAILABLE_HTTP_STATUSES.has(response.status)) throw unreachable('auth', new Error(`HTTP ${response.status}`));
    if (response.status !== 200) throw new ServiceCallError(`auth refused a service token for ${options.service}: HTTP ${response.status}`);
    const body = JSON.parse(response.text) as { token: string; expiresAt: string };
    cached = { token: body.token, renewAt: new Date(body.expiresAt).getTime() - TOKEN_RENEW_MARGIN_MS };
    return body.token;
  }

  async function serviceToken(): Promise<string> {
    if (options.tokenProvider) return options.tokenProvider();
    if (cached && Date.now() < cached.renewAt) return cached.token;
    pending ??= fetchServiceToken().finally(() => {
      pending = null;
    });
    return pending;
  }

  return {
    async request<TData>(target: string, query: string, variables: Record<string, unknown> = {}, callOptions: CallOptions = {}) {
      const token = await serviceToken();
      const headers: Record<string, string> = { 'content-type': 'application/json', authorization: `Bearer ${token}` };
      if (callOptions.requestId) headers[REQUEST_ID_HEADER] = callOptions.requestId;
      let response: HttpResponse;
      const requestBody = JSON.stringify({ query, variables });
      try {
        // Round robin over the target's instances; resent elsewhere only when safe (balancer.ts).
        response = await instancePool(instancesOf(options.directory, target)).send(
          (url) => postText(url, headers, requestBody, callOptions.timeoutMs ?? timeoutMs),
          { read: isReadOperation(query) },
        );
      } catch (error) {
        // Refused, reset, or no answer within the timeout: the call may not have run, or its keyed
        // effect completes later; either way the caller can retry.
        throw unreachable(target, error);
      }
      const body = parseBody<TData>(response.text);
      if (!body && UNAVAILABLE_HTTP_STATUSES.has(response.status)) throw unreachable(target, new Error(`HTTP ${response.status}`));
      if (!body) throw new ServiceCallError(`${target} answered HTTP ${response.status} without a GraphQL body`);
      const first = body.errors?.[0];
      if (first) {
        const code = first.extensions?.code;
        if (isPublicCode(code)) {
          // The callee's words, kept on the error for a port (port.ts) to translate into the caller's.
          const { code: _code, http: _http, field, ...details } = first.extensions ?? {};
          throw refusalError({ service: target, code, message: first.message, field: typeof field === 'string' ? field : null, details });
        }
        throw new ServiceCallError(`${target} failed: ${first.message}`);
      }
      if (body.data === undefined || body.data === null) throw new ServiceCallError(`${target} returned no data`);
      return body.data;
    },
  };
}
