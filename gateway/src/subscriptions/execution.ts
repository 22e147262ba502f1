/**
 * Execution of subscription events: each event's `payment` selection runs through the gateway's
 * own federated execution (`executeOperation`) with the subscriber's credentials, so any federated
 * field works and nobody receives a payment they may not query. Work is shared: one federated
 * query per (event, viewer, selection), one graphql-js execution per (result, document, variables).
 */
import { randomUUID } from 'node:crypto';
import type { ApolloServer } from '@apollo/server';
import { execute, type DocumentNode, type ExecutionArgs, type ExecutionResult } from 'graphql';
import type { UserViewer } from '@paygraph/identity';
import type { Logger } from '@paygraph/logging';
import type { GatewayContext } from '../context';
import type { PaymentStatusChange } from './hub';
import type { Delivery, LiveItem } from './live';
import type { SubscriptionContext } from './schema';
import { PAYMENT_VARIABLE, VISIBLE_ALIAS } from './selection';

/** Attempts to resolve one event before the subscription is ended as unavailable, and the wait between them. */
export const RESOLVE_ATTEMPTS_MAX = 3;
const RESOLVE_RETRY_DELAY_MS = 200;

/**
 * Codes that are an answer about the payment or a field (the subscriber may not see it, it is
 * gone), as opposed to a failure to answer (a subgraph down, an internal error).
 */
const ANSWER_CODES = new Set(['FORBIDDEN', 'NOT_FOUND', 'UNAUTHENTICATED', 'BAD_USER_INPUT', 'INVALID_STATE']);
type ResultErrors = readonly { message: string; extensions?: Record<string, unknown> }[] | undefined;
export const failedToAnswer = (errors: ResultErrors) => (errors ?? []).some((error) => !ANSWER_CODES.has(String(error.extensions?.code ?? '')));

type PayloadResult = { data?: Record<string, unknown> | null; errors?: readonly { message: string; extensions?: Record<string, unknown> }[] };

/**
 * About the memory a result holds (its JSON length), measured once per shared result: what a
 * delivery counts against its connection's SUBSCRIPTION_QUEUED_BYTES_MAX while it waits.
 */
const resultBytes = new WeakMap<PayloadResult, number>();
function bytesOf(result: PayloadResult): number {
  let bytes = resultBytes.get(result);
  if (bytes === undefined) {
    bytes = JSON.stringify(result.data ?? null).length + (result.errors ? JSON.stringify(result.errors).length : 0);
    resultBytes.set(result, bytes);
  }
  return bytes;
}

/** Who runs the payload query: the subscriber's identity and token. */
export type Subscriber = { viewer: UserViewer; authorization: string };

const viewerKey = (viewer: UserViewer) => `${viewer.userId}:${viewer.role}`;

export function createPayloadExecution(options: { apollo: ApolloServer<GatewayContext>; logger: Logger }) {
  const { apollo, logger } = options;
  // One federated query per (event, viewer, selection): subscribers sharing them share the work.
  const inFlight = new Map<string, Promise<PayloadResult>>();

  /** Runs the payload query as the subscriber; `sequence` names the event in the sharing key. */
  function executeAs(subscriber: Subscriber, document: DocumentNode, queryId: number, variables: Record<string, unknown>, sequence: string): Promise<PayloadResult> {
    const key = `${sequence}\u0000${viewerKey(subscriber.viewer)}\u0000${queryId}\u0000${JSON.stringify(variables)}`;
    let pending = inFlight.get(key);
    if (!pending) {
      const requestId = `sub-${randomUUID()}`;
      pending = apollo
        .executeOperation(
          { query: document, variables },
          { contextValue: { requestId, viewer: subscriber.viewer, authorization: subscriber.authorization, logger: logger.child({ requestId }) } },
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

  return {
    executeAs,
    /**
     * The resolver of one subscription's events. "May not see it" (the payment resolves to null,
     * no failure) and "could not resolve it" (a subgraph down, an internal error) are different
     * answers: the first skips the event, the second is retried a few times and then ends the
     * subscription as SERVICE_UNAVAILABLE.
     */
    resolverFor(subscriber: Subscriber, document: DocumentNode, queryId: number, clientVariables: Record<string, unknown>) {
      return async (change: PaymentStatusChange): Promise<Delivery | null> => {
        for (let attempt = 1; ; attempt += 1) {
          const result = await executeAs(subscriber, document, queryId, { ...clientVariables, [PAYMENT_VARIABLE]: change.paymentId }, change.sequence.toString());
          const data = result.data ?? {};
          if (!failedToAnswer(result.errors)) {
            if (!data[VISIBLE_ALIAS]) return null;
            return { change, payments: data, errors: result.errors ?? [], bytes: bytesOf(result) };
          }
          if (attempt >= RESOLVE_ATTEMPTS_MAX) {
            logger.warn({ sequence: change.sequence.toString(), errors: result.errors?.map((error) => error.message) }, 'a payment event could not be resolved; ending the subscription');
            throw new Error('payment event could not be resolved');
          }
          await new Promise((wake) => setTimeout(wake, RESOLVE_RETRY_DELAY_MS * attempt));
        }
      };
    },
  };
}

/**
 * graphql-js would execute the subscription document once per subscriber and event; subscribers
 * that share the event's federated result (same viewer, same selection) and the same document and
 * variables get one shared execution result.
 */
const sharedResults = new WeakMap<object, Map<DocumentNode, Map<string, ReturnType<typeof execute>>>>();

/** graphql-ws's `subscribe`: maps the subscription's live items through the schema, sharing results. */
export function sharedSubscribe(args: ExecutionArgs): AsyncGenerator<ExecutionResult> {
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
