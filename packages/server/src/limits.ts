/**
 * Operation limits and input hygiene, shared by the gateway (before planning, before any subgraph
 * call) and every subgraph (which may be reached directly). The refusal codes are Apollo Router's
 * (MAX_DEPTH_LIMIT, MAX_HEIGHT_LIMIT, MAX_ALIASES_LIMIT, MAX_ROOT_FIELDS_LIMIT) plus two of ours for
 * what the Router has no code for (MAX_TOKENS_LIMIT, MAX_DIRECTIVES_LIMIT), so a client sees the
 * same thing here and after a move to the Router.
 */
import type { ApolloServerPlugin, BaseContext, GraphQLRequestContextDidResolveOperation } from '@apollo/server';
import {
  GraphQLError,
  Kind,
  Lexer,
  Source,
  TokenKind,
  getNamedType,
  getNullableType,
  isInputObjectType,
  isListType,
  isObjectType,
  isInterfaceType,
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLInputType,
  type GraphQLNamedType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValueNode,
} from 'graphql';
import { loadLimitSettings, type LimitSettings } from '@paygraph/config';
import { badUserInput } from '@paygraph/errors';
import { CUSTOM_SCALAR_NAMES, notAStringLiteral, scalarProblem } from '@paygraph/scalars';

export type OperationLimits = Pick<
  LimitSettings,
  'OPERATION_DEPTH_MAX' | 'OPERATION_HEIGHT_MAX' | 'OPERATION_ALIASES_MAX' | 'OPERATION_ROOT_FIELDS_MAX' | 'OPERATION_TOKENS_MAX' | 'OPERATION_DIRECTIVES_PER_FIELD_MAX'
>;

export const LimitCode = {
  MAX_DEPTH_LIMIT: 'MAX_DEPTH_LIMIT',
  MAX_HEIGHT_LIMIT: 'MAX_HEIGHT_LIMIT',
  MAX_ALIASES_LIMIT: 'MAX_ALIASES_LIMIT',
  MAX_ROOT_FIELDS_LIMIT: 'MAX_ROOT_FIELDS_LIMIT',
  MAX_TOKENS_LIMIT: 'MAX_TOKENS_LIMIT',
  MAX_DIRECTIVES_LIMIT: 'MAX_DIRECTIVES_LIMIT',
} as const;
export type LimitCode = (typeof LimitCode)[keyof typeof LimitCode];

/** A refusal before execution: HTTP 400, the limit's code, a message naming the limit. */
export function limitError(code: string, message: string, status = 400): GraphQLError {
  return new GraphQLError(message, { extensions: { code, http: { status } } });
}

/** No operation of the document is the one to run: 400 OPERATION_RESOLUTION_FAILURE (Apollo Server's code). */
export function operationResolutionError(operationName: string | null | undefined): GraphQLError {
  const message = operationName
    ? `Unknown operation named ${JSON.stringify(operationName.length > 100 ? `${operationName.slice(0, 100)}...` : operationName)}.`
    : 'Must provide an operation name when the document holds several operations.';
  return limitError('OPERATION_RESOLUTION_FAILURE', message);
}

/**
 * Counts the lexical tokens of a document without parsing it, stopping at `max + 1` (so a huge
 * document costs no more than the limit). A lexical error ends the count: the parser reports it.
 */
export function countTokens(source: string, max: number): number {
  const lexer = new Lexer(new Source(source));
  let count = 0;
  try {
    while (count <= max && lexer.advance().kind !== TokenKind.EOF) count += 1;
  } catch {
    // Syntax error: let the parser say so.
  }
  return count;
}

export interface OperationShape {
  depth: number;
  height: number;
  aliases: number;
  rootFields: number;
  directivesPerField: number;
  /** The most fragments (inline or spread) entered one inside the other with no field between them. */
  fragmentNesting: number;
  /** Every root field is __schema, __type or __typename (an IDE or codegen loading the schema). */
  introspectionOnly: boolean;
}

const INTROSPECTION_ROOT_FIELDS: ReadonlySet<string> = new Set(['__schema', '__type', '__typename']);

/**
 * Fragments nested one directly inside the other (`...{ ...{ ... } }`, or spreads of fragments
 * that only spread others) at most, with no field between them; refused as MAX_DEPTH_LIMIT beyond.
 * Depth counts fields only, so without this bound a few kilobytes of `...{` nest a thousand levels
 * deep: the query planner's recursion then overflows the stack (an internal error, not a refusal),
 * and a walk that gives up early (the rate limiter counting root mutations) undercounts. Component
 * fragments nest a handful deep in practice; 32 leaves ample room.
 */
export const FRAGMENT_NESTING_MAX = 32;

/**
 * Measures an operation with its fragments expanded. The walk is bounded: it does not descend past
 * `depthCut` and stops counting after `visitsMax` field visits (a document of a few kilobytes can
 * spread fragments into millions of fields), in which case the height is reported as above it.
 */
export function measureOperation(
  document: DocumentNode,
  operation: OperationDefinitionNode,
  bounds: { depthCut: number; visitsMax: number },
): OperationShape {
  const fragments = new Map<string, FragmentDefinitionNode>();
  let directivesPerField = 0;
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  const shape: OperationShape = { depth: 0, height: 0, aliases: 0, rootFields: 0, directivesPerField: 0, fragmentNesting: 0, introspectionOnly: true };
  const seen = new Set<string>();
  let visits = 0;
  const walk = (selectionSet: SelectionSetNode, depth: number, path: string, activeFragments: ReadonlySet<string>, nesting = 0): void => {
    shape.fragmentNesting = Math.max(shape.fragmentNesting, nesting);
    // Past the bound the operation is refused anyway: never descend further.
    if (nesting > FRAGMENT_NESTING_MAX) return;
    for (const selection of selectionSet.selections) {
      if (visits > bounds.visitsMax) return;
      directivesPerField = Math.max(directivesPerField, selection.directives?.length ?? 0);
      if (selection.kind === Kind.FIELD) {
        visits += 1;
        if (depth === 1) {
          shape.rootFields += 1;
          if (!INTROSPECTION_ROOT_FIELDS.has(selection.name.value)) shape.introspectionOnly = false;
        }
        if (selection.alias) shape.aliases += 1;
        shape.depth = Math.max(shape.depth, depth);
        const key = `${path}.${selection.alias?.value ?? selection.name.value}`;
        if (!seen.has(key)) {
          seen.add(key);
          shape.height += 1;
        }
        if (selection.selectionSet && depth < bounds.depthCut) walk(selection.selectionSet, depth + 1, key, activeFragments);
        else if (selection.selectionSet) shape.depth = Math.max(shape.depth, depth + 1);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        walk(selection.selectionSet, depth, path, activeFragments, nesting + 1);
      } else {
        const name = selection.name.value;
        const fragment = fragments.get(name);
        // A cycle is a validation error; never follow one here.
        if (!fragment || activeFragments.has(name)) continue;
        walk(fragment.selectionSet, depth, path, new Set([...activeFragments, name]), nesting + 1);
      }
    }
  };
  walk(operation.selectionSet, 1, '', new Set());
  if (visits > bounds.visitsMax) shape.height = Math.max(shape.height, bounds.visitsMax + 1);
  shape.directivesPerField = directivesPerField;
  return shape;
}

/**
 * The first limit an operation breaks, in a fixed precedence: depth (of fields, then of fragments
 * nested without a field between them), height, root fields, aliases, directives. An introspection-only operation is exempt from depth and height (see below).
 */
export function checkOperationShape(shape: OperationShape, limits: OperationLimits): GraphQLError | null {
  // The schema's own introspection nests `ofType` a dozen levels deep (GraphiQL's query); its
  // cycles (fields { type { fields ... } }) are bounded by graphql-js's MaxIntrospectionDepthRule,
  // a standard validation rule, so depth and height do not apply to it.
  if (shape.depth > limits.OPERATION_DEPTH_MAX && !shape.introspectionOnly) {
    return limitError(LimitCode.MAX_DEPTH_LIMIT, `Maximum depth limit exceeded in this operation: OPERATION_DEPTH_MAX is ${limits.OPERATION_DEPTH_MAX}.`);
  }
  if (shape.fragmentNesting > FRAGMENT_NESTING_MAX) {
    return limitError(LimitCode.MAX_DEPTH_LIMIT, `Maximum depth limit exceeded in this operation: fragments nest at most ${FRAGMENT_NESTING_MAX} deep with no field between them.`);
  }
  if (shape.height > limits.OPERATION_HEIGHT_MAX && !shape.introspectionOnly) {
    return limitError(LimitCode.MAX_HEIGHT_LIMIT, `Maximum height (field count) limit exceeded in this operation: OPERATION_HEIGHT_MAX is ${limits.OPERATION_HEIGHT_MAX}.`);
  }
  if (shape.rootFields > limits.OPERATION_ROOT_FIELDS_MAX) {
    return limitError(LimitCode.MAX_ROOT_FIELDS_LIMIT, `Maximum root fields limit exceeded in this operation: OPERATION_ROOT_FIELDS_MAX is ${limits.OPERATION_ROOT_FIELDS_MAX}.`);
  }
  if (shape.aliases > limits.OPERATION_ALIASES_MAX) {
    return limitError(LimitCode.MAX_ALIASES_LIMIT, `Maximum aliases limit exceeded in this operation: OPERATION_ALIASES_MAX is ${limits.OPERATION_ALIASES_MAX}.`);
  }
  if (shape.directivesPerField > limits.OPERATION_DIRECTIVES_PER_FIELD_MAX) {
    return limitError(
      LimitCode.MAX_DIRECTIVES_LIMIT,
      `Maximum directives per field limit exceeded in this operation: OPERATION_DIRECTIVES_PER_FIELD_MAX is ${limits.OPERATION_DIRECTIVES_PER_FIELD_MAX}.`,
    );
  }
  return null;
}

export function tokensError(limits: OperationLimits): GraphQLError {
  return limitError(LimitCode.MAX_TOKENS_LIMIT, `Maximum tokens limit exceeded in this document: OPERATION_TOKENS_MAX is ${limits.OPERATION_TOKENS_MAX}.`);
}

/** Input fields holding free text, where tab, line feed and carriage return are allowed. */
export const FREE_TEXT_FIELD_NAMES: ReadonlySet<string> = new Set(['description', 'reason', 'note', 'notes', 'comment', 'message']);
// C0 control characters (U+0000 to U+001F); free text keeps \t, \n and \r.
const controlCharacter = /[\u0000-\u001f]/;
const controlCharacterInFreeText = /[\u0000-\u0008\u000b\u000c\u000e-\u001f]/;

// A UTF-16 surrogate without its pair (JSON's "\ud800"): no Unicode character. Stored, it became
// U+FFFD in some columns and an internal error in JSON ones (the ledger's), so it is refused.
const unpairedSurrogate = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
/** True when the string holds half of a UTF-16 surrogate pair (what input hygiene refuses). */
export const hasUnpairedSurrogate = (value: string): boolean => unpairedSurrogate.test(value);

function stringProblem(value: string, fieldName: string, typeName: string): string | null {
  const pattern = FREE_TEXT_FIELD_NAMES.has(fieldName) ? controlCharacterInFreeText : controlCharacter;
  if (pattern.test(value)) return FREE_TEXT_FIELD_NAMES.has(fieldName) ? 'must not contain control characters other than tab and line breaks' : 'must not contain control characters';
  if (unpairedSurrogate.test(value)) return 'must be Unicode text (it holds half of a UTF-16 surrogate pair)';
  return scalarProblem(typeName, value);
}

/** Input values visited at most, per operation (a bounded walk; the token limit bounds literals). */
const INPUT_VALUES_VISITED_MAX = 100_000;

/**
 * Input hygiene in one place: every string reaching an argument (literal or variable, nested in
 * input objects and lists) is refused as BAD_USER_INPUT with its field when it holds a C0 control
 * character (tab and line breaks aside in free text), and every Amount, Currency and DateTime
 * must be one as its scalar parses it (a DateTime a real calendar date in years 0001-9999), written
 * as a string. Runs at the gateway (so nothing reaches a subgraph: the gateway's copies of the
 * scalars accept anything) and in each subgraph; the field is the argument's path either way.
 */
export function checkInputs(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  variables: Record<string, unknown> | undefined,
): GraphQLError | null {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  // A variable the request leaves out takes its default from the document: that literal is input too.
  const defaults = new Map<string, ValueNode>();
  for (const definition of operation.variableDefinitions ?? []) {
    if (definition.defaultValue) defaults.set(definition.variable.name.value, definition.defaultValue);
  }
  let visited = 0;
  let problem: GraphQLError | null = null;

  const checkRuntime = (value: unknown, type: GraphQLInputType, path: string, fieldName: string): void => {
    if (problem || visited++ > INPUT_VALUES_VISITED_MAX || value === null || value === undefined) return;
    const nullable = getNullableType(type);
    if (isListType(nullable)) {
      if (!Array.isArray(value)) return checkRuntime(value, nullable.ofType, path, fieldName);
      value.forEach((item, index) => checkRuntime(item, nullable.ofType, `${path}.${index}`, fieldName));
      return;
    }
    if (isInputObjectType(nullable)) {
      if (typeof value !== 'object') return;
      const fields = nullable.getFields();
      for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
        const field = fields[key];
        if (field) checkRuntime(item, field.type, `${path}.${key}`, key);
      }
      return;
    }
    const typeName = (nullable as GraphQLNamedType).name;
    const reason = typeof value === 'string' ? stringProblem(value, fieldName, typeName) : scalarProblem(typeName, value);
    if (reason) problem = badUserInput(`${path} ${reason}.`, path);
  };

  const checkLiteral = (node: ValueNode, type: GraphQLInputType, path: string, fieldName: string): void => {
    if (problem || visited++ > INPUT_VALUES_VISITED_MAX) return;
    if (node.kind === Kind.VARIABLE) {
      const name = node.name.value;
      const fallback = variables?.[name] === undefined ? defaults.get(name) : undefined;
      return fallback ? checkLiteral(fallback, type, path, fieldName) : checkRuntime(variables?.[name], type, path, fieldName);
    }
    const nullable = getNullableType(type);
    if (node.kind === Kind.LIST) {
      const itemType = isListType(nullable) ? nullable.ofType : type;
      node.values.forEach((item, index) => checkLiteral(item, itemType, `${path}.${index}`, fieldName));
      return;
    }
    if (node.kind === Kind.OBJECT) {
      if (!isInputObjectType(nullable)) return;
      const fields = nullable.getFields();
      for (const field of node.fields) {
        const definition = fields[field.name.value];
        if (definition) checkLiteral(field.value, definition.type, `${path}.${field.name.value}`, field.name.value);
      }
      return;
    }
    const typeName = getNamedType(nullable)?.name ?? '';
    if (node.kind === Kind.STRING) {
      const reason = stringProblem(node.value, fieldName, typeName);
      if (reason) problem = badUserInput(`${path} ${reason}.`, path);
    } else if (node.kind !== Kind.NULL && CUSTOM_SCALAR_NAMES.has(typeName)) {
      problem = badUserInput(`${path} ${notAStringLiteral(typeName)}.`, path);
    }
  };

  const walk = (selectionSet: SelectionSetNode, parent: GraphQLNamedType | undefined | null, activeFragments: ReadonlySet<string>): void => {
    for (const selection of selectionSet.selections) {
      if (problem || visited > INPUT_VALUES_VISITED_MAX) return;
      if (selection.kind === Kind.FIELD) {
        visited += 1;
        const definition = parent && (isObjectType(parent) || isInterfaceType(parent)) ? parent.getFields()[selection.name.value] : undefined;
        if (!definition) continue;
        for (const argument of selection.arguments ?? []) {
          const argumentDefinition = definition.args.find((candidate) => candidate.name === argument.name.value);
          if (argumentDefinition) checkLiteral(argument.value, argumentDefinition.type, argument.name.value, argument.name.value);
        }
        if (selection.selectionSet) walk(selection.selectionSet, getNamedType(definition.type), activeFragments);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        walk(selection.selectionSet, selection.typeCondition ? schema.getType(selection.typeCondition.name.value) : parent, activeFragments);
      } else {
        const fragment = fragments.get(selection.name.value);
        if (!fragment || activeFragments.has(selection.name.value)) continue;
        walk(fragment.selectionSet, schema.getType(fragment.typeCondition.name.value), new Set([...activeFragments, selection.name.value]));
      }
    }
  };
  walk(operation.selectionSet, schema.getRootType(operation.operation), new Set());
  return problem;
}

export interface LimitsHooks<TContext extends BaseContext> {
  /** Called with every refusal (metrics). */
  onRefused?: (code: string, context: TContext) => void;
  /** A further check once the shape and the inputs passed (the gateway's cost); its error refuses the request. */
  afterChecks?: (request: GraphQLRequestContextDidResolveOperation<TContext>) => GraphQLError | null;
}

/** graphql-js's message when parse() stops at maxTokens. */
const tokenLimitMessage = /^Syntax Error: Document contains more tha[nt] \d+ tokens\. Parsing aborted\.$/; // graphql 16 writes "more that"

/** Apollo Server's parseOptions that stop parsing a document past OPERATION_TOKENS_MAX tokens. */
export function limitsParseOptions(limits: Pick<OperationLimits, 'OPERATION_TOKENS_MAX'>): { maxTokens: number } {
  return { maxTokens: limits.OPERATION_TOKENS_MAX };
}

/** Documents that already passed (by query hash), so a repeated operation skips the walk; bounded. */
const PASSED_DOCUMENTS_MAX = 1_000;

/**
 * The Apollo Server plugin that enforces the operation limits and input hygiene. The token limit is
 * graphql-js's own (parse stops at limitsParseOptions' maxTokens, so a huge document costs no more
 * than the limit); the shape is checked after validation (before execution, so before planning at
 * the gateway). Use both.
 */
export function operationLimitsPlugin<TContext extends BaseContext>(
  limits: OperationLimits,
  hooks: LimitsHooks<TContext> = {},
): ApolloServerPlugin<TContext> {
  const passed = new Set<string>();
  const remember = (key: string) => {
    if (passed.size >= PASSED_DOCUMENTS_MAX) passed.clear();
    passed.add(key);
  };
  return {
    async requestDidStart() {
      return {
        // graphql-js stops parsing at parseOptions.maxTokens (see limitsParseOptions) with a syntax
        // error; it is given the limit's own code and message here, before it is formatted.
        async didEncounterErrors({ errors, contextValue }) {
          for (const error of errors) {
            if (error.extensions.code !== 'GRAPHQL_PARSE_FAILED' || !tokenLimitMessage.test(error.message)) continue;
            const refusal = tokensError(limits);
            (error as { message: string }).message = refusal.message;
            Object.assign(error.extensions as Record<string, unknown>, { code: LimitCode.MAX_TOKENS_LIMIT });
            hooks.onRefused?.(LimitCode.MAX_TOKENS_LIMIT, contextValue);
          }
        },
        async didResolveOperation(requestContext) {
          const { document, operation, operationName, queryHash, schema, request, contextValue } = requestContext;
          // No operation to run (operationName names none, or several named operations and no
          // operationName): a client error. Left to the gateway's executor it was an internal
          // error with HTTP 500. (Two anonymous operations fail validation before this.)
          if (!operation) throw operationResolutionError(request.operationName);
          const key = `${queryHash}:${operationName ?? ''}`;
          if (!passed.has(key)) {
            const shape = measureOperation(document, operation, {
              depthCut: limits.OPERATION_DEPTH_MAX + 1,
              visitsMax: Math.max(limits.OPERATION_TOKENS_MAX, limits.OPERATION_HEIGHT_MAX),
            });
            const refusal = checkOperationShape(shape, limits);
            if (refusal) {
              hooks.onRefused?.(refusal.extensions.code as string, contextValue);
              throw refusal;
            }
            remember(key);
          }
          const problem = checkInputs(schema, document, operation, request.variables);
          if (problem) {
            hooks.onRefused?.('BAD_USER_INPUT', contextValue);
            throw new GraphQLError(problem.message, { extensions: { ...problem.extensions, http: { status: 400 } } });
          }
          const refusal = hooks.afterChecks?.(requestContext);
          if (refusal) {
            hooks.onRefused?.(refusal.extensions.code as string, contextValue);
            throw refusal;
          }
        },
      };
    },
  };
}

/**
 * What a subgraph applies: the same limits from the environment, with one more level of depth (the
 * gateway's entity fetches wrap the client's selection in `_entities`) and twice the height (the
 * query planner adds `__typename` and key fields at every entity boundary).
 */
export function subgraphLimitsPlugin<TContext extends BaseContext>(env: NodeJS.ProcessEnv = process.env): ApolloServerPlugin<TContext> {
  const settings = loadLimitSettings(env);
  return operationLimitsPlugin<TContext>({
    ...settings,
    OPERATION_DEPTH_MAX: settings.OPERATION_DEPTH_MAX + SUBGRAPH_DEPTH_EXTRA,
    OPERATION_HEIGHT_MAX: settings.OPERATION_HEIGHT_MAX * SUBGRAPH_HEIGHT_FACTOR,
  });
}

/** The `_entities` level the gateway adds above a client's selection. */
const SUBGRAPH_DEPTH_EXTRA = 1;
/** Room for the `__typename` and key fields the query planner adds to a client's selection. */
const SUBGRAPH_HEIGHT_FACTOR = 2;

/**
 * The Apollo options every subgraph adds to the base ones: the limits plugin, no field suggestions
 * in production, introspection only outside production or with INTROSPECTION=on.
 */
export function subgraphEdgeOptions<TContext extends BaseContext>(
  base: { plugins?: ApolloServerPlugin<TContext>[] },
  env: NodeJS.ProcessEnv = process.env,
): { plugins: ApolloServerPlugin<TContext>[]; parseOptions: { maxTokens: number }; hideSchemaDetailsFromClientErrors: boolean; introspection: boolean } {
  const production = env.NODE_ENV === 'production';
  return {
    plugins: [...(base.plugins ?? []), subgraphLimitsPlugin<TContext>(env)],
    parseOptions: limitsParseOptions(loadLimitSettings(env)),
    hideSchemaDetailsFromClientErrors: production,
    introspection: !production || loadLimitSettings(env).INTROSPECTION === 'on',
  };
}
