/**
 * Prometheus metrics of every service, in one place. Each service of a process (the gateway, each
 * subgraph) has its own registry, found by name: in `npm start` all services share one process,
 * yet each port's `/metrics` shows that service's metrics only (no service label to filter on,
 * the scrape target says which service it is). Process metrics (CPU, heap, event loop) are
 * collected once per process and appended to every service's exposition.
 *
 * Counters and histograms live as long as the process (as prom-client's default registry does);
 * gauges read at scrape time take their values from sources that components add and remove
 * (a database pool, an outbox), so a service created twice in one process (tests) never
 * registers a metric twice.
 */
import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type LabelValues } from 'prom-client';

export { Registry } from 'prom-client';

/** Distinct operation names tracked before further names are counted as "other" (bounded memory). */
export const OPERATION_NAMES_MAX = 200;
const operationNamePattern = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/** Latency buckets (seconds) of request-level histograms. */
export const REQUEST_DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Latency buckets (seconds) of resolver, fetch and SQL histograms: finer at the low end. */
export const STEP_DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/**
 * Operations the gateway sends while composing the supergraph (IntrospectAndCompose's SDL fetch)
 * and probing subgraph health: counted apart from client traffic (`kind="composition"`).
 */
export const COMPOSITION_OPERATION_NAMES: ReadonlySet<string> = new Set(['__ApolloGetServiceDefinition__', '__ApolloServiceHealthCheck__']);

export type RequestKind = 'traffic' | 'composition';

export function requestKindOf(operationName: string | null | undefined): RequestKind {
  return operationName && COMPOSITION_OPERATION_NAMES.has(operationName) ? 'composition' : 'traffic';
}

/**
 * Whether a gateway-to-subgraph request body is composition polling: Apollo Gateway sends these
 * two queries as `{"query":"query __Apollo...__ ..."}` with no operationName, so a look at the
 * start of the body (constant time, whatever the body's size) tells them apart.
 */
export function isCompositionRequestBody(body: unknown): boolean {
  return typeof body === 'string' && body.startsWith('{"query":"query __Apollo');
}

/** Maps operation names to bounded label values: at most OPERATION_NAMES_MAX distinct names. */
export function operationLabeller(): (name: string | null | undefined) => string {
  const seen = new Set<string>();
  return (name) => {
    if (!name) return 'anonymous';
    if (!operationNamePattern.test(name)) return 'invalid';
    if (seen.has(name)) return name;
    if (seen.size >= OPERATION_NAMES_MAX) return 'other';
    seen.add(name);
    return name;
  };
}

type Sample<T extends string> = readonly [labels: LabelValues<T>, value: number];
/** Reads a gauge's current samples at scrape time. */
export type GaugeSource<T extends string> = () => readonly Sample<T>[] | Promise<readonly Sample<T>[]>;

export interface SourcedGauge<T extends string> {
  /** Adds a source; returns what removes it (on close). */
  addSource(source: GaugeSource<T>): () => void;
}

export interface ServiceMetrics {
  service: string;
  registry: Registry;
  /** The text a scrape of this service's `/metrics` returns: its metrics, then the process's. */
  exposition(): Promise<string>;
  contentType: string;
  /** GraphQL requests by operation, outcome and kind (traffic or composition). */
  requestPlugin: ApolloServerPlugin<BaseContext>;
  /**
   * The same resolver map with its root fields (`Query.me`, `Mutation.payOrder`) and entity
   * references (`Payment.__resolveReference`) timed. Only those are wrapped: a plugin's
   * willResolveField would put a hook on every field of every response.
   */
  timedResolvers<T extends object>(resolvers: T): T;
  /** One SQL statement or transaction of the service's hand-written SQL path. */
  observeQuery(kind: 'statement' | 'transaction', seconds: number): void;
  counter<T extends string>(name: string, help: string, labelNames: readonly T[]): Counter<T>;
  histogram<T extends string>(name: string, help: string, labelNames: readonly T[], buckets?: number[]): Histogram<T>;
  /** A gauge whose value is read from its sources at scrape time (sum of samples per label set). */
  gauge<T extends string>(name: string, help: string, labelNames: readonly T[]): SourcedGauge<T>;
}

let processRegistry: Registry | undefined;

/** The process's own metrics (prom-client defaults), collected once however many services run. */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

const services = new Map<string, ServiceMetrics>();

/** The metrics of one service of this process (created on first use). */
export function serviceMetrics(service: string): ServiceMetrics {
  let metrics = services.get(service);
  if (!metrics) {
    metrics = createServiceMetrics(service);
    services.set(service, metrics);
  }
  return metrics;
}

function createServiceMetrics(service: string): ServiceMetrics {
  const registry = new Registry();
  const counters = new Map<string, Counter<string>>();
  const histograms = new Map<string, Histogram<string>>();
  const gauges = new Map<string, SourcedGauge<string>>();

  const counter = <T extends string>(name: string, help: string, labelNames: readonly T[]): Counter<T> => {
    let found = counters.get(name);
    if (!found) {
      found = new Counter({ name, help, labelNames: [...labelNames], registers: [registry] });
      counters.set(name, found);
    }
    return found as unknown as Counter<T>;
  };
  const histogram = <T extends string>(name: string, help: string, labelNames: readonly T[], buckets = STEP_DURATION_BUCKETS): Histogram<T> => {
    let found = histograms.get(name);
    if (!found) {
      found = new Histogram({ name, help, labelNames: [...labelNames], buckets, registers: [registry] });
      histograms.set(name, found);
    }
    return found as unknown as Histogram<T>;
  };
  const gauge = <T extends string>(name: string, help: string, labelNames: readonly T[]): SourcedGauge<T> => {
    let found = gauges.get(name);
    if (!found) {
      const sources = new Set<GaugeSource<string>>();
      new Gauge({
        name,
        help,
        labelNames: [...labelNames],
        registers: [registry],
        async collect() {
          this.reset();
          // A source that fails (its database is down) reports nothing this scrape; the others do.
          const read = await Promise.all([...sources].map((source) => Promise.resolve().then(source).catch(() => [] as const)));
          for (const samples of read) for (const [labels, value] of samples) this.inc(labels, value);
        },
      });
      found = {
        addSource(source) {
          sources.add(source as GaugeSource<string>);
          return () => void sources.delete(source as GaugeSource<string>);
        },
      };
      gauges.set(name, found);
    }
    return found as unknown as SourcedGauge<T>;
  };

  const requestPlugin = createRequestMetricsPlugin({ counter, histogram });
  const resolverDuration = histogram('graphql_resolver_duration_seconds', 'Duration of root-field resolvers and entity references (Type.__resolveReference, once per representation) by field.', ['field']);
  const timedResolvers = <T extends object>(resolvers: T): T => {
    const timed: Record<string, unknown> = {};
    for (const [typeName, fields] of Object.entries(resolvers)) {
      if (!fields || typeof fields !== 'object' || fields.constructor !== Object) {
        timed[typeName] = fields; // scalars (GraphQLScalarType) and anything that is not a field map
        continue;
      }
      const root = ROOT_TYPES.has(typeName);
      timed[typeName] = Object.fromEntries(
        Object.entries(fields as Record<string, unknown>).map(([fieldName, resolve]) =>
          typeof resolve === 'function' && (root || fieldName === '__resolveReference') ? [fieldName, timeResolver(resolverDuration, `${typeName}.${fieldName}`, resolve as Resolver)] : [fieldName, resolve],
        ),
      );
    }
    return timed as T;
  };
  const queryDuration = histogram('db_query_duration_seconds', 'Duration of the service\'s hand-written SQL statements and transactions (packages/db transaction() and query()).', ['kind']);

  return {
    service,
    registry,
    contentType: registry.contentType,
    async exposition() {
      const [own, shared] = await Promise.all([registry.metrics(), processMetrics().metrics()]);
      return `${own}\n${shared}`;
    },
    requestPlugin,
    timedResolvers,
    observeQuery: (kind, seconds) => queryDuration.observe({ kind }, seconds),
    counter,
    histogram,
    gauge,
  };
}

const ROOT_TYPES: ReadonlySet<string> = new Set(['Query', 'Mutation']);
type Resolver = (...args: unknown[]) => unknown;

/** Times a resolver, synchronous or not; errors are timed too and passed on unchanged. */
function timeResolver(histogram: Histogram<'field'>, field: string, resolve: Resolver): Resolver {
  const labels = { field };
  return function timed(this: unknown, ...args: unknown[]) {
    const started = process.hrtime.bigint();
    const observe = () => histogram.observe(labels, Number(process.hrtime.bigint() - started) / 1e9);
    let result: unknown;
    try {
      result = resolve.apply(this, args);
    } catch (error) {
      observe();
      throw error;
    }
    if (result instanceof Promise) return result.finally(observe);
    observe();
    return result;
  };
}

/**
 * GraphQL requests and their latency by operation name, outcome (ok, error) and kind (traffic,
 * composition): the gateway's and every subgraph's, the same names everywhere.
 */
export function createRequestMetricsPlugin(
  make: {
    counter<T extends string>(name: string, help: string, labelNames: readonly T[]): Counter<T>;
    histogram<T extends string>(name: string, help: string, labelNames: readonly T[], buckets?: number[]): Histogram<T>;
  },
  /** False at the gateway: clients send no composition polling there, and its series keep their labels. */
  options: { kindLabel?: boolean } = {},
): ApolloServerPlugin<BaseContext> {
  const kindLabel = options.kindLabel ?? true;
  const labelNames = kindLabel ? (['operation', 'outcome', 'kind'] as const) : (['operation', 'outcome'] as const);
  const requests = make.counter<string>('graphql_requests_total', `GraphQL requests by operation name, outcome (ok, error)${kindLabel ? ' and kind (traffic, composition)' : ''}.`, labelNames);
  const latency = make.histogram<string>('graphql_request_duration_seconds', `GraphQL request latency by operation name and outcome${kindLabel ? ' and kind' : ''}.`, labelNames, REQUEST_DURATION_BUCKETS);
  const operationLabel = operationLabeller();
  return {
    async requestDidStart({ request }) {
      const started = process.hrtime.bigint();
      return {
        async willSendResponse({ response, operationName }) {
          const body = response.body;
          const failed = response.http.status !== undefined && response.http.status >= 400
            ? true
            : body.kind === 'single' && (body.singleResult.errors?.length ?? 0) > 0;
          const name = operationName ?? request.operationName;
          const labels: Record<string, string> = { operation: operationLabel(name), outcome: failed ? 'error' : 'ok' };
          if (kindLabel) labels.kind = requestKindOf(name);
          requests.inc(labels);
          latency.observe(labels, Number(process.hrtime.bigint() - started) / 1e9);
        },
      };
    },
  };
}

/** Helpers for a registry that is not a service's (the gateway keeps one per instance). */
export function registryMakers(registry: Registry): Parameters<typeof createRequestMetricsPlugin>[0] {
  return {
    counter: (name, help, labelNames) => new Counter({ name, help, labelNames: [...labelNames], registers: [registry] }),
    histogram: (name, help, labelNames, buckets = STEP_DURATION_BUCKETS) => new Histogram({ name, help, labelNames: [...labelNames], buckets, registers: [registry] }),
  };
}

/** The process metrics' text, for a registry that is not a service's (the gateway's). */
export function processExposition(): Promise<string> {
  return processMetrics().metrics();
}
