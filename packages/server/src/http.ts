import express from 'express';
import { withHttpStatus } from '@paygraph/errors';
import { ANONYMOUS, isExpiredTokenError, type TokenVerifier, type Viewer } from '@paygraph/identity';
import { REQUEST_ID_HEADER, requestIdFrom, type Logger } from '@paygraph/logging';
import { accessRecordOf, recordViewer } from './access-log';

/** What every GraphQL request starts with, at the gateway and in every subgraph. */
export interface RequestIdentity {
  requestId: string;
  viewer: Viewer;
  authorization: string | undefined;
  logger: Logger;
}

/**
 * Reads the request id and the bearer token of a request. A token that is present but invalid ends
 * the request with HTTP 401 and UNAUTHENTICATED; an expired one too, unless `anonymousWhenExpired`
 * says this request needs no login (then it runs anonymous, and the token is not passed on).
 */
export async function identifyRequest(
  request: express.Request,
  verifyToken: TokenVerifier,
  logger: Logger,
  options: { anonymousWhenExpired?: (request: express.Request) => boolean } = {},
): Promise<RequestIdentity> {
  // The access log's id when it runs (one id per request in every line), else the header's or a new one.
  const requestId = accessRecordOf(request)?.requestId ?? requestIdFrom(request.headers[REQUEST_ID_HEADER]);
  const authorization = request.headers.authorization || undefined;
  const viewer = await verifyToken(authorization).catch((error: unknown) => {
    if (options.anonymousWhenExpired && isExpiredTokenError(error) && options.anonymousWhenExpired(request)) return null;
    throw withHttpStatus(error);
  });
  if (viewer === null) {
    recordViewer(request, ANONYMOUS);
    return new Identity(requestId, ANONYMOUS, undefined, logger);
  }
  recordViewer(request, viewer);
  return new Identity(requestId, viewer, authorization, logger);
}

/**
 * A request's identity whose child logger is made when something logs for the request: most
 * requests log nothing but their access line, and a pino child per request was 2% of the
 * gateway's CPU (bench:gateway). The getter lives on the prototype so that Apollo Server's copy of
 * the context (Object.assign onto an object of the same prototype) stays lazy too.
 */
class Identity implements RequestIdentity {
  private requestLogger: Logger | undefined = undefined;
  constructor(
    readonly requestId: string,
    readonly viewer: Viewer,
    readonly authorization: string | undefined,
    private readonly parentLogger: Logger,
  ) {}
  get logger(): Logger {
    return (this.requestLogger ??= this.parentLogger.child({ requestId: this.requestId }));
  }
}

/** Last express handler: HTTP-level failures (bad JSON, body too large) as a GraphQL-shaped error. */
export function httpErrorHandler(logger: Logger): express.ErrorRequestHandler {
  return (error, _request, response, _next) => {
    const status = typeof (error as { status?: unknown }).status === 'number' ? (error as { status: number }).status : 500;
    if (status >= 500) logger.error({ err: error }, 'unhandled HTTP error');
    const message = status === 413 ? 'Request body too large' : status === 404 ? 'Not found' : status >= 500 ? 'Internal server error' : 'Bad request';
    response.status(status).json({ errors: [{ message, extensions: { code: status >= 500 ? 'INTERNAL_SERVER_ERROR' : 'BAD_REQUEST' } }] });
  };
}
