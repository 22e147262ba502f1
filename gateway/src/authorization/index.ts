/**
 * Federated authorization enforced by the gateway before planning: the `@authenticated`,
 * `@requiresScopes` and `@policy` directives of the supergraph are read at each schema load, and
 * every operation is filtered for its viewer (see filter.ts) before the query planner sees it, so
 * a field the viewer may not query costs no subgraph fetch. The subgraphs keep their own checks.
 */
import { createHash } from 'node:crypto';
import type { ApolloServerPlugin, GraphQLRequestContextDidResolveOperation } from '@apollo/server';
import { HeaderMap } from '@apollo/server';
import { GraphQLError, print, type GraphQLFormattedError, type OperationDefinitionNode } from 'graphql';
import { forbidden, unauthenticated } from '@paygraph/errors';
import { ANONYMOUS, type Viewer } from '@paygraph/identity';
import type { Logger } from '@paygraph/logging';
import { filterOperation, restoreRemovedFields, type Denial } from './filter';
import { parseAuthorizationRules, type AuthorizationRules } from './rules';

export { parseAuthorizationRules, supergraphForGateway, decide, scopesOf, POLICIES, type AuthorizationRules, type Requirement } from './rules';
export { filterOperation, restoreRemovedFields, PLACEHOLDER_KEY, INLINED_SELECTIONS_MAX, type FilterResult, type Denial } from './filter';

function formatted(denial: Denial): GraphQLFormattedError {
  const error = denial.code === 'UNAUTHENTICATED' ? unauthenticated() : forbidden(`You are not allowed to query ${denial.coordinate}.`);
  return { message: error.message, path: denial.path, extensions: { code: denial.code } };
}

export interface Authorization {
  /** Give it every supergraph the gateway loads (`gateway.onSchemaLoadOrUpdate`). */
  schemaLoaded(supergraphSdl: string): void;
  plugin: ApolloServerPlugin<{ viewer?: Viewer; logger?: Logger }>;
}

/**
 * What the rules see of a viewer: its kind, a user's role, a service's scopes (decide() and the
 * policies read nothing else), so two viewers of one class get the same filtering.
 */
function viewerClass(viewer: Viewer): string {
  if (viewer.kind === 'user') return `user:${viewer.role}`;
  if (viewer.kind === 'service') return `service:${[...viewer.scopes].sort().join(' ')}`;
  return 'anonymous';
}

export function createAuthorization(logger: Logger): Authorization {
  let rules: AuthorizationRules | null = null;
  // Operations that need no filtering, per class of viewer: filterOperation walks the whole
  // document, and Apollo's document cache hands over the same operation object for the same
  // query text, so a repeated query is checked once per class of viewer (a new supergraph, new rules, clears it).
  let unchanged = new WeakMap<OperationDefinitionNode, Set<string>>();
  return {
    schemaLoaded(supergraphSdl) {
      rules = parseAuthorizationRules(supergraphSdl);
      unchanged = new WeakMap();
    },
    plugin: {
      async requestDidStart() {
        let denied: GraphQLFormattedError[] = [];
        let nullPaths: string[][] | null = null;
        let refused = false;
        return {
          async didResolveOperation(requestContext) {
            if (!rules || !requestContext.operation) return;
            const viewer = requestContext.contextValue.viewer ?? ANONYMOUS;
            const operation = requestContext.operation;
            const known = unchanged.get(operation);
            const viewerKey = viewerClass(viewer);
            if (known?.has(viewerKey)) return;
            const result = filterOperation(requestContext.schema, requestContext.document, operation, rules, viewer);
            if (result.kind === 'unchanged') {
              if (known) known.add(viewerKey);
              else unchanged.set(operation, new Set([viewerKey]));
              return;
            }
            if (result.kind === 'too-large') {
              throw new GraphQLError('The operation is too large to authorize: use fewer fragments.', { extensions: { code: 'BAD_USER_INPUT', http: { status: 400, headers: new HeaderMap() } } });
            }
            denied = result.denials.map(formatted);
            (requestContext.contextValue.logger ?? logger).info({ denied: result.denials.map((denial) => denial.coordinate) }, 'fields removed by authorization');
            if (result.kind === 'refused') {
              refused = true;
              return;
            }
            // The planner and its cache see the filtered operation: a new document, hence a new hash.
            const writable = requestContext as { -readonly [K in keyof GraphQLRequestContextDidResolveOperation<object>]: GraphQLRequestContextDidResolveOperation<object>[K] };
            writable.document = result.document;
            writable.operation = result.operation;
            writable.queryHash = createHash('sha256').update(print(result.document)).digest('hex');
            nullPaths = result.nullPaths;
          },
          async responseForOperation() {
            if (!refused) return null;
            return { http: { status: undefined, headers: new HeaderMap() }, body: { kind: 'single', singleResult: { data: null, errors: denied } } };
          },
          async willSendResponse({ response }) {
            if (denied.length === 0 || response.body.kind !== 'single') return;
            const result = response.body.singleResult;
            if (nullPaths) restoreRemovedFields(result.data as Record<string, unknown> | null | undefined, nullPaths);
            if (!refused) result.errors = [...denied, ...(result.errors ?? [])];
          },
        };
      },
    },
  };
}
