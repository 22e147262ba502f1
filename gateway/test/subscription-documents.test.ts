// A subscribe message's document is checked once: a selection whose event query the gateway's own
// additions (`__typename`, the alias `__visible`, `$__paymentId`) would make invalid is refused when
// subscribed, with GRAPHQL_VALIDATION_FAILED, instead of ending every event (and every resume) with
// SERVICE_UNAVAILABLE; and the prepared documents kept are bounded by the size of their texts, not
// only their number (both found by the subscriptions probe).
import { buildSchema } from 'graphql';
import { describe, expect, it } from 'vitest';
import { createDocuments, DOCUMENT_TEXT_CHARS_MAX, readArguments, type Prepared } from '../src/subscriptions/documents';
import { subscriptionSchema } from '../src/subscriptions/schema';

const schema = subscriptionSchema(
  buildSchema(`
    type Query { payment(id: ID!): Payment }
    type Payment { id: ID! status: String! order: Order }
    type Order { id: ID! }
    type PaymentStatusEvent { sequence: String! status: String! payment: Payment! }
    type Subscription { paymentStatusChanged(paymentId: ID, after: String): PaymentStatusEvent! }
  `),
)!;

const refusal = (query: string) => {
  const prepared = createDocuments({}).prepare(schema, query, null);
  return 'errors' in prepared ? prepared.errors[0]!.extensions.code : null;
};

describe('subscription documents', () => {
  it.each([
    'subscription { paymentStatusChanged { payment { __typename: id } } }',
    'subscription { paymentStatusChanged { payment { order { __typename: id } } } }',
    'subscription { paymentStatusChanged { __visible: payment { id: status } } }',
    'subscription($__paymentId: Boolean = true) { paymentStatusChanged { payment { id @include(if: $__paymentId) } } }',
  ])('refuses %s when subscribed: its event query would not validate', (query) => {
    expect(refusal(query)).toBe('GRAPHQL_VALIDATION_FAILED');
  });

  it('accepts the same selections under other names', () => {
    expect(refusal('subscription { paymentStatusChanged { payment { kind: id order { ref: id } } } }')).toBeNull();
    expect(refusal('subscription($withId: Boolean = true) { paymentStatusChanged { visible: payment { id @include(if: $withId) } } }')).toBeNull();
  });

  it('keeps documents up to DOCUMENT_TEXT_CHARS_MAX characters of text in all, dropping the oldest', () => {
    const documents = createDocuments({});
    const pad = '#'.repeat(1024 * 1024);
    for (let index = 0; index < 12; index += 1) documents.prepare(schema, `${pad}\nsubscription { paymentStatusChanged { sequence } } # ${index}`, null);
    const kept = documents.kept();
    expect(kept.textChars).toBeLessThanOrEqual(DOCUMENT_TEXT_CHARS_MAX);
    expect(kept.documents).toBe(3);
    documents.clear();
    expect(documents.kept()).toEqual({ documents: 0, textChars: 0 });
  });
});

describe('subscription arguments', () => {
  const prepared = createDocuments({}).prepare(schema, 'subscription($p: ID, $a: String) { paymentStatusChanged(paymentId: $p, after: $a) { sequence } }', null) as Prepared;
  const refused = (variables: Record<string, unknown>) => {
    const read = readArguments(schema, prepared, variables);
    return 'errors' in read ? { message: read.errors[0]!.message, extensions: read.errors[0]!.extensions } : null;
  };

  it('names the field of a refused argument, as over HTTP (found by the contract probe)', () => {
    expect(refused({ p: 'pay_\u0000' })?.extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'paymentId' });
    expect(refused({ a: 'x' })?.extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'after' });
    const coercion = refused({ p: { secret: 'hunter2' } });
    expect(coercion?.extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'p' });
    expect(coercion?.message).not.toContain('hunter2');
    expect(refused({ p: 'pay_1', a: '5' })).toBeNull();
  });
});
