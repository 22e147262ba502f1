/**
 * Subscriptions at the gateway: graphql-ws (`graphql-transport-ws`) on the gateway's own port and
 * /graphql path. Apollo Gateway does not plan subscriptions, so this module runs them itself over
 * a copy of the API schema (schema.ts): the event comes from the payments log (hub.ts), and each
 * event's `payment` selection is resolved through the gateway's own federated execution with the
 * subscriber's credentials (execution.ts, selection.ts), so any federated field works and nobody
 * receives a payment they may not query.
 *
 * The parts: session.ts (connection_init, token expiry, per-connection and per-user limits),
 * documents.ts (a subscribe message's document checked and prepared once), execution.ts (each
 * event resolved, shared between subscribers), schema.ts (the subscription schema); live.ts is one
 * subscription's stream. This file wires them to graphql-ws.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { ApolloServer } from '@apollo/server';
import { GraphQLError, type DocumentNode, type ExecutionArgs, type GraphQLFormattedError, type GraphQLSchema } from 'graphql';
import type { Context, SubscribePayload } from 'graphql-ws';
import { WebSocketServer } from 'ws';
import { apiError, maskError, serviceUnavailable } from '@paygraph/errors';
import type { TokenVerifier } from '@paygraph/identity';
import type { Logger } from '@paygraph/logging';
import type { OperationLimits } from '@paygraph/server';
import type { GatewayContext } from '../context';
import { createDocuments, readArguments } from './documents';
import { createPayloadExecution, failedToAnswer, sharedSubscribe } from './execution';
import type { PaymentEventHub, ReadStatusLog } from './hub';
import { LiveSubscription } from './live';
import { byResponseKey, SUBSCRIPTION_FIELD, subscriptionSchema, type SubscriptionContext } from './schema';
import { PAYMENT_VARIABLE, VISIBLE_ALIAS } from './selection';
import { createSessions, type AdmitConnection, type Extra, type SubscriptionLimits } from './session';
import { serveGraphqlWs } from './ws-adapter';

export { SUBSCRIPTION_FIELD, subscriptionSchema } from './schema';
export { RESOLVE_ATTEMPTS_MAX } from './execution';
export { DEFAULT_SUBSCRIPTION_LIMITS, type SubscriptionLimits } from './session';

export const WEBSOCKET_MESSAGE_MAX_BYTES = 1024 * 1024;
/** Characters of a subscription id (graphql-ws clients send UUIDs, 36); a longer one closes the socket with 4400. */
export const SUBSCRIPTION_ID_LENGTH_MAX = 128;

export interface SubscriptionServerOptions {
  apollo: ApolloServer<GatewayContext>;
  hub: PaymentEventHub;
  verifyToken: TokenVerifier;
  /** Payment status changes after a log position (the payments service's internal log query). */
  readLog: ReadStatusLog;
  logger: Logger;
  limits?: Partial<SubscriptionLimits>;
  /** The per-client request budget, spent once per connection_init (session.ts); none: not limited. */
  admitConnection?: AdmitConnection;
  /** The client's address behind trusted proxies (TRUST_PROXY); the socket's peer without it. */
  clientAddress?: (request: IncomingMessage) => string | undefined;
  /**
   * The operation limits of HTTP requests, applied to subscription documents too (the payload
   * selection then runs through the gateway's own request pipeline, with its limits and cost).
   */
  operationLimits?: OperationLimits;
  /**
   * The estimated cost of a subscription's event query against OPERATION_COST_MAX, checked when it
   * is subscribed (over the limit: refused then with COST_ESTIMATED_TOO_EXPENSIVE, as over HTTP,
   * instead of every event failing); its refusal, or null.
   */
  checkCost?: (document: DocumentNode, variables: Record<string, unknown>) => GraphQLError | null;
  /** TRUSTED_DOCUMENTS for subscribe messages: the listed text to run, or a refusal (null: off). */
  trustedDocuments?: ((parameters: { query?: unknown; operationName?: unknown; extensions?: unknown }) => { listed: string } | { listed: undefined; refusal: { code: string; message: string } | null }) | null;
}

/** An error as a WebSocket message carries it: without the HTTP status the limits put in `extensions.http`. */
export function withoutHttpStatus(formatted: GraphQLFormattedError): GraphQLFormattedError {
  if (!formatted.extensions || !('http' in formatted.extensions)) return formatted;
  const { http: _http, ...extensions } = formatted.extensions;
  return { ...formatted, extensions };
}

export function createSubscriptionServer(options: SubscriptionServerOptions) {
  const { apollo, hub, logger } = options;
  const sessions = createSessions({ verifyToken: options.verifyToken, limits: options.limits, admitConnection: options.admitConnection });
  const documents = createDocuments({ operationLimits: options.operationLimits });
  const execution = createPayloadExecution({ apollo, logger });
  let schema: GraphQLSchema | null = null;

  async function onSubscribe(ctx: Context<Record<string, unknown>, Extra>, id: string, payload: SubscribePayload): Promise<ExecutionArgs | readonly GraphQLError[]> {
    // Every message of the subscription repeats its id: a long one multiplies each event's bytes.
    if (id.length > SUBSCRIPTION_ID_LENGTH_MAX) {
      return closedWith(ctx, 4400, `Subscription ids are at most ${SUBSCRIPTION_ID_LENGTH_MAX} characters`);
    }
    // graphql-ws frees an id on its `complete` even while that subscribe is still being set up; a
    // new subscribe with the id then would run beside the first one (every event twice, and a
    // `complete` stopping only one of them). Such a reuse is refused as a duplicate id.
    const settingUp = (ctx.extra.settingUp ??= new Set());
    if (settingUp.has(id)) {
      return closedWith(ctx, 4409, `Subscriber for ${id} is still being set up`);
    }
    settingUp.add(id);
    try {
      return await admit(ctx, payload);
    } finally {
      settingUp.delete(id);
    }
  }

  /** Closes the socket for a protocol fault; the error returned is not sent (the socket is closing). */
  function closedWith(ctx: Context<Record<string, unknown>, Extra>, code: number, reason: string): readonly GraphQLError[] {
    ctx.extra.socket.close(code, reason);
    return [new GraphQLError(reason, { extensions: { code: 'BAD_REQUEST' } })];
  }

  async function admit(ctx: Context<Record<string, unknown>, Extra>, payload: SubscribePayload): Promise<ExecutionArgs | readonly GraphQLError[]> {
    const session = ctx.extra.session;
    if (!session) return [apiError('UNAUTHENTICATED', 'Not authenticated.')];
    const refusal = sessions.overLimits(session);
    if (refusal) return [refusal];
    // Admitted: the subscription holds its place from here; a refusal below gives it back.
    let admitted: ExecutionArgs | readonly GraphQLError[];
    try {
      admitted = await setUp(session, payload);
    } catch (error) {
      sessions.released(session);
      throw error;
    }
    if (Array.isArray(admitted)) sessions.released(session);
    return admitted;
  }

  async function setUp(session: NonNullable<Extra['session']>, payload: SubscribePayload): Promise<ExecutionArgs | readonly GraphQLError[]> {
    if (!schema) return [new GraphQLError('Subscriptions are not available: the supergraph has no paymentStatusChanged.', { extensions: { code: 'INTERNAL_SERVER_ERROR' } })];
    let query = payload.query;
    if (options.trustedDocuments) {
      // The same list as for HTTP: a listed document (by id or text) runs as listed; in enforce, nothing else.
      const verdict = options.trustedDocuments({ query: payload.query || undefined, operationName: payload.operationName, extensions: payload.extensions });
      if (verdict.listed !== undefined) query = verdict.listed;
      else if (verdict.refusal) return [new GraphQLError(verdict.refusal.message, { extensions: { code: verdict.refusal.code } })];
    }
    const prepared = documents.prepare(schema, query, payload.operationName ?? null);
    if ('errors' in prepared) return prepared.errors;
    const args = readArguments(schema, prepared, payload.variables ?? {});
    if ('errors' in args) return args.errors;
    const { document, payloadQuery, queryId } = prepared;
    const clientVariables = Object.fromEntries(payloadQuery.variableNames.filter((name) => name in (payload.variables ?? {})).map((name) => [name, payload.variables![name]]));
    // Each event's query runs with the event's payment id: its cost does not depend on which.
    const tooExpensive = options.checkCost?.(payloadQuery.document, { ...clientVariables, [PAYMENT_VARIABLE]: args.paymentId ?? '' });
    if (tooExpensive) return [tooExpensive];

    if (args.paymentId !== null) {
      const check = await execution.executeAs(session, payloadQuery.document, queryId, { ...clientVariables, [PAYMENT_VARIABLE]: args.paymentId }, 'subscribe');
      if (failedToAnswer(check.errors)) return [serviceUnavailable('The payment could not be checked right now; subscribe again.')];
      if (!check.data?.[VISIBLE_ALIAS]) return [apiError('NOT_FOUND', 'No payment with this id that you may see.')];
    }

    let ended = false;
    const live = new LiveSubscription({
      hub,
      paymentId: args.paymentId,
      userId: session.viewer.role === 'ADMIN' ? null : session.viewer.userId,
      after: args.after,
      resolve: execution.resolverFor(session, payloadQuery.document, queryId, clientVariables),
      readLog: options.readLog,
      queuedBytes: session.queued,
      onEnd: () => {
        if (ended) return;
        ended = true;
        sessions.removed(session, live);
      },
    });
    sessions.added(session, live);
    const context: SubscriptionContext = { live };
    return { schema, document, operationName: payload.operationName ?? null, variableValues: payload.variables ?? {}, contextValue: context, fieldResolver: byResponseKey };
  }

  return {
    /** Called with each new API schema (composition at start-up, then on every change). */
    schemaUpdated(apiSchema: GraphQLSchema) {
      schema = subscriptionSchema(apiSchema);
      documents.clear();
      if (!schema) logger.warn(`the supergraph has no Subscription.${SUBSCRIPTION_FIELD}: subscriptions are refused`);
    },

    /** Serves graphql-ws on the HTTP server's /graphql; returns the function that closes every socket. */
    attach(server: Server): () => Promise<void> {
      // Messages are small (a subscribe carries one document): 1 MiB, as for HTTP bodies.
      const sockets = new WebSocketServer({ server, path: '/graphql', maxPayload: WEBSOCKET_MESSAGE_MAX_BYTES });
      const disposable = serveGraphqlWs<Record<string, unknown>, Extra>(
        {
          onConnect: async (ctx) => {
            const address = options.clientAddress ? options.clientAddress(ctx.extra.request) : ctx.extra.request.socket.remoteAddress;
            const session = await sessions.open(ctx.connectionParams, ctx.extra.socket, address);
            if (!session) return false;
            ctx.extra.session = session;
            return true;
          },
          onSubscribe,
          // A refusal's `extensions.http` is for HTTP answers (the status); a WebSocket message does not carry it.
          onError: (_ctx, _id, _payload, errors) => errors.map((error) => withoutHttpStatus(error.toJSON())),
          subscribe: sharedSubscribe as never,
          onNext: (_ctx, _id, _payload, _args, result) => {
            if (!('errors' in result) || !result.errors) return result;
            return { ...result, errors: result.errors.map((error) => maskError(error instanceof GraphQLError ? error.toJSON() : error, error)) };
          },
          onClose: (ctx) => {
            const session = ctx.extra.session;
            if (session) sessions.close(session);
          },
        },
        sockets,
        logger,
      );
      return () => disposable.dispose();
    },
  };
}

export type SubscriptionServer = ReturnType<typeof createSubscriptionServer>;
