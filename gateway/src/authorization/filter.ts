/**
 * Removes from an operation the fields its viewer may not query, as Apollo Router's authorization
 * does in filter mode: each removed field is reported as an error with its path, the rest of the
 * operation runs. A removed field's value becomes null where GraphQL would put the null: at the
 * field when it is nullable, else at its nearest nullable ancestor (which is then not queried at
 * all); when no ancestor is nullable the whole operation is answered `data: null` without running.
 */
import {
  getNamedType,
  isCompositeType,
  isNonNullType,
  isObjectType,
  isInterfaceType,
  Kind,
  TypeInfo,
  visit,
  visitWithTypeInfo,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLCompositeType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionNode,
  type SelectionSetNode,
} from 'graphql';
import type { Viewer } from '@paygraph/identity';
import { decide, type AuthorizationRules } from './rules';

/** Selections an operation may expand to once its fragments are inlined before it is refused. */
export const INLINED_SELECTIONS_MAX = 20_000;
/** Response key that stands in for a selection set whose every field was removed; stripped from the response. */
export const PLACEHOLDER_KEY = '__authorizationRemoved';

export interface Denial {
  path: string[];
  code: 'UNAUTHENTICATED' | 'FORBIDDEN';
  /** `Type.field` that was refused (for logs). */
  coordinate: string;
}

export type FilterResult =
  | { kind: 'unchanged' }
  | { kind: 'filtered'; document: DocumentNode; operation: OperationDefinitionNode; denials: Denial[]; nullPaths: string[][] }
  /** A denied field has no nullable ancestor: the answer is `data: null`, nothing runs. */
  | { kind: 'refused'; denials: Denial[] }
  | { kind: 'too-large' };

/** Cheap first pass over the whole document: does any field deny this viewer? */
function anyDenied(schema: GraphQLSchema, document: DocumentNode, rules: AuthorizationRules, viewer: Viewer): boolean {
  const typeInfo = new TypeInfo(schema);
  let denied = false;
  visit(
    document,
    visitWithTypeInfo(typeInfo, {
      Field() {
        if (denied) return false;
        const parent = typeInfo.getParentType();
        const definition = typeInfo.getFieldDef();
        if (!parent || !definition) return undefined;
        const requirement = rules.field(parent.name, definition.name, getNamedType(definition.type).name);
        if (requirement && decide(requirement, viewer) !== 'allowed') denied = true;
        return undefined;
      },
    }),
  );
  return denied;
}

class TooLarge extends Error {}

function inlineFragments(selectionSet: SelectionSetNode, fragments: Map<string, FragmentDefinitionNode>, budget: { left: number }): SelectionSetNode {
  budget.left -= selectionSet.selections.length;
  if (budget.left < 0) throw new TooLarge();
  const selections: SelectionNode[] = selectionSet.selections.map((selection) => {
    if (selection.kind === Kind.FRAGMENT_SPREAD) {
      const fragment = fragments.get(selection.name.value);
      if (!fragment) return selection; // validation already refused unknown fragments
      return { kind: Kind.INLINE_FRAGMENT, typeCondition: fragment.typeCondition, directives: selection.directives ?? [], selectionSet: inlineFragments(fragment.selectionSet, fragments, budget) };
    }
    if (!selection.selectionSet) return selection;
    return { ...selection, selectionSet: inlineFragments(selection.selectionSet, fragments, budget) };
  });
  return { ...selectionSet, selections };
}

interface Link {
  node: FieldNode;
  key: string;
  nullable: boolean;
}

export function filterOperation(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  rules: AuthorizationRules,
  viewer: Viewer,
): FilterResult {
  if (rules.empty || !anyDenied(schema, document, rules, viewer)) return { kind: 'unchanged' };

  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  let inlined: OperationDefinitionNode;
  try {
    inlined = { ...operation, selectionSet: inlineFragments(operation.selectionSet, fragments, { left: INLINED_SELECTIONS_MAX }) };
  } catch (error) {
    if (error instanceof TooLarge) return { kind: 'too-large' };
    throw error;
  }
  const rootType = schema.getRootType(operation.operation);
  if (!rootType) return { kind: 'unchanged' };

  const denied: { chain: Link[]; code: Denial['code']; coordinate: string }[] = [];
  const walk = (selectionSet: SelectionSetNode, parentType: GraphQLCompositeType, chain: Link[]) => {
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.INLINE_FRAGMENT) {
        const conditionType = selection.typeCondition ? schema.getType(selection.typeCondition.name.value) : parentType;
        if (conditionType && isCompositeType(conditionType)) walk(selection.selectionSet, conditionType, chain);
        continue;
      }
      if (selection.kind !== Kind.FIELD || selection.name.value.startsWith('__')) continue;
      if (!isObjectType(parentType) && !isInterfaceType(parentType)) continue;
      const definition = parentType.getFields()[selection.name.value];
      if (!definition) continue;
      const link: Link = { node: selection, key: selection.alias?.value ?? selection.name.value, nullable: !isNonNullType(definition.type) };
      const returnType = getNamedType(definition.type);
      const requirement = rules.field(parentType.name, definition.name, returnType.name);
      const decision = requirement ? decide(requirement, viewer) : 'allowed';
      if (decision !== 'allowed') {
        denied.push({ chain: [...chain, link], code: decision, coordinate: `${parentType.name}.${definition.name}` });
        continue;
      }
      if (selection.selectionSet && isCompositeType(returnType)) walk(selection.selectionSet, returnType, [...chain, link]);
    }
  };
  walk(inlined.selectionSet, rootType, []);
  if (denied.length === 0) return { kind: 'unchanged' };

  const denials: Denial[] = denied.map(({ chain, code, coordinate }) => ({ path: chain.map((link) => link.key), code, coordinate }));
  const removed = new Set<FieldNode>();
  const nullPaths: string[][] = [];
  for (const { chain } of denied) {
    let index = chain.length - 1;
    while (index >= 0 && !chain[index]!.nullable) index -= 1;
    if (index < 0) return { kind: 'refused', denials };
    removed.add(chain[index]!.node);
    nullPaths.push(chain.slice(0, index + 1).map((link) => link.key));
  }

  const placeholder: FieldNode = { kind: Kind.FIELD, alias: { kind: Kind.NAME, value: PLACEHOLDER_KEY }, name: { kind: Kind.NAME, value: '__typename' } };
  const filtered = visit(inlined, {
    Field: { enter: (node) => (removed.has(node) ? null : undefined) },
    SelectionSet: { leave: (node) => (node.selections.length === 0 ? { ...node, selections: [placeholder] } : undefined) },
  }) as OperationDefinitionNode;
  return { kind: 'filtered', document: { kind: Kind.DOCUMENT, definitions: [filtered] }, operation: filtered, denials, nullPaths };
}

function stripPlaceholders(value: unknown): void {
  if (Array.isArray(value)) {
    for (const item of value) stripPlaceholders(item);
    return;
  }
  if (value === null || typeof value !== 'object') return;
  const record = value as Record<string, unknown>;
  delete record[PLACEHOLDER_KEY];
  for (const child of Object.values(record)) stripPlaceholders(child);
}

function setNull(value: unknown, path: string[], index: number): void {
  if (value === null || value === undefined) return;
  if (Array.isArray(value)) {
    for (const item of value) setNull(item, path, index);
    return;
  }
  if (typeof value !== 'object') return;
  const record = value as Record<string, unknown>;
  if (index === path.length - 1) record[path[index]!] = null;
  else setNull(record[path[index]!], path, index + 1);
}

/** Shapes the response of a filtered operation as the client's own operation: removed fields are null. */
export function restoreRemovedFields(data: Record<string, unknown> | null | undefined, nullPaths: string[][]): void {
  if (!data) return;
  stripPlaceholders(data);
  for (const path of nullPaths) setNull(data, path, 0);
}
