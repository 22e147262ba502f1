/**
 * Turns a client's subscription into the federated query that resolves each event's `payment`
 * through the gateway's own execution. For
 *
 *   subscription($id: ID!) { paymentStatusChanged(paymentId: $id) { status p: payment { order { buyer { name } } } } }
 *
 * it builds, once per subscription,
 *
 *   query PaymentStatusChangedPayload($__paymentId: ID!) {
 *     __visible: payment(id: $__paymentId) { id }
 *     p: payment(id: $__paymentId) { __typename order { __typename buyer { __typename name } } }
 *   }
 *
 * keeping the client's aliases, directives, fragments and the variables they use. `__visible` is
 * always asked, so nothing is sent for a payment the subscriber may not query even when the client
 * selects no `payment` at all; `__typename` everywhere lets abstract types resolve from the result.
 */
import {
  Kind,
  visit,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type OperationDefinitionNode,
  type SelectionNode,
  type SelectionSetNode,
  type VariableDefinitionNode,
} from 'graphql';

export const PAYMENT_VARIABLE = '__paymentId';
export const VISIBLE_ALIAS = '__visible';

const name = (value: string) => ({ kind: Kind.NAME, value }) as const;

/** The `payment` fields selected on PaymentStatusEvent, through inline fragments and spreads. */
function paymentFields(selectionSet: SelectionSetNode, fragments: Map<string, FragmentDefinitionNode>, seen = new Set<string>()): FieldNode[] {
  const found: FieldNode[] = [];
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) {
      if (selection.name.value === 'payment') found.push(selection);
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      found.push(...paymentFields(selection.selectionSet, fragments, seen));
    } else {
      const fragment = fragments.get(selection.name.value);
      if (fragment && !seen.has(fragment.name.value)) {
        seen.add(fragment.name.value);
        found.push(...paymentFields(fragment.selectionSet, fragments, seen));
      }
    }
  }
  return found;
}

/** Adds `__typename` to every selection set (abstract types resolve from it; harmless elsewhere). */
function withTypenames<T extends SelectionSetNode | FragmentDefinitionNode>(node: T): T {
  return visit(node, {
    SelectionSet(set) {
      const has = set.selections.some((selection: SelectionNode) => selection.kind === Kind.FIELD && selection.name.value === '__typename' && !selection.alias);
      if (has) return undefined;
      return { ...set, selections: [{ kind: Kind.FIELD, name: name('__typename') }, ...set.selections] };
    },
  }) as T;
}

function spreadNames(node: SelectionSetNode | FragmentDefinitionNode): string[] {
  const names: string[] = [];
  visit(node, { FragmentSpread: (spread) => void names.push(spread.name.value) });
  return names;
}

function variableNames(nodes: readonly (FieldNode | FragmentDefinitionNode)[]): Set<string> {
  const names = new Set<string>();
  for (const node of nodes) visit(node, { Variable: (variable) => void names.add(variable.name.value) });
  return names;
}

export interface PayloadQuery {
  document: DocumentNode;
  /** The client's own variables the query uses (the payment id is added per event). */
  variableNames: string[];
}

/** Builds the payload query for the subscription field of `operation` (see the file header). */
export function buildPayloadQuery(subscriptionField: FieldNode, operation: OperationDefinitionNode, document: DocumentNode): PayloadQuery {
  const fragments = new Map(
    document.definitions.filter((definition): definition is FragmentDefinitionNode => definition.kind === Kind.FRAGMENT_DEFINITION).map((fragment) => [fragment.name.value, fragment]),
  );
  const fields = subscriptionField.selectionSet ? paymentFields(subscriptionField.selectionSet, fragments) : [];
  const argument = { kind: Kind.ARGUMENT, name: name('id'), value: { kind: Kind.VARIABLE, name: name(PAYMENT_VARIABLE) } } as const;
  const payments: FieldNode[] = fields.map((field) => ({
    ...field,
    alias: field.alias ?? name('payment'),
    arguments: [argument],
    ...(field.selectionSet ? { selectionSet: withTypenames(field.selectionSet) } : {}),
  }));
  const visible: FieldNode = {
    kind: Kind.FIELD,
    alias: name(VISIBLE_ALIAS),
    name: name('payment'),
    arguments: [argument],
    selectionSet: { kind: Kind.SELECTION_SET, selections: [{ kind: Kind.FIELD, name: name('id') }] },
  };

  // The fragments the payment selections use, transitively.
  const used = new Map<string, FragmentDefinitionNode>();
  const pending = payments.flatMap((field) => (field.selectionSet ? spreadNames(field.selectionSet) : []));
  while (pending.length > 0) {
    const fragmentName = pending.pop()!;
    const fragment = fragments.get(fragmentName);
    if (!fragment || used.has(fragmentName)) continue;
    const typed = withTypenames(fragment);
    used.set(fragmentName, typed);
    pending.push(...spreadNames(typed));
  }

  const needed = variableNames([...payments, ...used.values()]);
  const definitions: VariableDefinitionNode[] = [
    {
      kind: Kind.VARIABLE_DEFINITION,
      variable: { kind: Kind.VARIABLE, name: name(PAYMENT_VARIABLE) },
      type: { kind: Kind.NON_NULL_TYPE, type: { kind: Kind.NAMED_TYPE, name: name('ID') } },
    },
    ...(operation.variableDefinitions ?? []).filter((definition) => needed.has(definition.variable.name.value)),
  ];
  return {
    document: {
      kind: Kind.DOCUMENT,
      definitions: [
        {
          kind: Kind.OPERATION_DEFINITION,
          operation: 'query' as OperationDefinitionNode['operation'],
          name: name('PaymentStatusChangedPayload'),
          variableDefinitions: definitions,
          selectionSet: { kind: Kind.SELECTION_SET, selections: [visible, ...payments] },
        },
        ...used.values(),
      ],
    },
    variableNames: definitions.slice(1).map((definition) => definition.variable.name.value),
  };
}
