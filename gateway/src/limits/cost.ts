/**
 * Demand control: the cost of an operation as Apollo Router's static estimator computes it, from
 * the `@cost` and `@listSize` directives the subgraphs declare (Federation 2.9, composed into the
 * supergraph). Objects (and interfaces, unions) cost 1, scalars and enums 0, a mutation adds 10, a
 * field's `@cost(weight:)` replaces its type's cost, and a list multiplies its elements by the value
 * of its slicing argument (`first`), else its `assumedSize`, else a default list size.
 * Connections name their list in `sizedFields` (`edges`), which then gets the size.
 * The actual cost applies the same rules to the response, with the lists' real lengths.
 */
import {
  Kind,
  getNamedType,
  getNullableType,
  isCompositeType,
  isInterfaceType,
  isListType,
  isObjectType,
  parse,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValueNode,
} from 'graphql';

/** Router's extra weight of a mutation operation. */
export const MUTATION_COST = 10;

interface ListSize {
  assumedSize?: number;
  slicingArguments?: string[];
  sizedFields?: string[];
}

/** The demand-control directives of a supergraph, by type and by `Type.field`. */
export interface CostDirectives {
  typeWeights: Map<string, number>;
  fieldWeights: Map<string, number>;
  listSizes: Map<string, ListSize>;
}

function intArgument(value: ValueNode | undefined): number | undefined {
  return value?.kind === Kind.INT ? Number(value.value) : undefined;
}

function stringsArgument(value: ValueNode | undefined): string[] | undefined {
  if (!value) return undefined;
  if (value.kind === Kind.STRING) return [value.value];
  if (value.kind !== Kind.LIST) return undefined;
  return value.values.flatMap((item) => (item.kind === Kind.STRING ? [item.value] : []));
}

/** Reads `@cost` and `@listSize` from supergraph SDL (names as the cost spec's link imports them). */
export function readCostDirectives(supergraphSdl: string): CostDirectives {
  const result: CostDirectives = { typeWeights: new Map(), fieldWeights: new Map(), listSizes: new Map() };
  const document = parse(supergraphSdl, { noLocation: true });
  const isCost = (name: string) => name === 'cost' || name === 'federation__cost';
  const isListSize = (name: string) => name === 'listSize' || name === 'federation__listSize';
  for (const definition of document.definitions) {
    if (!('name' in definition) || !definition.name || !('directives' in definition)) continue;
    const typeName = definition.name.value;
    for (const directive of definition.directives ?? []) {
      if (!isCost(directive.name.value)) continue;
      const weight = intArgument(directive.arguments?.find((argument) => argument.name.value === 'weight')?.value);
      if (weight !== undefined) result.typeWeights.set(typeName, weight);
    }
    if (!('fields' in definition) || !definition.fields) continue;
    for (const field of definition.fields) {
      const key = `${typeName}.${field.name.value}`;
      for (const directive of field.directives ?? []) {
        const argument = (name: string) => directive.arguments?.find((candidate) => candidate.name.value === name)?.value;
        if (isCost(directive.name.value)) {
          const weight = intArgument(argument('weight'));
          if (weight !== undefined) result.fieldWeights.set(key, weight);
        } else if (isListSize(directive.name.value)) {
          const listSize: ListSize = {};
          const assumedSize = intArgument(argument('assumedSize'));
          const slicingArguments = stringsArgument(argument('slicingArguments'));
          const sizedFields = stringsArgument(argument('sizedFields'));
          if (assumedSize !== undefined) listSize.assumedSize = assumedSize;
          if (slicingArguments) listSize.slicingArguments = slicingArguments;
          if (sizedFields) listSize.sizedFields = sizedFields;
          result.listSizes.set(key, listSize);
        }
      }
    }
  }
  return result;
}

export interface CostContext {
  schema: GraphQLSchema;
  directives: CostDirectives;
  listSizeDefault: number;
  variables: Record<string, unknown> | undefined;
}

function fragmentsOf(document: DocumentNode): Map<string, FragmentDefinitionNode> {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  return fragments;
}

/** The fields of a selection set with fragments expanded, each with the type it is selected on. */
function* fieldsOf(
  selectionSet: SelectionSetNode,
  parent: GraphQLNamedType,
  schema: GraphQLSchema,
  fragments: Map<string, FragmentDefinitionNode>,
  active: ReadonlySet<string> = new Set(),
): Generator<{ node: FieldNode; parent: GraphQLNamedType }> {
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) yield { node: selection, parent };
    else if (selection.kind === Kind.INLINE_FRAGMENT) {
      const type = selection.typeCondition ? schema.getType(selection.typeCondition.name.value) : parent;
      if (type) yield* fieldsOf(selection.selectionSet, type, schema, fragments, active);
    } else {
      const fragment = fragments.get(selection.name.value);
      if (!fragment || active.has(selection.name.value)) continue;
      const type = schema.getType(fragment.typeCondition.name.value);
      if (type) yield* fieldsOf(fragment.selectionSet, type, schema, fragments, new Set([...active, selection.name.value]));
    }
  }
}

function fieldDefinition(parent: GraphQLNamedType, name: string): GraphQLField<unknown, unknown> | undefined {
  return isObjectType(parent) || isInterfaceType(parent) ? parent.getFields()[name] : undefined;
}

/**
 * The request's variables with each left-out variable's integer default from the document
 * (`query($n: Int = 100)`): graphql-js executes with that default, so the estimate must read it too.
 */
function withIntegerDefaults(operation: OperationDefinitionNode, variables: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  let merged = variables;
  for (const definition of operation.variableDefinitions ?? []) {
    const name = definition.variable.name.value;
    if (definition.defaultValue?.kind !== Kind.INT || variables?.[name] !== undefined) continue;
    merged = { ...merged, [name]: Number(definition.defaultValue.value) };
  }
  return merged;
}

function argumentNumber(node: FieldNode, name: string, variables: Record<string, unknown> | undefined): number | undefined {
  const value = node.arguments?.find((argument) => argument.name.value === name)?.value;
  if (!value) return undefined;
  if (value.kind === Kind.INT) return Number(value.value);
  if (value.kind === Kind.VARIABLE) {
    const given = variables?.[value.name.value];
    return typeof given === 'number' && Number.isFinite(given) ? given : undefined;
  }
  return undefined;
}

function baseWeight(context: CostContext, parent: GraphQLNamedType, field: GraphQLField<unknown, unknown>): number {
  const own = context.directives.fieldWeights.get(`${parent.name}.${field.name}`);
  if (own !== undefined) return own;
  const type = getNamedType(field.type);
  const typeWeight = context.directives.typeWeights.get(type.name);
  if (typeWeight !== undefined) return typeWeight;
  return isCompositeType(type) ? 1 : 0;
}

/** The estimated cost of an operation (before any subgraph call). */
export function estimateCost(document: DocumentNode, operation: OperationDefinitionNode, context: CostContext): number {
  const fragments = fragmentsOf(document);
  const root = context.schema.getRootType(operation.operation);
  if (!root) return 0;
  const variables = withIntegerDefaults(operation, context.variables);

  const scoreSelectionSet = (selectionSet: SelectionSetNode, parent: GraphQLNamedType, sizedFields: Map<string, number>): number => {
    let total = 0;
    for (const { node, parent: owner } of fieldsOf(selectionSet, parent, context.schema, fragments)) {
      const definition = fieldDefinition(owner, node.name.value);
      if (!definition) continue; // __typename and friends: free
      const key = `${owner.name}.${definition.name}`;
      const listSize = context.directives.listSizes.get(key);
      const slicing = listSize?.slicingArguments
        ?.map((name) => argumentNumber(node, name, variables))
        .filter((value): value is number => value !== undefined);
      const expectedSize = slicing && slicing.length > 0 ? Math.max(...slicing) : listSize?.assumedSize;
      const childSizes = new Map<string, number>();
      if (listSize?.sizedFields && expectedSize !== undefined) for (const name of listSize.sizedFields) childSizes.set(name, expectedSize);
      let typeCost = baseWeight(context, owner, definition);
      if (node.selectionSet) typeCost += scoreSelectionSet(node.selectionSet, getNamedType(definition.type), childSizes);
      const isList = isListType(getNullableType(definition.type));
      const instances = !isList ? 1 : (sizedFields.get(definition.name) ?? (listSize?.sizedFields ? undefined : expectedSize) ?? context.listSizeDefault);
      total += Math.max(0, instances) * typeCost;
    }
    return total;
  };

  return scoreSelectionSet(operation.selectionSet, root, new Map()) + (operation.operation === 'mutation' ? MUTATION_COST : 0);
}

/** Response objects visited at most when measuring the actual cost (the response ceiling bounds it too). */
const ACTUAL_COST_VISITS_MAX = 1_000_000;

/** The actual cost of a response: the same weights, with the lists' real lengths. */
export function actualCost(document: DocumentNode, operation: OperationDefinitionNode, context: CostContext, data: unknown): number {
  const fragments = fragmentsOf(document);
  const root = context.schema.getRootType(operation.operation);
  if (!root || data === null || typeof data !== 'object') return 0;
  let visits = 0;

  const scoreValue = (value: unknown, node: FieldNode, owner: GraphQLNamedType, definition: GraphQLField<unknown, unknown>): number => {
    if (value === null || value === undefined || visits++ > ACTUAL_COST_VISITS_MAX) return 0;
    if (Array.isArray(value)) return value.reduce<number>((sum, item) => sum + scoreValue(item, node, owner, definition), 0);
    let cost = baseWeight(context, owner, definition);
    if (node.selectionSet && typeof value === 'object') {
      const type = getNamedType(definition.type);
      const typename = (value as { __typename?: unknown }).__typename;
      const concrete = typeof typename === 'string' ? (context.schema.getType(typename) ?? type) : type;
      cost += scoreObject(value as Record<string, unknown>, node.selectionSet, concrete);
    }
    return cost;
  };

  const scoreObject = (object: Record<string, unknown>, selectionSet: SelectionSetNode, parent: GraphQLNamedType): number => {
    let total = 0;
    const counted = new Set<string>();
    for (const { node, parent: owner } of fieldsOf(selectionSet, parent, context.schema, fragments)) {
      const responseKey = node.alias?.value ?? node.name.value;
      if (counted.has(responseKey) || !(responseKey in object)) continue;
      const definition = fieldDefinition(owner, node.name.value);
      if (!definition) continue;
      counted.add(responseKey);
      total += scoreValue(object[responseKey], node, owner, definition);
    }
    return total;
  };

  return scoreObject(data as Record<string, unknown>, operation.selectionSet, root) + (operation.operation === 'mutation' ? MUTATION_COST : 0);
}
