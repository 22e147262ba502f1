/**
 * Subscriptions at the gateway: graphql-ws (`graphql-transport-ws`) on the gateway's own port and
 * /graphql path. Apollo Gateway does not plan subscriptions, so this module runs them itself over
 * a copy of the API schema: the event comes from the payments log (hub.ts), and each event's
 * `payment` selection is resolved through the gateway's own federated execution
 * (`executeOperation`) with the subscriber's credentials (selection.ts), so any federated field
 * works and nobody receives a payment they may not query.
 *
 * Sessions: the access token is sent once in `connection_init` (`{ authorization: "Bearer ..." }`).
 * None: closed with 4401; invalid or expired: 4403; when it expires during the session, every
 * subscription ends with UNAUTHENTICATED and the socket closes with 4401 (reconnect with a fresh
 * token and resume with `after`).
 */
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { ApolloServer } from '@apollo/server';
import {
  execute,
  type ExecutionResult,
  buildSchema,
  getArgumentValues,
  getOperationAST,
  getVariableValues,
  GraphQLError,
  isObjectType,
  Kind,
  parse,
  printSchema,
  validate,
  type DocumentNode,
  type ExecutionArgs,
  type FieldNode,
  type GraphQLFieldResolver,
  type GraphQLSchema,
} from 'graphql';
import type { Context, SubscribePayload } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import { apiError, maskError, rateLimited, serviceUnavailable } from '@paygraph/errors';
import { tokenExpiresAtMs, type TokenVerifier, type UserViewer } from '@paygraph/identity';
import type { Logger } from '@paygraph/logging';
import { checkOperationShape, countTokens, measureOperation, tokensError, type OperationLimits } from '@paygraph/server';
import type { GatewayContext } from '../context';
import type { PaymentEventHub, PaymentStatusChange, ReadStatusLog } from './hub';
import { LiveSubscription, type Delivery, type LiveItem } from './live';
import { buildPayloadQuery, PAYMENT_VARIABLE, VISIBLE_ALIAS } from './selection';

export const SUBSCRIPTION_FIELD = 'paymentStatusChanged';
export const WEBSOCKET_MESSAGE_MAX_BYTES = 1024 * 1024;

export interface SubscriptionServerOptions {
  apollo: ApolloServer<GatewayContext>;
  hub: PaymentEventHub;
  verifyToken: TokenVerifier;
  /** Payment status changes after a log position (the payments service's internal log query). */
  readLog: ReadStatusLog;
  logger: Logger;
  limits?: Partial<SubscriptionLimits>;
  /**
   * The operation limits of HTTP requests, applied to subscription documents too (the payload
   * selection then runs through the gateway's own request pipeline, with its limits and cost).
   */
  operationLimits?: OperationLimits;
  /** TRUSTED_DOCUMENTS for subscribe messages: the listed text to run, or a refusal (null: off). */
  trustedDocuments?: ((parameters: { query?: unknown; operationName?: unknown; extensions?: unknown }) => { listed: string } | { listed: undefined; refusal: { code: string; message: string } | null }) | null;
}

/** Field visits measured per document before giving up (as the HTTP limits do). */
const MEASURE_VISITS_MAX = 10_000;

/** Bounds on what one client can hold open or ask for (settings; see README). */
export interface SubscriptionLimits {
  /** Live subscriptions on one WebSocket. */
  perConnectionMax: number;
  /** Live subscriptions of one user across every socket of this gateway. */
  perUserMax: number;
  /** Subscribe messages one socket may send per minute (each one may start a replay). */
  subscribesPerMinuteMax: number;
}
export const DEFAULT_SUBSCRIPTION_LIMITS: SubscriptionLimits = { perConnectionMax: 20, perUserMax: 100, subscribesPerMinuteMax: 120 };

/** Attempts to resolve one event before the subscription is ended as unavailable, and the wait between them. */
export const RESOLVE_ATTEMPTS_MAX = 3;
const RESOLVE_RETRY_DELAY_MS = 200;

/**
 * Codes that are an answer about the payment or a field (the subscriber may not see it, it is
 * gone), as opposed to a failure to answer (a subgraph down, an internal error).
 */
const ANSWER_CODES = new Set(['FORBIDDEN', 'NOT_FOUND', 'UNAUTHENTICATED', 'BAD_USER_INPUT', 'INVALID_STATE']);
type ResultErrors = readonly { message: string; extensions?: Record<string, unknown> }[] | undefined;
const failedToAnswer = (errors: ResultErrors) => (errors ?? []).some((error) => !ANSWER_CODES.has(String(error.extensions?.code ?? '')));

interface Session {
  viewer: UserViewer;
  authorization: string;
  subscriptions: Set<LiveSubscription>;
  expiry?: NodeJS.Timeout;
  /** Subscribe messages in the current one-minute window. */
  subscribes: { windowStartMs: number; count: number };
}

type Extra = { socket: import('ws').WebSocket; request: import('http').IncomingMessage; session?: Session };

/** The context the subscription schema's resolvers run with. */
interface SubscriptionContext {
  live: LiveSubscription;
}

const closeReason = { missing: 'Unauthorized: send connectionParams { authorization: "Bearer <accessToken>" }', invalid: 'Forbidden: invalid or expired access token', expired: 'Unauthorized: the access token expired' };

/** Nested objects come from the gateway's result, which is keyed by the client's aliases. */
const byResponseKey: GraphQLFieldResolver<unknown, unknown> = (source, _args, _context, info) =>
  source !== null && typeof source === 'object' ? (source as Record<string, unknown>)[info.path.key as string] : undefined;

function deliveryResolver(field: (delivery: Delivery, key: string) => unknown): GraphQLFieldResolver<Delivery, SubscriptionContext> {
  return (delivery, _args, _context, info) => field(delivery, info.path.key as string);
}

/** A copy of the API schema that runs the subscription field itself. */
export function subscriptionSchema(apiSchema: GraphQLSchema): GraphQLSchema | null {
  const schema = buildSchema(printSchema(apiSchema));
  const field = schema.getSubscriptionType()?.getFields()[SUBSCRIPTION_FIELD];
  const event = schema.getType('PaymentStatusEvent');
  if (!field || !isObjectType(event)) return null;
  field.subscribe = (_root, _args, context: SubscriptionContext) => context.live;
  // The end of a session (token expired, client too slow) is one error, then the stream completes.
  field.resolve = (item: LiveItem) => {
    if (item.kind === 'end') throw item.error;
    return item.delivery;
  };
  const fields = event.getFields();
  const resolvers: Record<string, (delivery: Delivery, key: string) => unknown> = {
    sequence: (delivery) => delivery.change.sequence.toString(),
    status: (delivery) => delivery.change.status,
    previousStatus: (delivery) => delivery.change.previousStatus,
    occurredAt: (delivery) => delivery.change.occurredAt,
    payment: (delivery, key) => {
      const payment = delivery.payments[key];
      if (payment === null || payment === undefined) {
        const first = delivery.errors[0];
        throw first ? new GraphQLError(first.message, { extensions: first.extensions ?? {} }) : apiError('NOT_FOUND', 'The payment could not be resolved.');
      }
      return payment;
    },
  };
  for (const [name, resolve] of Object.entries(resolvers)) {
    const target = fields[name];
    if (target) target.resolve = deliveryResolver(resolve) as GraphQLFieldResolver<unknown, unknown>;
  }
  return schema;
}

const viewerKey = (viewer: UserViewer) => `${viewer.userId}:${viewer.role}`;

/**
 * graphql-js would execute the subscription document once per subscriber and event; subscribers
 * that share the event's federated result (same viewer, same selection) and the same document and
 * variables get one shared execution result.
 */
const sharedResults = new WeakMap<object, Map<DocumentNode, Map<string, ReturnType<typeof execute>>>>();

function sharedSubscribe(args: ExecutionArgs): AsyncGenerator<ExecutionResult> {
  const live = (args.contextValue as SubscriptionContext).live;
  const toResult = (item: LiveItem) => {
    if (item.kind === 'end') return execute({ ...args, rootValue: item });
    const owner = item.delivery.payments;
    let byDocument = sharedResults.get(owner);
    if (!byDocument) sharedResults.set(owner, (byDocument = new Map()));
    let byVariables = byDocument.get(args.document);
    if (!byVariables) byDocument.set(args.document, (byVariables = new Map()));
    const key = `${args.operationName ?? ''}\u0000${JSON.stringify(args.variableValues ?? {})}`;
    let result = byVariables.get(key);
    if (!result) byVariables.set(key, (result = execute({ ...args, rootValue: item })));
    return result;
  };
  const iterator: AsyncGenerator<ExecutionResult> = {
    async next() {
      const step = await live.next();
      if (step.done) return { value: undefined, done: true };
      return { value: (await toResult(step.value)) as ExecutionResult, done: false };
    },
    async return() {
      await live.return();
      return { value: undefined, done: true };
    },
    async throw(error) {
      await live.return();
      throw error;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  } as AsyncGenerator<ExecutionResult>;
  return iterator;
}

export function createSubscriptionServer(options: SubscriptionServerOptions) {
  const { apollo, hub, logger } = options;
  const limits: SubscriptionLimits = { ...DEFAULT_SUBSCRIPTION_LIMITS, ...options.limits };
  /** Live subscriptions per user on this gateway. */
  const perUser = new Map<string, number>();

  /** The first limit a new subscription would break, as the error that refuses it. */
  function overLimits(session: Session): GraphQLError | null {
    const now = Date.now();
    if (now - session.subscribes.windowStartMs >= 60_000) session.subscribes = { windowStartMs: now, count: 0 };
    session.subscribes.count += 1;
    const retryAfterSeconds = Math.max(1, Math.ceil((session.subscribes.windowStartMs + 60_000 - now) / 1000));
    if (session.subscribes.count > limits.subscribesPerMinuteMax) {
      return rateLimited(`At most ${limits.subscribesPerMinuteMax} subscribe messages per minute on one connection (SUBSCRIBES_PER_MINUTE_MAX).`, retryAfterSeconds);
    }
    if (session.subscriptions.size >= limits.perConnectionMax) {
      return rateLimited(`At most ${limits.perConnectionMax} subscriptions per connection (SUBSCRIPTIONS_PER_CONNECTION_MAX); complete one first.`, 1);
    }
    if ((perUser.get(session.viewer.userId) ?? 0) >= limits.perUserMax) {
      return rateLimited(`At most ${limits.perUserMax} subscriptions per user (SUBSCRIPTIONS_PER_USER_MAX); complete one first.`, 1);
    }
    return null;
  }
  let schema: GraphQLSchema | null = null;
  // One federated query per (event, viewer, selection): subscribers sharing them share the work.
  const inFlight = new Map<string, Promise<{ data?: Record<string, unknown> | null; errors?: readonly { message: string; extensions?: Record<string, unknown> }[] }>>();

  interface Prepared {
    document: DocumentNode;
    operation: NonNullable<ReturnType<typeof getOperationAST>>;
    root: FieldNode;
    payloadQuery: ReturnType<typeof buildPayloadQuery>;
    /** Names the payload query in the per-event cache key (cheaper than its text). */
    queryId: number;
  }
  // Parsed, validated documents by query text: subscribers sending the same text share one copy.
  let documents = new Map<string, Prepared | { errors: readonly GraphQLError[] }>();
  const DOCUMENTS_MAX = 1_000;
  let preparedCount = 0;
  function prepare(query: string, operationName: string | null): Prepared | { errors: readonly GraphQLError[] } {
    const key = `${operationName ?? ''}\u0000${query}`;
    let found = documents.get(key);
    if (!found) {
      found = prepareUncached(query, operationName);
      if (documents.size >= DOCUMENTS_MAX) documents.delete(documents.keys().next().value!);
      documents.set(key, found);
    }
    return found;
  }
  function prepareUncached(query: string, operationName: string | null): Prepared | { errors: readonly GraphQLError[] } {
    const limits = options.operationLimits;
    if (limits && countTokens(query, limits.OPERATION_TOKENS_MAX) > limits.OPERATION_TOKENS_MAX) return { errors: [tokensError(limits)] };
    let document: DocumentNode;
    try {
      document = parse(query, { noLocation: true });
    } catch (error) {
      return { errors: [new GraphQLError((error as Error).message, { extensions: { code: 'GRAPHQL_PARSE_FAILED' } })] };
    }
    const invalid = validate(schema!, document);
    if (invalid.length > 0) return { errors: invalid.map((error) => new GraphQLError(error.message, { nodes: error.nodes ?? [], extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } })) };
    const operation = getOperationAST(document, operationName);
    if (!operation) return { errors: [new GraphQLError('Unable to identify the operation to run.', { extensions: { code: 'BAD_REQUEST' } })] };
    if (operation.operation !== 'subscription') {
      return { errors: [new GraphQLError('Only subscriptions are served over WebSocket; send queries and mutations with POST /graphql.', { extensions: { code: 'BAD_REQUEST' } })] };
    }
    if (limits) {
      const shape = measureOperation(document, operation, { depthCut: limits.OPERATION_DEPTH_MAX + 1, visitsMax: MEASURE_VISITS_MAX });
      const refused = checkOperationShape(shape, limits);
      if (refused) return { errors: [refused] };
    }
    const root = operation.selectionSet.selections[0];
    if (!root || root.kind !== Kind.FIELD || root.name.value !== SUBSCRIPTION_FIELD) {
      return { errors: [new GraphQLError(`Subscribe to ${SUBSCRIPTION_FIELD}.`, { extensions: { code: 'BAD_REQUEST' } })] };
    }
    const payloadQuery = buildPayloadQuery(root, operation, document);
    return { document, operation, root, payloadQuery, queryId: (preparedCount += 1) };
  }

  async function executeAs(session: Pick<Session, 'viewer' | 'authorization'>, document: DocumentNode, queryId: number, variables: Record<string, unknown>, sequence: string) {
    const key = `${sequence}\u0000${viewerKey(session.viewer)}\u0000${queryId}\u0000${JSON.stringify(variables)}`;
    let pending = inFlight.get(key);
    if (!pending) {
      const requestId = `sub-${randomUUID()}`;
      pending = apollo
        .executeOperation(
          { query: document, variables },
          { contextValue: { requestId, viewer: session.viewer, authorization: session.authorization, logger: logger.child({ requestId }) } },
        )
        .then((response) => {
          if (response.body.kind !== 'single') throw new Error('unexpected incremental result');
          const { data, errors } = response.body.singleResult;
          return { data: (data as Record<string, unknown> | null | undefined) ?? null, ...(errors ? { errors } : {}) };
        });
      inFlight.set(key, pending);
      void pending.finally(() => inFlight.delete(key)).catch(() => {});
    }
    return pending;
  }

  function refuse(code: Parameters<typeof apiError>[0], message: string): readonly GraphQLError[] {
    return [apiError(code, message)];
  }

  async function onSubscribe(ctx: Context<Record<string, unknown>, Extra>, _id: string, payload: SubscribePayload): Promise<ExecutionArgs | readonly GraphQLError[]> {
    const session = ctx.extra.session;
    if (!session) return refuse('UNAUTHENTICATED', 'Not authenticated.');
    const refusal = overLimits(session);
    if (refusal) return [refusal];
    if (!schema) return [new GraphQLError('Subscriptions are not available: the supergraph has no paymentStatusChanged.', { extensions: { code: 'INTERNAL_SERVER_ERROR' } })];
    let query = payload.query;
    if (options.trustedDocuments) {
      // The same list as for HTTP: a listed document (by id or text) runs as listed; in enforce, nothing else.
      const verdict = options.trustedDocuments({ query: payload.query || undefined, operationName: payload.operationName, extensions: payload.extensions });
      if (verdict.listed !== undefined) query = verdict.listed;
      else if (verdict.refusal) return [new GraphQLError(verdict.refusal.message, { extensions: { code: verdict.refusal.code } })];
    }
    const prepared = prepare(query, payload.operationName ?? null);
    if ('errors' in prepared) return prepared.errors;
    const { document, operation, root, payloadQuery, queryId } = prepared;
    const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], payload.variables ?? {});
    if (coerced.errors) return coerced.errors.map((error) => apiError('BAD_USER_INPUT', error.message));
    const args = getArgumentValues(schema.getSubscriptionType()!.getFields()[SUBSCRIPTION_FIELD]!, root as FieldNode, coerced.coerced) as { paymentId?: string | null; after?: string | null };
    const paymentId = args.paymentId ?? null;
    if (paymentId !== null && /[\u0000-\u001f]/.test(paymentId)) return refuse('BAD_USER_INPUT', 'paymentId must not contain control characters.');
    let after: bigint | null = null;
    if (args.after !== undefined && args.after !== null) {
      if (!/^\d{1,19}$/.test(args.after)) return refuse('BAD_USER_INPUT', 'after must be a sequence received earlier (a non-negative integer).');
      after = BigInt(args.after);
    }

    const clientVariables = Object.fromEntries(payloadQuery.variableNames.filter((name) => name in (payload.variables ?? {})).map((name) => [name, payload.variables![name]]));
    // "May not see it" (the payment resolves to null, no failure) and "could not resolve it" (a
    // subgraph down, an internal error) are different answers: the first skips the event, the
    // second is retried a few times and then ends the subscription as SERVICE_UNAVAILABLE.
    const resolve = async (change: PaymentStatusChange): Promise<Delivery | null> => {
      for (let attempt = 1; ; attempt += 1) {
        const result = await executeAs(session, payloadQuery.document, queryId, { ...clientVariables, [PAYMENT_VARIABLE]: change.paymentId }, change.sequence.toString());
        const data = result.data ?? {};
        if (!failedToAnswer(result.errors)) {
          if (!data[VISIBLE_ALIAS]) return null;
          return { change, payments: data, errors: result.errors ?? [] };
        }
        if (attempt >= RESOLVE_ATTEMPTS_MAX) {
          logger.warn({ sequence: change.sequence.toString(), errors: result.errors?.map((error) => error.message) }, 'a payment event could not be resolved; ending the subscription');
          throw new Error('payment event could not be resolved');
        }
        await new Promise((wake) => setTimeout(wake, RESOLVE_RETRY_DELAY_MS * attempt));
      }
    };

    if (paymentId !== null) {
      const check = await executeAs(session, payloadQuery.document, queryId, { ...clientVariables, [PAYMENT_VARIABLE]: paymentId }, 'subscribe');
      if (failedToAnswer(check.errors)) return [serviceUnavailable('The payment could not be checked right now; subscribe again.')];
      if (!check.data?.[VISIBLE_ALIAS]) return refuse('NOT_FOUND', 'No payment with this id that you may see.');
    }

    let ended = false;
    const live = new LiveSubscription({
      hub,
      paymentId,
      userId: session.viewer.role === 'ADMIN' ? null : session.viewer.userId,
      after,
      resolve,
      readLog: options.readLog,
      onEnd: () => {
        if (ended) return;
        ended = true;
        session.subscriptions.delete(live);
        const left = (perUser.get(session.viewer.userId) ?? 1) - 1;
        if (left > 0) perUser.set(session.viewer.userId, left);
        else perUser.delete(session.viewer.userId);
      },
    });
    session.subscriptions.add(live);
    perUser.set(session.viewer.userId, (perUser.get(session.viewer.userId) ?? 0) + 1);
    const context: SubscriptionContext = { live };
    return { schema, document, operationName: payload.operationName ?? null, variableValues: payload.variables ?? {}, contextValue: context, fieldResolver: byResponseKey };
  }

  return {
    /** Called with each new API schema (composition at start-up, then on every change). */
    schemaUpdated(apiSchema: GraphQLSchema) {
      schema = subscriptionSchema(apiSchema);
      documents = new Map();
      if (!schema) logger.warn('the supergraph has no Subscription.paymentStatusChanged: subscriptions are refused');
    },

    /** Serves graphql-ws on the HTTP server's /graphql; returns the function that closes every socket. */
    attach(server: Server): () => Promise<void> {
      // Messages are small (a subscribe carries one document): 1 MiB, as for HTTP bodies.
      const sockets = new WebSocketServer({ server, path: '/graphql', maxPayload: WEBSOCKET_MESSAGE_MAX_BYTES });
      const disposable = useServer<Record<string, unknown>, Extra>(
        {
          onConnect: async (ctx) => {
            const params = ctx.connectionParams ?? {};
            const authorization = params.authorization ?? params.Authorization;
            if (typeof authorization !== 'string' || authorization.trim() === '') {
              ctx.extra.socket.close(4401, closeReason.missing);
              return false;
            }
            let viewer;
            try {
              viewer = await options.verifyToken(authorization);
            } catch {
              ctx.extra.socket.close(4403, closeReason.invalid);
              return false;
            }
            if (viewer.kind !== 'user') {
              ctx.extra.socket.close(4403, closeReason.invalid);
              return false;
            }
            const session: Session = { viewer, authorization, subscriptions: new Set(), subscribes: { windowStartMs: Date.now(), count: 0 } };
            const expiresAt = tokenExpiresAtMs(authorization);
            if (expiresAt !== null) {
              session.expiry = setTimeout(() => {
                for (const live of [...session.subscriptions]) live.finish({ kind: 'end', error: apiError('UNAUTHENTICATED', 'The access token expired: reconnect with a fresh one and resume with `after`.') });
                // Let the last messages go out before the close frame.
                setTimeout(() => ctx.extra.socket.close(4401, closeReason.expired), 50).unref();
              }, Math.max(0, expiresAt - Date.now()));
              session.expiry.unref();
            }
            ctx.extra.session = session;
            return true;
          },
          onSubscribe,
          subscribe: sharedSubscribe as never,
          onNext: (_ctx, _id, _payload, _args, result) => {
            if (!('errors' in result) || !result.errors) return result;
            return { ...result, errors: result.errors.map((error) => maskError(error instanceof GraphQLError ? error.toJSON() : error, error)) };
          },
          onClose: (ctx) => {
            const session = ctx.extra.session;
            if (!session) return;
            clearTimeout(session.expiry);
            for (const live of [...session.subscriptions]) live.finish(null);
          },
        },
        sockets,
      );
      return async () => {
        for (const client of sockets.clients) client.close(1001, 'Going away');
        await disposable.dispose();
        await new Promise<void>((resolve) => sockets.close(() => resolve()));
      };
    },
  };
}

export type SubscriptionServer = ReturnType<typeof createSubscriptionServer>;
