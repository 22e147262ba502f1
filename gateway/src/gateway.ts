/**
 * The gateway: Apollo Gateway on Apollo Server, the single public endpoint. It composes the
 * subgraphs of the service list (introspection with polling and health checks in development,
 * the checked-in supergraph.graphql in production), verifies the caller's token, serves /health,
 * /ready, /metrics and the GraphQL IDE.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ApolloGateway, IntrospectAndCompose } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import express from 'express';
import { loadLimitSettings, repositoryRoot, type LimitSettings, type PlatformConfig } from '@paygraph/config';
import type { EventTransport } from '@paygraph/events';
import { GATEWAY_CREDENTIAL_HEADER, gatewayCredential, type TokenVerifier } from '@paygraph/identity';
import type { Logger } from '@paygraph/logging';
import { accessLog, baseApolloOptions, graphqlHandler, httpErrorHandler, identifyRequest } from '@paygraph/server';
import { createServiceClient } from '@paygraph/service-client';
import { keepApolloTelemetryOff, traceRequests } from '@paygraph/telemetry';
import type { Server } from 'node:http';
import type { GatewayContext } from './context';
import { ensureIdeBundle, mountIde } from './ide';
import { createEdgeLimits } from './limits';
import { createEdgeProtection, type EdgeSettings } from './rate-limit/edge'; // issue 11: authorization, trusted documents, rate limits
import { createGatewayMetrics, type GatewayMetrics } from './metrics';
import { clientAddressOf, proxyTrust } from './client-address';
import { checkReadiness } from './readiness';
import { isSessionOperation } from './session-operations';
import { startPaymentEventHub, type PaymentEventHub } from './subscriptions/hub';
import { createSubscriptionServer, type SubscriptionServer } from './subscriptions/server';
import { readPaymentStatusLog, rejectSubscriptionsOverHttp } from './subscriptions/http';

export type { GatewayContext } from './context';

export const STATIC_SUPERGRAPH_FILE = path.join(repositoryRoot, 'schema/supergraph.graphql');

export interface GatewayOptions {
  config: Pick<PlatformConfig, 'NODE_ENV' | 'SUPERGRAPH_SOURCE' | 'SUPERGRAPH_POLL_INTERVAL_MS' | 'SUBGRAPH_TIMEOUT_MS'> &
    Partial<Pick<PlatformConfig, 'SUBSCRIPTIONS_PER_CONNECTION_MAX' | 'SUBSCRIPTIONS_PER_USER_MAX' | 'SUBSCRIBES_PER_MINUTE_MAX' | 'SUBSCRIPTION_QUEUED_BYTES_MAX' | 'TRUST_PROXY'>>;
  /**
   * Where each subgraph is reached (the service list after overrides), looked up per request;
   * `urls` lists every instance when a subgraph runs several (requests are spread over them).
   */
  subgraphs: () => ReadonlyArray<{ name: string; url: string; urls?: readonly string[] }>;
  /** Verifies bearer tokens; the public endpoint accepts access tokens only. */
  verifyToken: TokenVerifier;
  logger: Logger;
  /**
   * Where payment events arrive (subscriptions) and the platform secret for the gateway's service
   * credential (it reads the payments log to replay what a resuming subscriber missed). Without
   * them subscriptions are refused.
   */
  events?: EventTransport;
  serviceSecret?: string;
  /** Edge limits (operation limits, cost, deadline, ceiling, introspection); from the environment by default. */
  limits?: LimitSettings;
  /** Rate limits and trusted documents (rate-limit/edge.ts); defaults for what is missing. */
  protection?: Partial<EdgeSettings>;
}

export interface Gateway {
  app: express.Express;
  apollo: ApolloServer<GatewayContext>;
  metrics: GatewayMetrics;
  /** Serves subscriptions (graphql-ws) on the HTTP server the app listens on. */
  attachSubscriptions(server: Server): void;
  /** Live subscriptions on this gateway. */
  readonly subscriptions: number;
  stop(): Promise<void>;
}

export async function createGateway(options: GatewayOptions): Promise<Gateway> {
  const { config, logger } = options;
  const metrics = createGatewayMetrics();
  const source = config.SUPERGRAPH_SOURCE ?? (config.NODE_ENV === 'production' ? 'static' : 'introspect');
  const urlOf = (name: string, fallback: string) => options.subgraphs().find((subgraph) => subgraph.name === name)?.url ?? fallback;
  const urlsOf = (name: string) => options.subgraphs().find((subgraph) => subgraph.name === name)?.urls;
  // Subgraphs answer only the gateway and services: every subgraph request carries this credential.
  const callerCredential = options.serviceSecret ? gatewayCredential(options.serviceSecret) : undefined;
  // --- edge limits (issue 11: operation limits, cost, deadline, response ceiling; gateway/src/limits) ---
  const limitSettings = options.limits ?? loadLimitSettings(process.env);
  const edge = createEdgeLimits(limitSettings, metrics);
  const production = config.NODE_ENV === 'production';
  // Whose X-Forwarded-For says the client's address (HTTP's request.ip and WebSocket connections alike).
  const trustProxy = proxyTrust(config.TRUST_PROXY ?? 'off');
  // Introspection (and so the IDE, which needs the schema) is off in production unless INTROSPECTION=on.
  const introspection = !production || limitSettings.INTROSPECTION === 'on';
  // --- end edge limits ---
  // --- edge protection (issue 11: authorization directives, trusted documents, rate limits; gateway/src/rate-limit/edge.ts) ---
  const protection = createEdgeProtection({ config: options.protection ?? (config as unknown as Partial<EdgeSettings>), logger, verifyToken: options.verifyToken, serviceSecret: options.serviceSecret });
  // --- end edge protection ---

  // Apollo's anonymous usage metrics and the cloud metadata probes behind them: off unless APOLLO_TELEMETRY_DISABLED=false.
  keepApolloTelemetryOff();
  const gateway = new ApolloGateway({
    ...(source === 'static'
      ? { supergraphSdl: protection.supergraph(readFileSync(STATIC_SUPERGRAPH_FILE, 'utf8')) }
      : {
          supergraphSdl: protection.supergraph(
            new IntrospectAndCompose({
              subgraphs: options.subgraphs().map(({ name, url }) => ({ name, url })),
              pollIntervalInMs: config.SUPERGRAPH_POLL_INTERVAL_MS,
              subgraphHealthCheck: true,
              ...(callerCredential ? { introspectionHeaders: { [GATEWAY_CREDENTIAL_HEADER]: callerCredential } } : {}),
            }),
          ),
        }),
    buildService: ({ name, url }) =>
      new edge.dataSource({ name, url: urlOf(name, url ?? ''), urls: urlsOf(name), timeoutMs: config.SUBGRAPH_TIMEOUT_MS, metrics, callerCredential }),
    logger: {
      debug: (message) => logger.debug(message),
      info: (message) => logger.info(message),
      warn: (message) => logger.warn(message),
      error: (message) => logger.error(message),
    },
  });

  gateway.onSchemaLoadOrUpdate(({ coreSupergraphSdl }) => protection.schemaLoaded(coreSupergraphSdl)); // edge protection: authorization rules

  const base = baseApolloOptions<GatewayContext>(logger, production);
  const apollo = new ApolloServer<GatewayContext>({
    gateway: edge.wrapGateway(gateway),
    ...base,
    // --- edge limits: schema policy, response ceiling, limits plugin ---
    introspection,
    hideSchemaDetailsFromClientErrors: production,
    // Apollo's CSRF prevention lets a GET (or a POST without a JSON content type) run only with a
    // header a browser cannot send cross-site without a CORS preflight. `Authorization` is such a
    // header and the platform's only credential, so a GET query carrying a token runs as API.md
    // promises ("GET for queries") without Apollo's own header; one without any stays refused.
    csrfPrevention: { requestHeaders: ['x-apollo-operation-name', 'apollo-require-preflight', 'authorization'] },
    parseOptions: edge.parseOptions,
    stringifyResult: edge.stringifyResult,
    plugins: [...(base.plugins ?? []), metrics.plugin, edge.plugin, ...protection.plugins, rejectSubscriptionsOverHttp],
  });

  let hub: PaymentEventHub | null = null;
  let subscriptions: SubscriptionServer | null = null;
  if (options.events && options.serviceSecret) {
    const directory = { url: (name: string) => urlOf(name, ''), urls: (name: string) => urlsOf(name) ?? [urlOf(name, '')] };
    const client = createServiceClient({ service: 'gateway', serviceSecret: options.serviceSecret, directory });
    const readLog = readPaymentStatusLog(client);
    const started = await startPaymentEventHub(options.events, logger, { readLog });
    hub = started;
    metrics.trackSubscriptions(() => started.listeners);
    subscriptions = createSubscriptionServer({
      apollo,
      hub,
      verifyToken: options.verifyToken,
      readLog,
      logger,
      operationLimits: limitSettings,
      checkCost: (document, variables) => edge.checkCost(document, variables),
      trustedDocuments: protection.documents,
      admitConnection: protection.admitConnection, // rate limits: each connection_init spends a request
      clientAddress: (request) => clientAddressOf(request, trustProxy),
      limits: {
        ...(config.SUBSCRIPTIONS_PER_CONNECTION_MAX ? { perConnectionMax: config.SUBSCRIPTIONS_PER_CONNECTION_MAX } : {}),
        ...(config.SUBSCRIPTIONS_PER_USER_MAX ? { perUserMax: config.SUBSCRIPTIONS_PER_USER_MAX } : {}),
        ...(config.SUBSCRIBES_PER_MINUTE_MAX ? { subscribesPerMinuteMax: config.SUBSCRIBES_PER_MINUTE_MAX } : {}),
        ...(config.SUBSCRIPTION_QUEUED_BYTES_MAX ? { queuedBytesMax: config.SUBSCRIPTION_QUEUED_BYTES_MAX } : {}),
      },
    });
    const server = subscriptions;
    // Registered before start so the first composition reaches it too.
    gateway.onSchemaLoadOrUpdate(({ apiSchema }) => server.schemaUpdated(apiSchema));
  }
  const detachers: (() => Promise<void>)[] = [];

  const [ideDist] = await Promise.all([ensureIdeBundle(), apollo.start()]);
  logger.info({ source }, 'supergraph loaded');

  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', trustProxy);
  app.use(accessLog(logger)); // one JSON line per request (packages/server access-log.ts)
  app.get('/health', (_request, response) => {
    response.json({ status: 'ok' });
  });
  app.get('/ready', async (_request, response) => {
    // The gateway consumes payment events (subscriptions): its transport counts too.
    const readiness = await checkReadiness(options.subgraphs(), options.events);
    response.status(readiness.ready ? 200 : 503).json({
      status: readiness.ready ? 'ready' : 'unavailable',
      subgraphs: readiness.subgraphs,
      ...(readiness.ready ? {} : { missing: readiness.missing }),
    });
  });
  app.get('/metrics', async (_request, response) => {
    response.setHeader('content-type', metrics.registry.contentType);
    response.send(await metrics.exposition());
  });
  app.use('/graphql', traceRequests('gateway')); // a span continuing the client's traceparent, when tracing is on (@paygraph/telemetry)
  app.use('/graphql', ...protection.middleware); // edge protection: rate limit, body, trusted documents (before the IDE)
  if (introspection) mountIde(app, ideDist); // edge limits: no IDE where it could not load the schema
  app.use(
    '/graphql',
    // The body was read by the edge protection's middleware above (it needs it for trusted documents).
    graphqlHandler(apollo, {
      // Object.assign keeps the identity's lazy logger lazy (a spread would read it).
      // An expired token on a login, refresh, logout or sign-up is ignored (session-operations.ts).
      context: async ({ req }) => Object.assign(await identifyRequest(req, options.verifyToken, logger, { anonymousWhenExpired: isSessionOperation }), protection.requestContext(req)),
    }),
  );
  app.use(httpErrorHandler(logger));

  return {
    app,
    apollo,
    metrics,
    attachSubscriptions(server) {
      countWebSockets(server, metrics);
      if (subscriptions) detachers.push(subscriptions.attach(server));
    },
    get subscriptions() {
      return hub?.listeners ?? 0;
    },
    async stop() {
      for (const detach of detachers.splice(0)) await detach();
      await hub?.stop();
      await apollo.stop();
      await protection.close();
    },
  };
}

/**
 * Open WebSocket connections on the gateway's server, for websocket_connections_active: every
 * upgraded (or upgrading) socket on /graphql until it closes; counted at the HTTP server so the
 * subscription server needs no hook.
 */
function countWebSockets(server: Server, metrics: GatewayMetrics): void {
  let open = 0;
  server.on('upgrade', (request: { url?: string }, socket: { once(event: 'close', listener: () => void): unknown }) => {
    if (!request.url?.startsWith('/graphql')) return;
    open += 1;
    socket.once('close', () => {
      open -= 1;
    });
  });
  metrics.trackWebSocketConnections(() => open);
}
