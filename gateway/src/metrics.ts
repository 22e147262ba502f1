/**
 * Prometheus metrics of one gateway: GraphQL requests and their latency by operation name and
 * outcome, subgraph fetch latency by subgraph and outcome, live subscriptions, edge refusals by code
 * and demand-control cost (estimated and actual). One registry per gateway instance.
 */
import type { ApolloServerPlugin } from '@apollo/server';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Distinct operation names tracked before further names are counted as "other" (bounded memory). */
export const OPERATION_NAMES_MAX = 200;
const operationNamePattern = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

export interface GatewayMetrics {
  registry: Registry;
  plugin: ApolloServerPlugin;
  observeSubgraphFetch(subgraph: string, outcome: 'ok' | 'error', seconds: number): void;
  /** Reports the live subscriptions (read at scrape time). */
  trackSubscriptions(count: () => number): void;
  /** An operation refused by an edge limit (its error code). */
  observeRefusal(code: string): void;
  /** Demand control: an operation's estimated cost (before planning) or actual cost (of its response). */
  observeCost(kind: 'estimated' | 'actual', cost: number): void;
}

/** Buckets of the cost histograms: around the default OPERATION_COST_MAX (5,000). */
const COST_BUCKETS = [1, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 50_000, 100_000];

export function createGatewayMetrics(): GatewayMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const requests = new Counter({
    name: 'graphql_requests_total',
    help: 'GraphQL requests by operation name and outcome (ok, error).',
    labelNames: ['operation', 'outcome'],
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'graphql_request_duration_seconds',
    help: 'GraphQL request latency at the gateway by operation name and outcome.',
    labelNames: ['operation', 'outcome'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const subgraphLatency = new Histogram({
    name: 'subgraph_fetch_duration_seconds',
    help: 'Latency of the gateway fetches to each subgraph by outcome.',
    labelNames: ['subgraph', 'outcome'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });

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

  const seenOperations = new Set<string>();
  const operationLabel = (name: string | null | undefined): string => {
    if (!name || !operationNamePattern.test(name)) return name ? 'invalid' : 'anonymous';
    if (seenOperations.has(name)) return name;
    if (seenOperations.size >= OPERATION_NAMES_MAX) return 'other';
    seenOperations.add(name);
    return name;
  };

  const plugin: ApolloServerPlugin = {
    async requestDidStart({ request }) {
      const started = process.hrtime.bigint();
      return {
        async willSendResponse({ response, operationName }) {
          const body = response.body;
          const failed = response.http.status !== undefined && response.http.status >= 400
            ? true
            : body.kind === 'single' && (body.singleResult.errors?.length ?? 0) > 0;
          const labels = { operation: operationLabel(operationName ?? request.operationName), outcome: failed ? 'error' : 'ok' };
          requests.inc(labels);
          latency.observe(labels, Number(process.hrtime.bigint() - started) / 1e9);
        },
      };
    },
  };

  return {
    registry,
    plugin,
    observeSubgraphFetch: (subgraph, outcome, seconds) => subgraphLatency.observe({ subgraph, outcome }, seconds),
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
