/**
 * Traces for every service, off unless an OTLP endpoint is configured (settings.ts). While off,
 * every helper here is one null check and calls straight through: the SDK is never imported
 * (sdk.ts is loaded with a dynamic import), no context manager is installed, no header is added.
 *
 * Where spans come from (no monkey-patching instrumentation: `npm start` runs eight services in one
 * process, and the http/undici instrumentations would attribute every span to one global service):
 * - `traceRequests(service)`: a SERVER span per /graphql request, continuing the caller's W3C
 *   `traceparent`;
 * - `traceOutgoing()`: a CLIENT span per call between our services (the gateway's hop to a
 *   subgraph and the service client), injecting `traceparent` into the request;
 * - `traceTransaction()` / `traceStatement()`: the database layer's spans (postgres.js and PGlite
 *   have no instrumentation);
 * - `currentTraceParent()` / `traceEvent()`: an event carries the context that wrote it, and its
 *   consumer's span is a child of (and links to) that context;
 * - @apollo/gateway's own spans (gateway.request, plan, fetch...) through the global tracer
 *   provider, attributed to the gateway (the launcher's) or the process's one service.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  context,
  createContextKey,
  defaultTextMapGetter,
  defaultTextMapSetter,
  ProxyTracerProvider,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import {
  ATTR_DB_COLLECTION_NAME,
  ATTR_DB_NAMESPACE,
  ATTR_DB_OPERATION_NAME,
  ATTR_DB_QUERY_SUMMARY,
  ATTR_DB_SYSTEM_NAME,
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_URL_FULL,
  ATTR_URL_PATH,
  DB_SYSTEM_NAME_VALUE_POSTGRESQL,
} from '@opentelemetry/semantic-conventions';
import type { Sdk } from './sdk';
import { tracingSettings, type TracingSettings } from './settings';
import { statementSummary } from './sql';

/** The instrumentation scope of every span we create. */
const SCOPE = '@paygraph/telemetry';
/** Incubating attribute names (semantic-conventions asks to copy these rather than import them). */
const ATTR_DB_SYSTEM_LEGACY = 'db.system';
const ATTR_GRAPHQL_OPERATION_NAME = 'graphql.operation.name';
const ATTR_MESSAGING_SYSTEM = 'messaging.system';
const ATTR_MESSAGING_OPERATION_TYPE = 'messaging.operation.type';
const ATTR_MESSAGING_MESSAGE_ID = 'messaging.message.id';
const ATTR_MESSAGING_DESTINATION_NAME = 'messaging.destination.name';
/** Longest operation name recorded on a span (names come from clients). */
const OPERATION_NAME_LENGTH_MAX = 100;

interface Active {
  sdk: Sdk;
  settings: TracingSettings;
  /** The one service of a one-service process; null in the launcher (one provider per service). */
  processService: string | null;
  providers: Map<string, ReturnType<Sdk['provider']>>;
  tracers: Map<string, Tracer>;
  ownsContextManager: boolean;
  holders: number;
}

/**
 * The process's tracing state, shared through globalThis like @opentelemetry/api's own registry:
 * two copies of this module in one process (two resolutions of the package, a test runner that
 * loads it twice) see one state, so a span is never dropped because its copy was not started.
 */
const shared = ((globalThis as Record<symbol, unknown>)[Symbol.for('paygraph.telemetry.state')] ??= { active: null, starting: null, globalRegistered: false }) as {
  active: Active | null;
  starting: Promise<Active | null> | null;
  globalRegistered: boolean;
};

/** The service whose code is running, set by the span that entered it (request or event). */
const SERVICE_KEY = createContextKey('paygraph.service');
const noopTracer = new ProxyTracerProvider().getTracer(SCOPE);

/** True while traces are exported. */
export function tracingOn(): boolean {
  return shared.active !== null;
}

function providerOf(tracing: Active, service: string) {
  // A one-service process reports under OTEL_SERVICE_NAME (or its own name) whatever runs in it.
  const name = tracing.processService === null ? service : (tracing.settings.serviceName ?? tracing.processService);
  let provider = tracing.providers.get(name);
  if (!provider) {
    provider = tracing.sdk.provider(name);
    tracing.providers.set(name, provider);
  }
  return provider;
}

function tracerOf(tracing: Active, service: string, scope = SCOPE, version?: string): Tracer {
  const key = `${service}\u0000${scope}\u0000${version ?? ''}`;
  let tracer = tracing.tracers.get(key);
  if (!tracer) {
    tracer = providerOf(tracing, service).getTracer(scope, version);
    tracing.tracers.set(key, tracer);
  }
  return tracer;
}

/** The tracer of a service (a no-op tracer while tracing is off). */
export function tracerFor(service: string): Tracer {
  return shared.active ? tracerOf(shared.active, service) : noopTracer;
}

/** Who owns library spans (the global provider): the gateway in the launcher, else the process's service. */
const globalService = (tracing: Active) => tracing.processService ?? 'gateway';

/**
 * The global tracer provider for libraries that trace through the API (@apollo/gateway): it
 * forwards to the current providers, also after a stop and a new start in one process (the API
 * caches the tracer a library got the first time).
 */
const forwardingProvider: TracerProvider = {
  getTracer(name, version) {
    const target = () => (shared.active ? tracerOf(shared.active, globalService(shared.active), name, version) : noopTracer);
    return {
      startSpan: (spanName, options, parent) => target().startSpan(spanName, options, parent),
      startActiveSpan: ((...args: unknown[]) => (target().startActiveSpan as (...forwarded: unknown[]) => unknown)(...args)) as Tracer['startActiveSpan'],
    };
  },
};

export interface Tracing {
  /** Exports what is pending and stops (the last holder of a shared start stops it). */
  shutdown(): Promise<void>;
}

/**
 * Starts tracing when the environment configures an OTLP endpoint; resolves null (and loads
 * nothing) otherwise. `service` names the one service of the process (`gateway`, `payments`...);
 * null means the launcher, where each service's spans carry that service's name and
 * OTEL_SERVICE_NAME, when set, becomes `service.namespace`. A second start in the same process
 * shares the first.
 */
export async function startTracing(env: NodeJS.ProcessEnv, options: { service: string | null }): Promise<Tracing | null> {
  const settings = tracingSettings(env);
  if (!settings) return null;
  if (!shared.active) {
    shared.starting ??= (async () => {
      const { createSdk } = await import('./sdk');
      const effective =
        options.service === null && settings.serviceName
          ? { ...settings, resourceAttributes: { ...settings.resourceAttributes, 'service.namespace': settings.serviceName } }
          : settings;
      const sdk = await createSdk(effective);
      const ownsContextManager = context.setGlobalContextManager(sdk.contextManager);
      // Once per process; @opentelemetry/api is one copy (1.9, the one @apollo/gateway uses), so
      // its tracer, made at import, reaches our providers through this registration.
      if (!shared.globalRegistered) shared.globalRegistered = trace.setGlobalTracerProvider(forwardingProvider);
      shared.active = { sdk, settings: effective, processService: options.service, providers: new Map(), tracers: new Map(), ownsContextManager, holders: 0 };
      return shared.active;
    })().finally(() => {
      shared.starting = null;
    });
    await shared.starting;
  }
  const tracing = shared.active!;
  tracing.holders += 1;
  let stopped = false;
  return {
    async shutdown() {
      if (stopped) return;
      stopped = true;
      tracing.holders -= 1;
      if (tracing.holders > 0) return;
      if (shared.active === tracing) shared.active = null;
      await Promise.allSettled([...tracing.providers.values()].map((provider) => provider.shutdown()));
      if (tracing.ownsContextManager) context.disable();
    },
  };
}

type HeaderCarrier = Record<string, string | string[] | undefined>;

function operationNameOf(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const name = (body as { operationName?: unknown }).operationName;
  return typeof name === 'string' && name.length > 0 ? name.slice(0, OPERATION_NAME_LENGTH_MAX) : undefined;
}

/**
 * Express middleware (mount it on /graphql, before anything else there): a SERVER span per request
 * of `service`, child of the caller's `traceparent` when it sends one. Everything the request runs
 * (body parsing, Apollo, resolvers, SQL, calls to other services) happens inside its context.
 */
export function traceRequests(service: string) {
  return (request: IncomingMessage & { originalUrl?: string; body?: unknown }, response: ServerResponse, next: () => void): void => {
    const tracing = shared.active;
    if (!tracing) return next();
    const parent = tracing.sdk.propagator.extract(ROOT_CONTEXT, request.headers as HeaderCarrier, defaultTextMapGetter);
    const method = request.method ?? 'GET';
    const route = (request.originalUrl ?? request.url ?? '/').split('?')[0] ?? '/';
    const span = tracerOf(tracing, service).startSpan(
      `${method} ${route}`,
      { kind: SpanKind.SERVER, attributes: { [ATTR_HTTP_REQUEST_METHOD]: method, [ATTR_HTTP_ROUTE]: route, [ATTR_URL_PATH]: route } },
      parent,
    );
    response.once('close', () => {
      span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, response.statusCode);
      const operationName = operationNameOf(request.body);
      if (operationName) span.setAttribute(ATTR_GRAPHQL_OPERATION_NAME, operationName);
      if (response.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    });
    const requestContext = trace.setSpan(parent, span).setValue(SERVICE_KEY, service);
    // Stream callbacks (the JSON body parser's) run in the emitter's context unless bound.
    context.bind(requestContext, request);
    context.bind(requestContext, response);
    context.with(requestContext, next);
  };
}

function serviceOf(tracing: Active, active: Context): string {
  return (active.getValue(SERVICE_KEY) as string | undefined) ?? globalService(tracing);
}

function failed(span: Span, error: unknown): void {
  const type = error instanceof Error ? ((error as { code?: unknown }).code ?? error.name) : 'Error';
  span.setAttribute(ATTR_ERROR_TYPE, String(type));
  span.setStatus({ code: SpanStatusCode.ERROR });
}

/** Ends the span when the work settles, marked failed when it throws. */
function endedWith<T>(span: Span, work: Promise<T>): Promise<T> {
  return work.then(
    (result) => {
      span.end();
      return result;
    },
    (error: unknown) => {
      failed(span, error);
      span.end();
      throw error;
    },
  );
}

/**
 * A call to another of our services: a CLIENT span of the calling service (the one whose request or
 * event is running), its context injected as `traceparent` into a copy of the headers given to `send`.
 */
export function traceOutgoing<T extends { status: number }>(
  url: string,
  headers: Record<string, string>,
  send: (headers: Record<string, string>) => Promise<T>,
): Promise<T> {
  // Not an async function: while off, the call is the caller's own promise, no extra frame.
  const tracing = shared.active;
  if (!tracing) return send(headers);
  return sendTraced(tracing, url, headers, send);
}

async function sendTraced<T extends { status: number }>(
  tracing: Active,
  url: string,
  headers: Record<string, string>,
  send: (headers: Record<string, string>) => Promise<T>,
): Promise<T> {
  const parent = context.active();
  const target = new URL(url);
  const attributes: Attributes = {
    [ATTR_HTTP_REQUEST_METHOD]: 'POST',
    [ATTR_URL_FULL]: `${target.origin}${target.pathname}`,
    [ATTR_SERVER_ADDRESS]: target.hostname,
    [ATTR_SERVER_PORT]: Number(target.port || (target.protocol === 'https:' ? 443 : 80)),
  };
  const span = tracerOf(tracing, serviceOf(tracing, parent)).startSpan('POST', { kind: SpanKind.CLIENT, attributes }, parent);
  const outgoing = { ...headers };
  tracing.sdk.propagator.inject(trace.setSpan(parent, span), outgoing, defaultTextMapSetter);
  try {
    const response = await send(outgoing);
    span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, response.status);
    if (response.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    return response;
  } catch (error) {
    failed(span, error);
    throw error;
  } finally {
    span.end();
  }
}

/** The recording span of the running request or event, if any (SQL is traced only inside one). */
function recordingParent(): Context | null {
  const current = context.active();
  return trace.getSpan(current)?.isRecording() ? current : null;
}

const dbAttributes = (service: string): Attributes => ({
  [ATTR_DB_SYSTEM_NAME]: DB_SYSTEM_NAME_VALUE_POSTGRESQL,
  [ATTR_DB_SYSTEM_LEGACY]: DB_SYSTEM_NAME_VALUE_POSTGRESQL,
  [ATTR_DB_NAMESPACE]: service,
});

/**
 * One SQL statement of `service` (its Postgres schema): a CLIENT span named by the statement's
 * summary (`SELECT ledger.accounts`), with `db.system` and no parameter values. Only inside a
 * sampled request or event: timers (the outbox relay, the delivery worker) make no root spans.
 */
export function traceStatement<T>(service: string, text: string, run: () => Promise<T>): Promise<T> {
  if (!shared.active) return run();
  const parent = recordingParent();
  if (!parent) return run();
  const { summary, operation, collection } = statementSummary(text);
  const attributes: Attributes = { ...dbAttributes(service), [ATTR_DB_QUERY_SUMMARY]: summary, [ATTR_DB_OPERATION_NAME]: operation };
  if (collection) attributes[ATTR_DB_COLLECTION_NAME] = collection;
  const span = tracerOf(shared.active, service).startSpan(summary, { kind: SpanKind.CLIENT, attributes }, parent);
  return endedWith(span, run());
}

/** A database transaction of `service`: its statements are the span's children. */
export function traceTransaction<T>(service: string, run: () => Promise<T>): Promise<T> {
  if (!shared.active) return run();
  const parent = recordingParent();
  if (!parent) return run();
  const span = tracerOf(shared.active, service).startSpan('transaction', { kind: SpanKind.INTERNAL, attributes: dbAttributes(service) }, parent);
  return endedWith(span, context.with(trace.setSpan(parent, span), run));
}

/**
 * The W3C `traceparent` of the running request, to store with an event it writes (the outbox row),
 * or null (tracing off, or nothing traced is running).
 */
export function currentTraceParent(): string | null {
  const tracing = shared.active;
  if (!tracing) return null;
  const current = context.active();
  if (!trace.getSpan(current)) return null;
  const carrier: Record<string, string> = {};
  tracing.sdk.propagator.inject(current, carrier, defaultTextMapSetter);
  return carrier.traceparent ?? null;
}

export interface TracedEvent {
  id: string;
  type: string;
  source: string;
  traceParent?: string | null;
}

/**
 * Work that follows from a traced request later (an event applied, a delivery sent): a span of
 * `service` that is a child of `traceParent` (so it shares the request's trace and sampling
 * decision) and links to it; a new trace when there is none.
 */
function continueTrace<T>(service: string, name: string, kind: SpanKind, traceParent: string | null | undefined, attributes: Attributes, work: () => Promise<T>): Promise<T> {
  const tracing = shared.active;
  if (!tracing) return work();
  const parent = traceParent ? tracing.sdk.propagator.extract(ROOT_CONTEXT, { traceparent: traceParent }, defaultTextMapGetter) : ROOT_CONTEXT;
  const cause = trace.getSpanContext(parent);
  const span = tracerOf(tracing, service).startSpan(name, { kind, attributes, links: cause ? [{ context: cause }] : [] }, parent);
  return endedWith(span, context.with(trace.setSpan(parent, span).setValue(SERVICE_KEY, service), work));
}

/** A consumer applying an event: `process <type>`, continuing the trace of the request that wrote it. */
export function traceEvent<T>(service: string, event: TracedEvent, work: () => Promise<T>): Promise<T> {
  const attributes: Attributes = {
    [ATTR_MESSAGING_SYSTEM]: 'paygraph',
    [ATTR_MESSAGING_OPERATION_TYPE]: 'process',
    [ATTR_MESSAGING_MESSAGE_ID]: event.id,
    [ATTR_MESSAGING_DESTINATION_NAME]: event.source,
  };
  return continueTrace(service, `process ${event.type}`, SpanKind.CONSUMER, event.traceParent, attributes, work);
}

export interface TracedDelivery {
  id: string;
  /** EMAIL, SMS, PUSH, WEBHOOK. */
  channel: string;
  attempt: number;
  eventType: string;
  traceParent?: string | null;
}

/**
 * One attempt at sending a delivery (an e-mail, a webhook...): `deliver <channel>`, continuing the
 * trace of the request whose event caused it, however much later the attempt runs.
 */
export function traceDelivery<T>(service: string, delivery: TracedDelivery, work: () => Promise<T>): Promise<T> {
  const attributes: Attributes = {
    'paygraph.delivery.id': delivery.id,
    'paygraph.delivery.channel': delivery.channel,
    'paygraph.delivery.attempt': delivery.attempt,
    'paygraph.event.type': delivery.eventType,
  };
  return continueTrace(service, `deliver ${delivery.channel}`, SpanKind.CLIENT, delivery.traceParent, attributes, work);
}
