// The federated query built from a client's subscription keeps its aliases, fragments, directives
// and the variables they use, asks for __typename everywhere and always checks visibility.
import { getOperationAST, Kind, parse, print, type FieldNode } from 'graphql';
import { expect, it } from 'vitest';
import { buildPayloadQuery } from '../src/subscriptions/selection';

function build(source: string) {
  const document = parse(source);
  const operation = getOperationAST(document)!;
  const field = operation.selectionSet.selections[0] as FieldNode;
  expect(field.kind).toBe(Kind.FIELD);
  return buildPayloadQuery(field, operation, document);
}

const normalise = (text: string) => text.replace(/\s+/g, ' ').trim();

it('keeps aliases, nested fields and directives, adds __typename and the visibility check', () => {
  const built = build(`subscription($withRisk: Boolean!, $unused: ID) {
    paymentStatusChanged(paymentId: $unused) {
      status
      p: payment { id riskAssessment @include(if: $withRisk) { decision } }
    }
  }`);
  expect(normalise(print(built.document))).toBe(
    normalise(`query PaymentStatusChangedPayload($__paymentId: ID!, $withRisk: Boolean!) {
      __visible: payment(id: $__paymentId) { id }
      p: payment(id: $__paymentId) { __typename id riskAssessment @include(if: $withRisk) { __typename decision } }
    }`),
  );
  expect(built.variableNames).toEqual(['withRisk']);
});

it('finds payment selections inside fragments on the event and includes the fragments they use, transitively', () => {
  const built = build(`subscription {
    paymentStatusChanged { ...Event ... on PaymentStatusEvent { payment { amount { amount } } } }
  }
  fragment Event on PaymentStatusEvent { sequence payment { ...PaymentBits } }
  fragment PaymentBits on Payment { id order { ...OrderBits } }
  fragment OrderBits on Order { buyer { name } }
  fragment Unused on Payment { status }`);
  const printed = normalise(print(built.document));
  expect(printed).toContain('payment: payment(id: $__paymentId) { __typename ...PaymentBits }');
  expect(printed).toContain('payment: payment(id: $__paymentId) { __typename amount { __typename amount } }');
  expect(printed).toContain('fragment PaymentBits on Payment { __typename id order { __typename ...OrderBits } }');
  expect(printed).toContain('fragment OrderBits on Order { __typename buyer { __typename name } }');
  expect(printed).not.toContain('Unused');
  expect(printed).not.toContain('fragment Event');
});

it('still checks visibility when the client selects no payment', () => {
  const built = build(`subscription { paymentStatusChanged { sequence status } }`);
  expect(normalise(print(built.document))).toBe(normalise(`query PaymentStatusChangedPayload($__paymentId: ID!) { __visible: payment(id: $__paymentId) { id } }`));
});
