// Proves the gateway's demand control follows Apollo Router's static cost rules on the real
// supergraph (schema/supergraph.graphql): objects 1, scalars and enums 0, mutations +10, @cost
// weights, lists multiplied by @listSize's assumedSize or the `first` argument (given to the
// connection's sizedFields), the 8x order/payments fan-out priced far above the default maximum,
// and the actual cost counted from a response with its real list lengths.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildSchema, getOperationAST, parse } from 'graphql';
import { actualCost, estimateCost, readCostDirectives } from '../src/limits/cost';

const supergraph = readFileSync(new URL('../../schema/supergraph.graphql', import.meta.url), 'utf8');
const directives = readCostDirectives(supergraph);
// The API schema as far as cost needs it (types, lists); the directives come from the supergraph.
const schema = buildSchema(`
  type Money { amount: String! currency: String! }
  type User { id: ID! name: String! wallets: [Wallet!]! }
  type Wallet { id: ID! owner: User! }
  type Order { id: ID! buyer: User! amount: Money! payments: [Payment!]! }
  type Payment { id: ID! order: Order! refunds: [Refund!]! status: String! }
  type Refund { id: ID! }
  type PaymentEdge { node: Payment! cursor: String! }
  type PageInfo { hasNextPage: Boolean! }
  type PaymentConnection { edges: [PaymentEdge!]! pageInfo: PageInfo! }
  type LedgerVerification { ok: Boolean! }
  type Query { me: User order(id: ID!): Order payments(first: Int, after: String): PaymentConnection! verifyLedger: LedgerVerification! }
  type Mutation { cancelOrder(id: ID!): Order! }
`);

function cost(source: string, variables: Record<string, unknown> = {}) {
  const document = parse(source);
  return estimateCost(document, getOperationAST(document)!, { schema, directives, listSizeDefault: 10, variables });
}

describe('estimated cost', () => {
  it('reads @listSize and @cost from the composed supergraph', () => {
    expect(directives.listSizes.get('Order.payments')).toEqual({ assumedSize: 10 });
    expect(directives.listSizes.get('Query.payments')).toMatchObject({ assumedSize: 20, slicingArguments: ['first'], sizedFields: ['edges'] });
    expect(directives.fieldWeights.get('Query.verifyLedger')).toBe(1000);
  });

  it('counts objects 1 and leaves 0', () => {
    expect(cost(`{ me { id name } }`)).toBe(1);
    expect(cost(`{ order(id: "o") { id buyer { id } amount { amount } } }`)).toBe(3);
  });

  it('multiplies lists by assumedSize and connections by first', () => {
    expect(cost(`{ me { wallets { id } } }`)).toBe(1 + 5);
    expect(cost(`{ order(id: "o") { payments { id } } }`)).toBe(1 + 10);
    // connection 1 + edges (20 assumed) x (edge 1 + node 1) + pageInfo 1
    expect(cost(`{ payments { edges { node { id } } pageInfo { hasNextPage } } }`)).toBe(1 + 20 * 2 + 1);
    expect(cost(`query($n: Int) { payments(first: $n) { edges { node { id } } } }`, { n: 100 })).toBe(1 + 100 * 2);
    expect(cost(`{ payments(first: 3) { edges { node { id } } } }`)).toBe(1 + 3 * 2);
  });

  it("reads first from a variable's default when the request leaves the variable out", () => {
    expect(cost(`query($n: Int = 100) { payments(first: $n) { edges { node { id } } } }`)).toBe(1 + 100 * 2);
    expect(cost(`query($n: Int = 100) { payments(first: $n) { edges { node { id } } } }`, { n: 3 })).toBe(1 + 3 * 2);
    // An explicit null is null (the connection's own default), as graphql-js executes it: assumedSize.
    expect(cost(`query($n: Int = 100) { payments(first: $n) { edges { node { id } } } }`, { n: null })).toBe(1 + 20 * 2);
  });

  it('adds 10 for a mutation and applies @cost weights', () => {
    expect(cost(`mutation { cancelOrder(id: "o") { id } }`)).toBe(10 + 1);
    expect(cost(`{ verifyLedger { ok } }`)).toBe(1000);
  });

  it('prices the 8x order/payments fan-out above the default maximum (5,000) and two levels below it', () => {
    const fanOut = cost(`{ order(id: "o") { payments { order { payments { order { payments { order { payments { id } } } } } } } } }`);
    expect(fanOut).toBe(1 + 10 * (1 + 1 + 10 * (1 + 1 + 10 * (1 + 1 + 10))));
    expect(fanOut).toBeGreaterThan(5_000);
    expect(cost(`{ order(id: "o") { payments { order { id payments { id } } } } }`)).toBeLessThan(5_000);
  });
});

describe('actual cost', () => {
  it('counts the objects of the response with real list lengths', () => {
    const document = parse(`{ order(id: "o") { id payments { id refunds { id } } } }`);
    const data = { order: { id: 'o', payments: [{ id: 'p1', refunds: [] }, { id: 'p2', refunds: [{ id: 'r' }] }] } };
    expect(actualCost(document, getOperationAST(document)!, { schema, directives, listSizeDefault: 10, variables: {} }, data)).toBe(1 + 2 + 1);
  });
});
