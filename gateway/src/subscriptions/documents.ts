/**
 * Subscription documents: a subscribe message's text checked once (the HTTP operation limits,
 * parse, validation against the subscription schema, one `paymentStatusChanged` root) and turned
 * into the payload query each event runs, which the limits check too; then its arguments read. Documents are kept by text, so
 * subscribers sending the same text share one prepared copy, until the schema changes.
 */
import { getArgumentValues, getOperationAST, getVariableValues, GraphQLError, Kind, parse, validate, type DocumentNode, type FieldNode, type GraphQLSchema } from 'graphql';
import { apiError } from '@paygraph/errors';
import { BIGINT_MAX, checkOperationShape, countTokens, hasUnpairedSurrogate, measureOperation, tokensError, variableCoercion, type OperationLimits } from '@paygraph/server';
import { SUBSCRIPTION_FIELD } from './schema';
import { buildPayloadQuery } from './selection';

/** Field visits measured per document before giving up (as the HTTP limits do). */
const MEASURE_VISITS_MAX = 10_000;
/** Prepared documents kept (the oldest goes first). */
const DOCUMENTS_MAX = 1_000;
/**
 * Characters of document text the kept documents may hold in all (their parsed forms are a few
 * times more): a client sending a thousand distinct texts of a megabyte each pinned about 1.6 GB
 * of heap until the schema changed, which a static supergraph never does (found by the
 * subscriptions probe).
 */
export const DOCUMENT_TEXT_CHARS_MAX = 4 * 1024 * 1024;

export interface Prepared {
  document: DocumentNode;
  operation: NonNullable<ReturnType<typeof getOperationAST>>;
  root: FieldNode;
  payloadQuery: ReturnType<typeof buildPayloadQuery>;
  /** Names the payload query in the per-event cache key (cheaper than its text). */
  queryId: number;
}

export type Refused = { errors: readonly GraphQLError[] };

/** What a subscribe message asks for, once its variables are coerced. */
export interface SubscriptionArguments {
  paymentId: string | null;
  /** Replay after this sequence (exclusive); null: live only. */
  after: bigint | null;
}

export function createDocuments(options: { operationLimits?: OperationLimits | undefined }) {
  let documents = new Map<string, Prepared | Refused>();
  /** Characters of the keys in `documents`. */
  let textChars = 0;
  let preparedCount = 0;

  function prepareUncached(schema: GraphQLSchema, query: string, operationName: string | null): Prepared | Refused {
    const limits = options.operationLimits;
    if (limits && countTokens(query, limits.OPERATION_TOKENS_MAX) > limits.OPERATION_TOKENS_MAX) return { errors: [tokensError(limits)] };
    let document: DocumentNode;
    try {
      document = parse(query, { noLocation: true });
    } catch (error) {
      return { errors: [new GraphQLError((error as Error).message, { extensions: { code: 'GRAPHQL_PARSE_FAILED' } })] };
    }
    const invalid = validate(schema, document);
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
    // The names the gateway adds (`__typename`, the alias `__visible`, `$__paymentId`) can clash with
    // the client's; a query that would not validate is refused now, not answered
    // SERVICE_UNAVAILABLE at every event (and again at every resume).
    const payloadInvalid = validate(schema, payloadQuery.document);
    if (payloadInvalid.length > 0) {
      return {
        errors: [
          new GraphQLError(`This selection cannot run for each event: ${payloadInvalid[0]!.message} The gateway adds \`__typename\`, a field aliased \`__visible\` and the variable \`$__paymentId\` to the query each event runs: choose other aliases and variable names.`, {
            extensions: { code: 'GRAPHQL_VALIDATION_FAILED' },
          }),
        ],
      };
    }
    if (limits) {
      // Each event runs the payload query through the HTTP pipeline and the subgraphs' limits: what
      // it would break is refused now, with its code, instead of failing every event.
      const payloadOperation = getOperationAST(payloadQuery.document)!;
      const refused = checkOperationShape(measureOperation(payloadQuery.document, payloadOperation, { depthCut: limits.OPERATION_DEPTH_MAX + 1, visitsMax: MEASURE_VISITS_MAX }), limits);
      if (refused) {
        return { errors: [new GraphQLError(`${refused.message} (Counted in the query each event runs: every \`payment\` selection is a root field there, and the gateway adds one more, aliased, and \`__typename\` to each selection.)`, { extensions: refused.extensions })] };
      }
    }
    return { document, operation, root, payloadQuery, queryId: (preparedCount += 1) };
  }

  return {
    /** The prepared document for this text and operation name, or why it is refused. */
    prepare(schema: GraphQLSchema, query: string, operationName: string | null): Prepared | Refused {
      const key = `${operationName ?? ''}\u0000${query}`;
      let found = documents.get(key);
      if (!found) {
        found = prepareUncached(schema, query, operationName);
        // A document larger than the whole budget is prepared for this subscribe alone.
        if (key.length > DOCUMENT_TEXT_CHARS_MAX) return found;
        while (documents.size > 0 && (documents.size >= DOCUMENTS_MAX || textChars + key.length > DOCUMENT_TEXT_CHARS_MAX)) {
          const oldest = documents.keys().next().value!;
          documents.delete(oldest);
          textChars -= oldest.length;
        }
        documents.set(key, found);
        textChars += key.length;
      }
      return found;
    },
    /** Forgets every prepared document (they were validated against the previous schema). */
    clear() {
      documents = new Map();
      textChars = 0;
    },
    /** How many documents are kept and the characters of their texts (tests). */
    kept: () => ({ documents: documents.size, textChars }),
  };
}

/** The subscription's variables coerced and its arguments (`paymentId`, `after`) checked. */
export function readArguments(schema: GraphQLSchema, prepared: Prepared, variables: Record<string, unknown>): SubscriptionArguments | Refused {
  const coerced = getVariableValues(schema, prepared.operation.variableDefinitions ?? [], variables);
  if (coerced.errors) {
    // As over HTTP: the variable's path as the field, and the message without the value sent.
    const errors = coerced.errors.map((error) => {
      const named = variableCoercion(error.message);
      return apiError('BAD_USER_INPUT', named?.message ?? error.message, named ? { field: named.field } : {});
    });
    return { errors };
  }
  const args = getArgumentValues(schema.getSubscriptionType()!.getFields()[SUBSCRIPTION_FIELD]!, prepared.root, coerced.coerced) as { paymentId?: string | null; after?: string | null };
  const paymentId = args.paymentId ?? null;
  if (paymentId !== null && /[\u0000-\u001f]/.test(paymentId)) return { errors: [apiError('BAD_USER_INPUT', 'paymentId must not contain control characters.', { field: 'paymentId' })] };
  // Half of a UTF-16 surrogate pair, as HTTP's input hygiene refuses it (it was NOT_FOUND here).
  if (paymentId !== null && hasUnpairedSurrogate(paymentId)) return { errors: [apiError('BAD_USER_INPUT', 'paymentId must be Unicode text (it holds half of a UTF-16 surrogate pair).', { field: 'paymentId' })] };
  let after: bigint | null = null;
  if (args.after !== undefined && args.after !== null) {
    // A sequence is a PostgreSQL bigint: a larger number is no sequence (the log read failed on it, answered as retryable).
    if (!/^\d{1,19}$/.test(args.after) || BigInt(args.after) > BIGINT_MAX) return { errors: [apiError('BAD_USER_INPUT', 'after must be a sequence received earlier (a non-negative integer).', { field: 'after' })] };
    after = BigInt(args.after);
  }
  return { paymentId, after };
}
