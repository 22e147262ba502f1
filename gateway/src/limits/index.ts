/**
 * The gateway's edge limits (issue 11), in one place:
 * - operation limits and input hygiene (packages/server/src/limits.ts, shared with the subgraphs)
 *   and demand control (cost.ts), checked after validation and before planning, so a refused
 *   operation makes no subgraph fetch;
 * - a deadline per request (REQUEST_TIMEOUT_MS) around planning and execution: when it passes the
 *   request ends with REQUEST_TIMEOUT (HTTP 504) and its further subgraph fetches are refused;
 * - a response ceiling (RESPONSE_SIZE_MAX_BYTES) on the bytes of subgraph responses one request
 *   reads and on the response it sends: over it the request ends with RESPONSE_TOO_LARGE.
 * Whatever slips past the static limits thus ends in an error for that request, never the process.
 */
import type { ApolloGateway, GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import type { ApolloServerPlugin } from '@apollo/server';
import { getOperationAST, GraphQLError, type DocumentNode, type GraphQLSchema, type OperationDefinitionNode } from 'graphql';
import type { LimitSettings } from '@paygraph/config';
import { ErrorCode, isPublicCode } from '@paygraph/errors';
import { LimitCode, limitsParseOptions, operationLimitsPlugin } from '@paygraph/server';
import type { GatewayContext } from '../context';
import { SubgraphDataSource } from '../data-source';
import type { GatewayMetrics } from '../metrics';
import { actualCost, estimateCost, readCostDirectives, type CostDirectives } from './cost';

export { estimateCost, actualCost, readCostDirectives, MUTATION_COST } from './cost';

export const EdgeErrorCode = {
  /** Router's demand-control refusal. */
  COST_ESTIMATED_TOO_EXPENSIVE: 'COST_ESTIMATED_TOO_EXPENSIVE',
  /** Router's code for a request that outlived its deadline (HTTP 504). */
  REQUEST_TIMEOUT: 'REQUEST_TIMEOUT',
  /** Ours: the subgraph responses or the response of one request outgrew RESPONSE_SIZE_MAX_BYTES. */
  RESPONSE_TOO_LARGE: 'RESPONSE_TOO_LARGE',
} as const;

/** A subgraph's own limit refusals, passed through as they are. */
const SUBGRAPH_LIMIT_CODES: ReadonlySet<string> = new Set(Object.values(LimitCode));

/** What one request may still spend; kept beside its context object, never in a module global. */
class RequestBudget {
  readonly deadline: number;
  bytesLeft: number;
  expired = false;
  tooLarge = false;
  constructor(timeoutMs: number, bytes: number) {
    this.deadline = Date.now() + timeoutMs;
    this.bytesLeft = bytes;
  }
  get late(): boolean {
    return this.expired || Date.now() >= this.deadline;
  }
  get exhausted(): boolean {
    return this.tooLarge || this.late;
  }
  /** Marks the deadline passed; true the first time only, so the refusal is counted once. */
  expire(): boolean {
    if (this.expired) return false;
    this.expired = true;
    return true;
  }
}

export type EdgeSettings = Pick<
  LimitSettings,
  | 'OPERATION_DEPTH_MAX'
  | 'OPERATION_HEIGHT_MAX'
  | 'OPERATION_ALIASES_MAX'
  | 'OPERATION_ROOT_FIELDS_MAX'
  | 'OPERATION_TOKENS_MAX'
  | 'OPERATION_DIRECTIVES_PER_FIELD_MAX'
  | 'OPERATION_COST_MAX'
  | 'OPERATION_COST_LIST_SIZE_DEFAULT'
  | 'REQUEST_TIMEOUT_MS'
  | 'RESPONSE_SIZE_MAX_BYTES'
>;

export interface EdgeLimits {
  /** Apollo Server plugin: limits, hygiene, cost (estimated and actual), budgets. */
  plugin: ApolloServerPlugin<GatewayContext>;
  /** The gateway with a deadline and the response ceiling around each execution. */
  wrapGateway(gateway: ApolloGateway): Pick<ApolloGateway, 'onSchemaLoadOrUpdate' | 'load' | 'stop'>;
  /** The subgraph hop, refusing fetches past the deadline and responses past the ceiling. */
  dataSource: typeof SubgraphDataSource;
  /** Apollo's stringifyResult with the ceiling on the response sent. */
  stringifyResult(value: unknown): string;
  /**
   * The estimated cost of a query the gateway will run for a client later (a subscription's event
   * query), checked against OPERATION_COST_MAX on the current supergraph now: its refusal, or null.
   */
  checkCost(document: DocumentNode, variables: Record<string, unknown>): GraphQLError | null;
  /** Apollo's parseOptions: parsing stops past OPERATION_TOKENS_MAX tokens (MAX_TOKENS_LIMIT). */
  parseOptions: { maxTokens: number };
}

export const timeoutError = (settings: EdgeSettings) =>
  new GraphQLError(`Request timed out: REQUEST_TIMEOUT_MS is ${settings.REQUEST_TIMEOUT_MS}.`, {
    extensions: { code: EdgeErrorCode.REQUEST_TIMEOUT, http: { status: 504 } },
  });

export const tooLargeError = (settings: EdgeSettings) =>
  new GraphQLError(`Response too large: RESPONSE_SIZE_MAX_BYTES is ${settings.RESPONSE_SIZE_MAX_BYTES}.`, {
    extensions: { code: EdgeErrorCode.RESPONSE_TOO_LARGE, http: { status: 413 } },
  });

export function createEdgeLimits(settings: EdgeSettings, metrics: GatewayMetrics): EdgeLimits {
  const budgets = new WeakMap<object, RequestBudget>();
  let directives: CostDirectives = { typeWeights: new Map(), fieldWeights: new Map(), listSizes: new Map() };
  const costContext = (schema: GraphQLSchema, variables: Record<string, unknown> | undefined) => ({
    schema,
    directives,
    listSizeDefault: settings.OPERATION_COST_LIST_SIZE_DEFAULT,
    variables,
  });

  // An operation without variables always has the same estimated cost: computed once per operation
  // object (Apollo's document cache hands over the same one for the same text), per supergraph.
  let staticCosts = new WeakMap<object, number>();
  const estimate = (document: DocumentNode, operation: OperationDefinitionNode, schema: GraphQLSchema, variables: Record<string, unknown> | undefined): number => {
    if (operation.variableDefinitions && operation.variableDefinitions.length > 0) return estimateCost(document, operation, costContext(schema, variables));
    const known = staticCosts.get(operation);
    if (known !== undefined) return known;
    const cost = estimateCost(document, operation, costContext(schema, variables));
    staticCosts.set(operation, cost);
    return cost;
  };

  const costRefusal = (document: DocumentNode, operation: OperationDefinitionNode, schema: GraphQLSchema, variables: Record<string, unknown> | undefined): GraphQLError | null => {
    const cost = estimate(document, operation, schema, variables);
    metrics.observeCost('estimated', cost);
    if (cost <= settings.OPERATION_COST_MAX) return null;
    return new GraphQLError(`Operation estimated cost ${cost} exceeds OPERATION_COST_MAX (${settings.OPERATION_COST_MAX}).`, {
      extensions: { code: EdgeErrorCode.COST_ESTIMATED_TOO_EXPENSIVE, http: { status: 400 } },
    });
  };

  const limits = operationLimitsPlugin<GatewayContext>(settings, {
    onRefused: (code) => metrics.observeRefusal(code),
    afterChecks: ({ document, operation, schema, request }) => (operation ? costRefusal(document, operation, schema, request.variables) : null),
  });
  let apiSchema: GraphQLSchema | null = null;

  const plugin: ApolloServerPlugin<GatewayContext> = {
    async requestDidStart(requestContext) {
      budgets.set(requestContext.contextValue, new RequestBudget(settings.REQUEST_TIMEOUT_MS, settings.RESPONSE_SIZE_MAX_BYTES));
      const inner = await limits.requestDidStart!(requestContext);
      return {
        ...inner,
        async willSendResponse({ response, document, operation, schema, request }) {
          if (response.body.kind !== 'single' || !document || !operation) return;
          const data = response.body.singleResult.data;
          if (data) metrics.observeCost('actual', actualCost(document, operation, costContext(schema, request.variables), data));
        },
      };
    },
  };

  return {
    plugin,
    checkCost(document, variables) {
      const operation = getOperationAST(document);
      if (!apiSchema || !operation) return null;
      const refusal = costRefusal(document, operation, apiSchema, variables);
      if (refusal) metrics.observeRefusal(EdgeErrorCode.COST_ESTIMATED_TOO_EXPENSIVE);
      return refusal;
    },
    parseOptions: limitsParseOptions(settings),
    wrapGateway(gateway) {
      return {
        onSchemaLoadOrUpdate: (callback) =>
          gateway.onSchemaLoadOrUpdate((schemaContext) => {
            directives = readCostDirectives(schemaContext.coreSupergraphSdl);
            apiSchema = schemaContext.apiSchema;
            staticCosts = new WeakMap();
            callback(schemaContext);
          }),
        stop: () => gateway.stop(),
        async load(options) {
          const loaded = await gateway.load(options);
          const executor: typeof loaded.executor = async (requestContext) => {
            const budget = budgets.get(requestContext.context);
            if (!budget) return loaded.executor(requestContext);
            let timer: NodeJS.Timeout | undefined;
            const deadline = new Promise<never>((_resolve, reject) => {
              timer = setTimeout(() => {
                if (budget.expire()) metrics.observeRefusal(EdgeErrorCode.REQUEST_TIMEOUT);
                reject(timeoutError(settings));
              }, Math.max(0, budget.deadline - Date.now()));
            });
            try {
              const result = await Promise.race([loaded.executor(requestContext), deadline]);
              if (budget.tooLarge) {
                metrics.observeRefusal(EdgeErrorCode.RESPONSE_TOO_LARGE);
                throw tooLargeError(settings);
              }
              // The timer cannot interrupt the gateway's own synchronous work (planning a huge
              // operation, merging large subgraph results): when that outlasts the deadline a query
              // still ends with REQUEST_TIMEOUT, as soon as the gateway has control again, with no
              // partial data. A mutation that completed is answered with its result all the same:
              // its effects are committed, and a timeout would send the client to retry it (a
              // createOrder has no idempotency key to make that retry harmless).
              if (budget.late && requestContext.operation?.operation !== 'mutation') {
                if (budget.expire()) metrics.observeRefusal(EdgeErrorCode.REQUEST_TIMEOUT);
                throw timeoutError(settings);
              }
              return result;
            } finally {
              clearTimeout(timer);
            }
          };
          return { ...loaded, executor };
        },
      };
    },
    dataSource: class LimitedDataSource extends SubgraphDataSource {
      override async process(options: GraphQLDataSourceProcessOptions<GatewayContext>) {
        const budget = options.context ? budgets.get(options.context) : undefined;
        // Past the deadline or the ceiling nothing more is fetched for this request.
        if (budget?.exhausted) throw budget.tooLarge ? tooLargeError(settings) : timeoutError(settings);
        return super.process(options);
      }

      /**
       * A subgraph that refuses a request with HTTP 4xx and no public code (a literal its scalar
       * rejects fails its validation: GRAPHQL_VALIDATION_FAILED) was given bad input: the client
       * gets BAD_USER_INPUT with the subgraph's message (it describes the request), not an internal
       * error. A subgraph's own limit refusal keeps its code.
       */
      override async errorFromResponse(response: Parameters<SubgraphDataSource['errorFromResponse']>[0]): Promise<GraphQLError> {
        const error = await super.errorFromResponse(response);
        if (isPublicCode(error.extensions.code) || response.status < 400 || response.status >= 500) return error;
        const body = (error.extensions.response as { body?: { errors?: { message?: unknown; extensions?: Record<string, unknown> }[] } } | undefined)?.body;
        const first = body?.errors?.[0];
        if (!first || typeof first.message !== 'string') return error;
        const code = first.extensions?.code;
        if (typeof code === 'string' && SUBGRAPH_LIMIT_CODES.has(code)) return new GraphQLError(first.message, { extensions: { code } });
        return new GraphQLError(first.message, { extensions: { code: ErrorCode.BAD_USER_INPUT } });
      }

      override async parseBody(fetchResponse: Parameters<SubgraphDataSource['parseBody']>[0], fetchRequest?: unknown, context?: GatewayContext): Promise<object | string> {
        const text = await fetchResponse.text();
        const budget = context ? budgets.get(context) : undefined;
        if (budget) {
          // Bytes, as RESPONSE_SIZE_MAX_BYTES says: a character outside ASCII is 2 to 4 of them.
          budget.bytesLeft -= Buffer.byteLength(text);
          // Refused before JSON.parse, which would hold several times the text in memory.
          if (budget.bytesLeft < 0) {
            budget.tooLarge = true;
            throw tooLargeError(settings);
          }
        }
        const contentType = fetchResponse.headers.get('content-type') ?? '';
        return contentType.startsWith('application/json') || contentType.startsWith('application/graphql-response+json') ? (JSON.parse(text) as object) : text;
      }
    },
    stringifyResult(value) {
      const text = JSON.stringify(value);
      // Characters never exceed bytes; count bytes only when it could matter.
      if (text.length * 3 <= settings.RESPONSE_SIZE_MAX_BYTES || Buffer.byteLength(text) <= settings.RESPONSE_SIZE_MAX_BYTES) return text;
      metrics.observeRefusal(EdgeErrorCode.RESPONSE_TOO_LARGE);
      const error = tooLargeError(settings);
      return JSON.stringify({ errors: [{ message: error.message, extensions: { code: EdgeErrorCode.RESPONSE_TOO_LARGE } }] });
    },
  };
}
