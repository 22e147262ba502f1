import { ApolloServer } from '@apollo/server';
import { buildSubgraphSchema, type GraphQLResolverMap } from '@apollo/subgraph';
import express from 'express';
import type { DocumentNode } from 'graphql';
import { timingSafeEqual } from 'node:crypto';
import { GATEWAY_CREDENTIAL_HEADER, gatewayCredential, type TokenVerifier, type Viewer } from '@paygraph/identity';
import type { Logger } from '@paygraph/logging';
import { baseApolloOptions, JSON_BODY_LIMIT } from './apollo';
import { jsonBody } from './json-body';
import { httpErrorHandler, identifyRequest } from './http';
import { subgraphReadiness, type ReadinessChecks } from './readiness';
import { subgraphEdgeOptions } from './limits';
import { traceRequests } from '@paygraph/telemetry';
import { accessLog } from './access-log';
import { graphqlHandler } from './graphql-handler';
import { serviceMetrics } from '@paygraph/metrics';

/** What every resolver of every subgraph receives. */
export interface SubgraphContext {
  viewer: Viewer;
  requestId: string;
  logger: Logger;
}

export interface SubgraphServerOptions<TContext extends SubgraphContext> {
  name: string;
  typeDefs: DocumentNode;
  /** The codegen-typed resolver map; federation's own type for it is looser than codegen's. */
  resolvers: object;
  verifyToken: TokenVerifier;
  /**
   * The platform secrets (current first): /graphql answers only the gateway (its credential in
   * GATEWAY_CREDENTIAL_HEADER) and services (a service token); anyone else gets 401.
   */
  serviceSecrets: readonly string[];
  logger: Logger;
  /** Adds per-request state (DataLoaders, stores) to the base context. */
  extendContext: (base: SubgraphContext, request: express.Request) => TContext;
  /** What `/ready` checks besides the service's database (e.g. an event consumer's transport). */
  readinessChecks?: ReadinessChecks;
  /** Extra HTTP routes (e.g. auth's JWKS), mounted before /graphql. */
  routes?: (app: express.Express) => void;
}

export interface SubgraphServer {
  name: string;
  app: express.Express;
  apollo: ApolloServer<SubgraphContext>;
  stop(): Promise<void>;
}

const UNTRUSTED_CALLER_BODY = {
  errors: [{ message: 'This subgraph answers the gateway and services only: send requests to the gateway.', extensions: { code: 'UNAUTHENTICATED' } }],
};

/**
 * Lets through the gateway (its credential, compared in constant time with the ones the secrets
 * give) and services (a valid service token); refuses everything else with 401 before any
 * parsing or execution, `_service` and `_entities` included.
 */
function trustedCallersOnly(options: Pick<SubgraphServerOptions<SubgraphContext>, 'serviceSecrets' | 'verifyToken'>): express.RequestHandler {
  const accepted = options.serviceSecrets.map((secret) => Buffer.from(gatewayCredential(secret)));
  const isGateway = (value: unknown) => {
    if (typeof value !== 'string') return false;
    const given = Buffer.from(value);
    return accepted.some((expected) => expected.length === given.length && timingSafeEqual(expected, given));
  };
  return (request, response, next) => {
    if (isGateway(request.headers[GATEWAY_CREDENTIAL_HEADER])) return next();
    const authorization = request.headers.authorization;
    const refuse = () => void response.status(401).json(UNTRUSTED_CALLER_BODY);
    if (typeof authorization !== 'string' || !/^Bearer\s/i.test(authorization)) return refuse();
    options.verifyToken(authorization).then(
      (viewer) => (viewer.kind === 'service' ? next() : refuse()),
      () => refuse(),
    );
  };
}

export async function createSubgraphServer<TContext extends SubgraphContext>(options: SubgraphServerOptions<TContext>): Promise<SubgraphServer> {
  const logger = options.logger;
  const base = baseApolloOptions<TContext>(logger);
  // Requests (traffic apart from the gateway's composition polling) and root-field resolvers (timedResolvers) on this service's /metrics.
  const metrics = serviceMetrics(options.name);
  const measured = { plugins: [...(base.plugins ?? []), metrics.requestPlugin] as typeof base.plugins };
  const apollo = new ApolloServer<TContext>({
    schema: buildSubgraphSchema([{ typeDefs: options.typeDefs, resolvers: metrics.timedResolvers(options.resolvers) as GraphQLResolverMap<unknown> }]), // 2.15 takes a list of modules only
    ...base,
    ...subgraphEdgeOptions(measured), // operation limits, input hygiene, production schema policy (limits.ts)
  });
  await apollo.start();

  const app = express();
  app.disable('x-powered-by');
  app.use(accessLog(logger)); // one JSON line per request (access-log.ts)
  app.get('/metrics', async (_request, response) => {
    response.setHeader('content-type', metrics.contentType);
    response.send(await metrics.exposition());
  });
  app.get('/health', (_request, response) => {
    response.json({ status: 'ok', service: options.name });
  });
  app.get('/ready', async (_request, response) => {
    const readiness = await subgraphReadiness(options.name, options.readinessChecks);
    response.status(readiness.ready ? 200 : 503).json(readiness.body);
  });
  options.routes?.(app);
  app.use('/graphql', traceRequests(options.name)); // a span continuing the caller's traceparent, when tracing is on
  app.use('/graphql', trustedCallersOnly(options));
  app.use(
    '/graphql',
    jsonBody({ limit: JSON_BODY_LIMIT }),
    graphqlHandler(apollo, {
      context: async ({ req }) => {
        const { viewer, requestId, logger: requestLogger } = await identifyRequest(req, options.verifyToken, logger);
        return options.extendContext({ viewer, requestId, logger: requestLogger }, req);
      },
    }),
  );
  app.use(httpErrorHandler(logger));

  return {
    name: options.name,
    app,
    apollo: apollo as unknown as ApolloServer<SubgraphContext>,
    stop: () => apollo.stop(),
  };
}
