/**
 * Prometheus metrics of one gateway: GraphQL requests and their latency by operation name and
 * outcome (packages/metrics, the same as every subgraph's), subgraph fetch latency by subgraph and
 * outcome with the composition polling (SDL fetches and health checks) in a metric of its own,
 * live subscriptions and WebSocket connections, edge refusals by code and demand-control cost
 * (estimated and actual). One registry per gateway instance; process metrics are the process's
 * (packages/metrics), appended to the scrape.
 */
import type { ApolloServerPlugin } from '@apollo/server';
import { createRequestMetricsPlugin, processExposition, registryMakers } from '@paygraph/metrics';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export { OPERATION_NAMES_MAX } from '@paygraph/metrics';

export interface GatewayMetrics {
  registry: Registry;
  plugin: ApolloServerPlugin;
  /** A fetch to a subgraph: client traffic, or composition polling (SDL and health checks) counted apart. */
  observeSubgraphFetch(subgraph: string, outcome: 'ok' | 'error', seconds: number, kind?: 'traffic' | 'composition'): void;
  /** Reports the live subscriptions (read at scrape time). */
  trackSubscriptions(count: () => number): void;
  /** Reports the open WebSocket connections (read at scrape time). */
  trackWebSocketConnections(count: () => number): void;
  /** What a scrape of /metrics returns: this gateway's metrics, then the process's. */
  exposition(): Promise<string>;
  /** An operation refused by an edge limit (its error code). */
  observeRefusal(code: string): void;
  /** Demand control: an operation's estimated cost (before planning) or actual cost (of its response). */
  observeCost(kind: 'estimated' | 'actual', cost: number): void;
}

/** Buckets of the cost histograms: around the default OPERATION_COST_MAX (5,000). */
const COST_BUCKETS = [1, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 50_000, 100_000];

export function createGatewayMetrics(): GatewayMetrics {
  const registry = new Registry();
  const plugin = createRequestMetricsPlugin(registryMakers(registry), { kindLabel: false });
  const fetchHistogram = (name: string, help: string) =>
    new Histogram({ name, help, labelNames: ['subgraph', 'outcome'], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [registry] });
  const subgraphLatency = fetchHistogram('subgraph_fetch_duration_seconds', 'Latency of the gateway fetches to each subgraph by outcome.');
  const compositionLatency = fetchHistogram(
    'subgraph_composition_fetch_duration_seconds',
    'Latency of the gateway\'s composition polling of each subgraph (SDL fetches and health checks, IntrospectAndCompose) by outcome: apart from traffic.',
  );

  const refusals = new Counter({
    name: 'graphql_operations_refused_total',
    help: 'Operations refused at the edge by error code (operation limits, cost, input hygiene, deadline, response ceiling).',
    labelNames: ['code'],
    registers: [registry],
  });
  const costs = new Histogram({
    name: 'graphql_operation_cost',
    help: 'Demand-control cost of operations: estimated before planning, actual from the response (Router rules).',
    labelNames: ['kind'],
    buckets: COST_BUCKETS,
    registers: [registry],
  });

  return {
    registry,
    plugin,
    observeSubgraphFetch: (subgraph, outcome, seconds, kind = 'traffic') => (kind === 'composition' ? compositionLatency : subgraphLatency).observe({ subgraph, outcome }, seconds),
    exposition: async () => `${await registry.metrics()}\n${await processExposition()}`,
    trackWebSocketConnections(count) {
      new Gauge({
        name: 'websocket_connections_active',
        help: 'Open WebSocket connections (graphql-ws on /graphql) on this gateway.',
        registers: [registry],
        collect() {
          this.set(count());
        },
      });
    },
    // Codes are a closed set (edge limits), so the label stays bounded.
    observeRefusal: (code) => refusals.inc({ code }),
    observeCost: (kind, cost) => costs.observe({ kind }, cost),
    trackSubscriptions(count) {
      new Gauge({
        name: 'graphql_subscriptions_active',
        help: 'Live paymentStatusChanged subscriptions on this gateway.',
        registers: [registry],
        collect() {
          this.set(count());
        },
      });
    },
  };
}
