import { RemoteGraphQLDataSource, type GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import type { Fetcher } from '@apollo/utils.fetcher';
import { GraphQLError } from 'graphql';
import { ErrorCode, isPublicCode, serviceUnavailable } from '@paygraph/errors';
import { CLIENT_ADDRESS_HEADER, GATEWAY_CREDENTIAL_HEADER } from '@paygraph/identity';
import { REQUEST_ID_HEADER } from '@paygraph/logging';
import { instancePool, isReadRequestBody, keepAliveFetcher, unreachable } from '@paygraph/service-client';
import type { GatewayContext } from './context';
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

  constructor(options: { name: string; url: string; urls?: readonly string[]; timeoutMs: number; metrics: GatewayMetrics; callerCredential?: string }) {
    const send = keepAliveFetcher(options.timeoutMs);
    // Round robin over the subgraph's instances, resent elsewhere only when safe (service-client balancer.ts).
    const pool = instancePool(options.urls && options.urls.length > 0 ? options.urls : [options.url]);
    const fetcher: Fetcher = async (_url, init) => {
      const started = process.hrtime.bigint();
      const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
      try {
        const request = init as Parameters<typeof send>[1];
        const response = await pool.send((instanceUrl) => send(instanceUrl, request), { read: isReadRequestBody(request?.body) });
        options.metrics.observeSubgraphFetch(options.name, response.ok ? 'ok' : 'error', seconds());
        return response as unknown as Awaited<ReturnType<Fetcher>>;
      } catch (error) {
        options.metrics.observeSubgraphFetch(options.name, 'error', seconds());
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
