/**
 * Where the gateway's rate limits apply: an express middleware spends the per-request budget of
 * the client before anything is parsed, and an Apollo plugin spends the tighter budgets of login,
 * registration and money-moving mutations (one point per root field, so aliases count) once the
 * operation is known, before planning. A refusal is RATE_LIMITED with
 * `extensions.retryAfterSeconds` and a `Retry-After` header, HTTP 429.
 */
import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { HeaderMap } from '@apollo/server';
import type express from 'express';
import { GraphQLError, Kind, type DocumentNode, type FragmentDefinitionNode, type OperationDefinitionNode, type SelectionSetNode } from 'graphql';
import { ErrorCode, rateLimited } from '@paygraph/errors';
import type { TokenVerifier, Viewer } from '@paygraph/identity';
import { FRAGMENT_NESTING_MAX } from '@paygraph/server';
import type { LimitName, RateLimits } from './limiters';

export { createRateLimits, type RateLimits, type RateLimitSettings, type LimitName } from './limiters';

/** Root mutation fields with their own budget; every other operation spends only `requests`. */
export const LIMITED_MUTATIONS: Readonly<Record<string, LimitName>> = {
  login: 'logins',
  refreshToken: 'logins',
  registerUser: 'registrations',
  creditWallet: 'moneyMutations',
  debitWallet: 'moneyMutations',
  postLedgerTransaction: 'moneyMutations',
  payOrder: 'moneyMutations',
  capturePayment: 'moneyMutations',
  cancelOrder: 'moneyMutations',
  refundPayment: 'moneyMutations',
  reviewPayment: 'moneyMutations',
};

/**
 * Fragments followed at the root before giving up (validation already forbids cycles): as deep as
 * the edge limits let an operation nest them, so every root mutation of an operation that runs is
 * counted; a deeper one is refused (MAX_DEPTH_LIMIT) before any subgraph is called.
 */
const ROOT_FRAGMENT_DEPTH_MAX = FRAGMENT_NESTING_MAX;

/** The client a budget belongs to: the user when logged in, else the address. */
export function clientKeyOf(viewer: Viewer | undefined, address: string | undefined): string {
  if (viewer?.kind === 'user') return `user:${viewer.userId}`;
  if (viewer?.kind === 'service') return `service:${viewer.service}`;
  return `address:${address ?? 'unknown'}`;
}

function countLimitedRootFields(operation: OperationDefinitionNode, document: DocumentNode): Map<LimitName, number> {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  const counts = new Map<LimitName, number>();
  const walk = (selectionSet: SelectionSetNode, depth: number) => {
    if (depth > ROOT_FRAGMENT_DEPTH_MAX) return;
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        const limit = LIMITED_MUTATIONS[selection.name.value];
        if (limit) counts.set(limit, (counts.get(limit) ?? 0) + 1);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        walk(selection.selectionSet, depth + 1);
      } else {
        const fragment = fragments.get(selection.name.value);
        if (fragment) walk(fragment.selectionSet, depth + 1);
      }
    }
  };
  walk(operation.selectionSet, 0);
  return counts;
}

function refusal(retryAfterSeconds: number, what: string): GraphQLError {
  const error = rateLimited(`Too many ${what}: try again in ${retryAfterSeconds} s.`, retryAfterSeconds);
  return new GraphQLError(error.message, {
    extensions: { ...error.extensions, http: { status: 429, headers: new HeaderMap([['retry-after', String(retryAfterSeconds)]]) } },
  });
}

const WHAT: Record<LimitName, string> = {
  requests: 'requests',
  logins: 'login attempts',
  registrations: 'registrations',
  moneyMutations: 'payments and transfers',
};

/** Spends the per-operation budgets of limited mutations; refuses before planning when one is spent. */
export function rateLimitPlugin<TContext extends { viewer?: Viewer; clientAddress?: string }>(limits: RateLimits): ApolloServerPlugin<TContext> {
  return {
    async requestDidStart() {
      if (!limits.enabled) return;
      return {
        async didResolveOperation({ operation, document, contextValue }) {
          if (!operation || operation.operation !== 'mutation') return;
          const key = clientKeyOf(contextValue.viewer, contextValue.clientAddress);
          for (const [name, points] of countLimitedRootFields(operation, document)) {
            const outcome = await limits.consume(name, key, points);
            if (!outcome.allowed) throw refusal(outcome.retryAfterSeconds, WHAT[name]);
          }
        },
      };
    },
  };
}

/**
 * A RATE_LIMITED refusal from a subgraph (the login and current-password throttles, counted where
 * the credentials are) reaches the client in the response body only: this gives the response the
 * `Retry-After` header API.md promises with every RATE_LIMITED (the largest retryAfterSeconds), and
 * HTTP 429 when nothing else came back (no data). It had neither: HTTP 200, no header.
 */
export const retryAfterFromErrors: ApolloServerPlugin<BaseContext> = {
  async requestDidStart() {
    return {
      async willSendResponse({ response }) {
        if (response.body.kind !== 'single') return;
        const { errors, data } = response.body.singleResult;
        let retryAfterSeconds = 0;
        for (const error of errors ?? []) {
          const seconds = error.extensions?.retryAfterSeconds;
          if (error.extensions?.code === ErrorCode.RATE_LIMITED && typeof seconds === 'number') retryAfterSeconds = Math.max(retryAfterSeconds, Math.ceil(seconds));
        }
        if (retryAfterSeconds === 0 || response.http.headers.has('retry-after')) return;
        response.http.headers.set('retry-after', String(retryAfterSeconds));
        const nothingElse = (errors ?? []).every((error) => error.extensions?.code === ErrorCode.RATE_LIMITED);
        if ((data === null || data === undefined) && nothingElse) response.http.status = 429;
      },
    };
  },
};

/**
 * Spends one point of the client's request budget per HTTP request to the endpoint. The token is
 * verified here only to find the user (verification is cached); an invalid token is left for the
 * GraphQL context to refuse, and such a request is counted against the address.
 */
export function rateLimitMiddleware(limits: RateLimits, verifyToken: TokenVerifier): express.RequestHandler {
  return (request, response, next) => {
    if (!limits.enabled || (request.method !== 'POST' && request.method !== 'GET')) {
      next();
      return;
    }
    void (async () => {
      const viewer = await verifyToken(request.headers.authorization || undefined).catch(() => undefined);
      const outcome = await limits.consume('requests', clientKeyOf(viewer, request.ip));
      if (outcome.allowed) {
        next();
        return;
      }
      response
        .status(429)
        .set('retry-after', String(outcome.retryAfterSeconds))
        .json({
          errors: [{ message: `Too many requests: try again in ${outcome.retryAfterSeconds} s.`, extensions: { code: ErrorCode.RATE_LIMITED, retryAfterSeconds: outcome.retryAfterSeconds } }],
        });
    })().catch(next);
  };
}
