import { ApolloServer } from '@apollo/server';
import { expressMiddleware } from '@as-integrations/express5';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper';
import express from 'express';
import type { DocumentNode } from 'graphql';
import type { TokenVerifier, Viewer } from '@paygraph/identity';
import { withHttpStatus } from '@paygraph/errors';
import { REQUEST_ID_HEADER, requestIdFrom, type Logger } from '@paygraph/logging';
import { baseApolloOptions, JSON_BODY_LIMIT } from './apollo';

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
  logger: Logger;
  /** Adds per-request state (DataLoaders, stores) to the base context. */
  extendContext: (base: SubgraphContext) => TContext;
  /** Extra HTTP routes (e.g. auth's JWKS), mounted before /graphql. */
  routes?: (app: express.Express) => void;
}

export interface SubgraphServer {
  name: string;
  app: express.Express;
  apollo: ApolloServer<SubgraphContext>;
  stop(): Promise<void>;
}

export async function createSubgraphServer<TContext extends SubgraphContext>(options: SubgraphServerOptions<TContext>): Promise<SubgraphServer> {
  const logger = options.logger;
  const apollo = new ApolloServer<TContext>({
    schema: buildSubgraphSchema({ typeDefs: options.typeDefs, resolvers: options.resolvers as GraphQLResolverMap<unknown> }),
    ...baseApolloOptions<TContext>(logger),
  });
  await apollo.start();

  const app = express();
  app.disable('x-powered-by');
  app.get('/health', (_request, response) => {
    response.json({ status: 'ok', service: options.name });
  });
  options.routes?.(app);
  app.use(
    '/graphql',
    express.json({ limit: JSON_BODY_LIMIT }),
    expressMiddleware(apollo, {
      context: async ({ req }) => {
        const requestId = requestIdFrom(req.headers[REQUEST_ID_HEADER]);
        const requestLogger = logger.child({ requestId });
        const viewer = await options.verifyToken(req.headers.authorization).catch((error: unknown) => {
          throw withHttpStatus(error);
        });
        return options.extendContext({ viewer, requestId, logger: requestLogger });
      },
    }),
  );
  app.use(((error, _request, response, _next) => {
    const status = typeof (error as { status?: unknown }).status === 'number' ? (error as { status: number }).status : 500;
    if (status >= 500) logger.error({ err: error }, 'unhandled HTTP error');
    response.status(status).json({ errors: [{ message: status === 413 ? 'Request body too large' : 'Bad request', extensions: { code: status >= 500 ? 'INTERNAL_SERVER_ERROR' : 'BAD_REQUEST' } }] });
  }) as express.ErrorRequestHandler);

  return {
    name: options.name,
    app,
    apollo: apollo as unknown as ApolloServer<SubgraphContext>,
    stop: () => apollo.stop(),
  };
}
