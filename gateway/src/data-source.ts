import { RemoteGraphQLDataSource, type GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import type { Fetcher, FetcherHeaders } from '@apollo/utils.fetcher';
import { GraphQLError } from 'graphql';
import { ErrorCode, isPublicCode, serviceUnavailable } from '@paygraph/errors';
import { CLIENT_ADDRESS_HEADER, GATEWAY_CREDENTIAL_HEADER } from '@paygraph/identity';
import { REQUEST_ID_HEADER } from '@paygraph/logging';
import { isCompositionRequestBody } from '@paygraph/metrics';
import { instancePool, isReadRequestBody, keepAliveFetcher, unreachable } from '@paygraph/service-client';
import type { GatewayContext } from './context';
import { createInflightMerger, inflightReadKey } from './dedupe';
import type { GatewayMetrics } from './metrics';

/** HTTP statuses of a subgraph (or a proxy before it) that is overloaded, restarting or gone. */
const UNAVAILABLE_HTTP_STATUSES: ReadonlySet<number> = new Set([502, 503, 504]);

/**
 * The gateway's hop to a subgraph: forwards the caller's bearer token (each subgraph verifies it
 * again) and the request id, bounds the call with a timeout and records its latency. A subgraph
 * that cannot be reached (refused, no connection within SERVICE_CONNECT_TIMEOUT_MS) or does not
 * answer within SUBGRAPH_TIMEOUT_MS is SERVICE_UNAVAILABLE to the client, as is a subgraph's own
 * SERVICE_UNAVAILABLE (its database is down): retryable, never an internal error.
 */
export class SubgraphDataSource extends RemoteGraphQLDataSource<GatewayContext> {
  /** Proves to the subgraph that the request comes from the gateway (GATEWAY_CREDENTIAL_HEADER). */
  private readonly callerCredential: string | undefined;

  constructor(options: {
    name: string;
    url: string;
    urls?: readonly string[];
    timeoutMs: number;
    metrics: GatewayMetrics;
    callerCredential?: string;
    /** Merge identical in-flight reads (dedupe.ts); on unless false. */
    dedupe?: boolean;
  }) {
    const send = keepAliveFetcher(options.timeoutMs);
    // Round robin over the subgraph's instances, resent elsewhere only when safe (service-client balancer.ts).
    const pool = instancePool(options.urls && options.urls.length > 0 ? options.urls : [options.url]);
    // Identical reads in flight share one subgraph request (dedupe.ts): never writes, never across callers.
    const reads = createInflightMerger<Awaited<ReturnType<Fetcher>>>();
    const fetcher: Fetcher = (url, init) => {
      const request = init as Parameters<typeof send>[1];
      return reads.run(options.dedupe === false ? null : inflightReadKey(request?.headers, request?.body), () => fetchOnce(url, init));
    };
    const fetchOnce: Fetcher = async (_url, init) => {
      const started = process.hrtime.bigint();
      const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
      let kind: 'traffic' | 'composition' = 'traffic';
      try {
        const request = init as Parameters<typeof send>[1];
        // Composition polling (SDL, health checks) is measured apart from traffic (a look at the body's start).
        kind = isCompositionRequestBody(request?.body) ? 'composition' : 'traffic';
        const response = await pool.send((instanceUrl) => send(instanceUrl, request), { read: isReadRequestBody(request?.body) });
        options.metrics.observeSubgraphFetch(options.name, response.ok ? 'ok' : 'error', seconds(), kind);
        return response as unknown as Awaited<ReturnType<Fetcher>>;
      } catch (error) {
        options.metrics.observeSubgraphFetch(options.name, 'error', seconds(), kind);
        throw unreachable(options.name, error);
      }
    };
    super({ url: options.url, fetcher });
    this.callerCredential = options.callerCredential;
  }

  /**
   * A subgraph refuses a request before executing it (HTTP 4xx: a variable its scalars reject, a
   * token it no longer accepts) with GraphQL errors in the body. Their public code and message are
   * what the client needs; the default error would carry only "400: Bad Request" and the
   * subgraph's URL, and be masked as an internal error.
   */
  override async errorFromResponse(response: Parameters<RemoteGraphQLDataSource['errorFromResponse']>[0]): Promise<GraphQLError> {
    const fallback = await super.errorFromResponse(response);
    const body = (fallback.extensions.response as { body?: { errors?: { message?: unknown; extensions?: Record<string, unknown> }[] } } | undefined)?.body;
    const first = body?.errors?.find((error) => isPublicCode(error.extensions?.code));
    if ((!first || typeof first.message !== 'string') && UNAVAILABLE_HTTP_STATUSES.has(response.status)) {
      return new GraphQLError(serviceUnavailable().message, { extensions: { code: ErrorCode.SERVICE_UNAVAILABLE } });
    }
    if (!first || typeof first.message !== 'string') return fallback;
    const { code, field } = first.extensions ?? {};
    return new GraphQLError(first.message, { extensions: { code, ...(typeof field === 'string' ? { field } : {}) } });
  }

  /**
   * Apollo's RemoteGraphQLDataSource.process on plain objects. Apollo's builds node-fetch Headers
   * and a WHATWG Request per call (the Request only for hooks this gateway does not use, and a URL
   * parsed each time): about a tenth of the gateway's CPU under bench:gateway. Same steps
   * otherwise: the headers (the caller's, then willSendRequest's), the body
   * (`{"query":...,"variables":...,"operationName":...}`, query first as isReadRequestBody expects),
   * then errorFromResponse for a non-2xx answer and parseBody. Not carried over, both off on this
   * gateway: automatic persisted queries to subgraphs and subgraph cache-control hints (the
   * cache-control plugin is disabled in packages/server apollo.ts). Re-check on every
   * @apollo/gateway upgrade, as the fetcher adapter.
   */
  override async process(options: GraphQLDataSourceProcessOptions<GatewayContext>): ReturnType<RemoteGraphQLDataSource['process']> {
    const { request, context } = options;
    const headers = new PlainHeaders(request.http?.headers);
    headers.set('content-type', 'application/json');
    request.http = { method: 'POST', url: this.url, headers };
    await this.willSendRequest(options);
    const { query, http: _http, ...rest } = request;
    if (!query) throw new Error('Missing query');
    const response = await this.fetcher(this.url, { method: 'POST', headers: headers.record, body: JSON.stringify({ query, ...rest }) });
    if (!response.ok) throw await this.errorFromResponse(response);
    const body = await this.parseBody(response, undefined, context as GatewayContext | undefined);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new Error(`Expected JSON response body, but received: ${String(body)}`);
    return { ...body, http: response };
  }

  override willSendRequest({ request, context }: GraphQLDataSourceProcessOptions<GatewayContext>): void {
    const headers = request.http?.headers;
    // Every request, introspection and health checks too: subgraphs answer only the gateway and services.
    if (headers && this.callerCredential) headers.set(GATEWAY_CREDENTIAL_HEADER, this.callerCredential);
    if (!headers || !context) return;
    if ('authorization' in context && context.authorization) headers.set('authorization', context.authorization);
    if ('requestId' in context && context.requestId) headers.set(REQUEST_ID_HEADER, context.requestId);
    // The client's address, signed, for the subgraphs' per-client throttles (login, registration).
    if ('clientAddressSigned' in context && context.clientAddressSigned) headers.set(CLIENT_ADDRESS_HEADER, context.clientAddressSigned);
  }
}

/** Request headers as a plain record of lower-cased names, behind the few Headers members Apollo's hooks use. */
class PlainHeaders implements FetcherHeaders {
  readonly record: Record<string, string> = {};

  constructor(initial?: Iterable<[string, string]>) {
    if (initial) for (const [name, value] of initial) this.append(name, value);
  }
  append(name: string, value: string): void {
    const key = name.toLowerCase();
    this.record[key] = key in this.record ? `${this.record[key]}, ${value}` : value;
  }
  delete(name: string): void {
    delete this.record[name.toLowerCase()];
  }
  get(name: string): string | null {
    return this.record[name.toLowerCase()] ?? null;
  }
  has(name: string): boolean {
    return name.toLowerCase() in this.record;
  }
  set(name: string, value: string): void {
    this.record[name.toLowerCase()] = value;
  }
  entries(): Iterator<[string, string]> {
    return Object.entries(this.record)[Symbol.iterator]();
  }
  keys(): Iterator<string> {
    return Object.keys(this.record)[Symbol.iterator]();
  }
  values(): Iterator<string> {
    return Object.values(this.record)[Symbol.iterator]();
  }
  [Symbol.iterator](): Iterator<[string, string]> {
    return this.entries();
  }
}
