/**
 * Apollo Server as the last express handler of /graphql, at the gateway and in every subgraph:
 * @as-integrations/express5's expressMiddleware, minus two costs it pays on every request
 * (bench:gateway and bench:payments profiles): a legacy `url.parse` of the request URL to find its
 * query string (3% of the gateway's CPU, 2% of a subgraph's) and
 * express's `res.send`, which hashes every response body for an ETag nobody revalidates (GraphQL
 * answers here are per caller and never cached) and re-derives headers Apollo already set. The
 * rest is the integration's own code: same request (method, headers, query string, parsed body),
 * same status, headers and body, streamed bodies (incremental delivery) written as they come.
 */
import type { ApolloServer, BaseContext, ContextFunction } from '@apollo/server';
import { HeaderMap } from '@apollo/server';
import type express from 'express';

export function graphqlHandler<TContext extends BaseContext>(
  server: ApolloServer<TContext>,
  options: { context: ContextFunction<[{ req: express.Request; res: express.Response }], TContext> },
): express.RequestHandler {
  server.assertStarted('graphqlHandler()');
  return (request, response, next) => {
    void (async () => {
      if (!('body' in request)) {
        response.status(500).send('`req.body` is not set: the JSON body parser must run before the GraphQL handler.');
        return;
      }
      const headers = new HeaderMap();
      for (const name in request.headers) {
        const value = request.headers[name];
        if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
      }
      const queryStart = request.url.indexOf('?');
      const httpGraphQLResponse = await server.executeHTTPGraphQLRequest({
        httpGraphQLRequest: { method: request.method.toUpperCase(), headers, search: queryStart === -1 ? '' : request.url.slice(queryStart), body: request.body },
        context: () => options.context({ req: request, res: response }),
      });
      for (const [name, value] of httpGraphQLResponse.headers) response.setHeader(name, value);
      response.statusCode = httpGraphQLResponse.status ?? 200;
      if (httpGraphQLResponse.body.kind === 'complete') {
        const body = httpGraphQLResponse.body.string;
        response.setHeader('content-length', Buffer.byteLength(body));
        response.end(request.method === 'HEAD' ? undefined : body);
        return;
      }
      for await (const chunk of httpGraphQLResponse.body.asyncIterator) response.write(chunk);
      response.end();
    })().catch(next);
  };
}
