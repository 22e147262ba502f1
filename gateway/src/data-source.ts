import { RemoteGraphQLDataSource, type GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import type { Fetcher } from '@apollo/utils.fetcher';
import { REQUEST_ID_HEADER } from '@paygraph/logging';
import type { GatewayContext } from './context';
import type { GatewayMetrics } from './metrics';

/**
 * The gateway's hop to a subgraph: forwards the caller's bearer token (each subgraph verifies it
 * again) and the request id, bounds the call with a timeout and records its latency.
 */
export class SubgraphDataSource extends RemoteGraphQLDataSource<GatewayContext> {
  constructor(options: { name: string; url: string; timeoutMs: number; metrics: GatewayMetrics }) {
    const fetcher: Fetcher = async (url, init) => {
      const started = process.hrtime.bigint();
      const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
      try {
        const response = await fetch(url, { ...(init as RequestInit), signal: AbortSignal.timeout(options.timeoutMs) });
        options.metrics.observeSubgraphFetch(options.name, response.ok ? 'ok' : 'error', seconds());
        return response as unknown as Awaited<ReturnType<Fetcher>>;
      } catch (error) {
        options.metrics.observeSubgraphFetch(options.name, 'error', seconds());
        throw error;
      }
    };
    super({ url: options.url, fetcher });
  }

  override willSendRequest({ request, context }: GraphQLDataSourceProcessOptions<GatewayContext>): void {
    const headers = request.http?.headers;
    if (!headers || !context) return;
    if ('authorization' in context && context.authorization) headers.set('authorization', context.authorization);
    if ('requestId' in context && context.requestId) headers.set(REQUEST_ID_HEADER, context.requestId);
  }
}
