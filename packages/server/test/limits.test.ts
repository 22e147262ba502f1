// Proves the operation limits and input hygiene shared by the gateway and the subgraphs: tokens are
// counted without parsing and stop at the limit, the shape (depth, height, aliases, root fields,
// directives) is measured with fragments expanded and a bounded walk, refusals carry the Router's
// codes with the limit's name, and control characters, unpaired surrogates and impossible dates are
// BAD_USER_INPUT naming the field, in literals and in variables.
import { describe, expect, it } from 'vitest';
import { ApolloServer } from '@apollo/server';
import { buildSchema, getIntrospectionQuery, getOperationAST, parse } from 'graphql';
import { FRAGMENT_NESTING_MAX, checkInputs, checkOperationShape, countTokens, limitsParseOptions, measureOperation, operationLimitsPlugin, type OperationLimits } from '../src/limits';

const limits: OperationLimits = {
  OPERATION_DEPTH_MAX: 5,
  OPERATION_HEIGHT_MAX: 20,
  OPERATION_ALIASES_MAX: 3,
  OPERATION_ROOT_FIELDS_MAX: 2,
  OPERATION_TOKENS_MAX: 100,
  OPERATION_DIRECTIVES_PER_FIELD_MAX: 2,
};

function shapeOf(source: string) {
  const document = parse(source);
  return measureOperation(document, getOperationAST(document)!, { depthCut: limits.OPERATION_DEPTH_MAX + 1, visitsMax: 1_000 });
}

const codeOf = (source: string) => checkOperationShape(shapeOf(source), limits)?.extensions.code ?? null;

describe('countTokens', () => {
  it('counts punctuators and names, and stops one past the limit', () => {
    expect(countTokens('{ me { id } }', 100)).toBe(6);
    expect(countTokens(`{ ${'a '.repeat(100_000)} }`, 100)).toBe(101);
  });
});

describe('the plugin in Apollo Server', () => {
  it('stops parsing past the token limit and answers MAX_TOKENS_LIMIT (400); refuses the shape before execution', async () => {
    const resolved: string[] = [];
    const server = new ApolloServer({
      typeDefs: 'type Query { a: String  b: Query }',
      resolvers: { Query: { a: () => resolved.push('a') && 'x', b: () => ({}) } },
      plugins: [operationLimitsPlugin(limits)],
      parseOptions: limitsParseOptions(limits),
      includeStacktraceInErrorResponses: false,
    });
    await server.start();
    const tooLong = await server.executeOperation({ query: `{ ${'a '.repeat(200)} }` });
    expect(tooLong.http.status).toBe(400);
    expect(tooLong.body.kind === 'single' && tooLong.body.singleResult.errors?.[0]).toMatchObject({
      message: 'Maximum tokens limit exceeded in this document: OPERATION_TOKENS_MAX is 100.',
      extensions: { code: 'MAX_TOKENS_LIMIT' },
    });
    const tooDeep = await server.executeOperation({ query: `{ b { b { b { b { b { a } } } } } }` });
    expect(tooDeep.http.status).toBe(400);
    expect(tooDeep.body.kind === 'single' && tooDeep.body.singleResult.errors?.[0]?.extensions?.code).toBe('MAX_DEPTH_LIMIT');
    expect(resolved).toEqual([]);
    const fine = await server.executeOperation({ query: `{ b { a } }` });
    expect(fine.body.kind === 'single' && fine.body.singleResult.data).toEqual({ b: { a: 'x' } });
    await server.stop();
  });
});

describe('operation shape', () => {
  it('measures depth, aliases, root fields and height with fragments expanded', () => {
    const shape = shapeOf(`query { me { ...F } other: me { id } } fragment F on User { id wallets { owner { id } } x: id }`);
    expect(shape).toEqual({ depth: 4, height: 8, aliases: 2, rootFields: 2, directivesPerField: 0, fragmentNesting: 1, introspectionOnly: false });
  });

  it('refuses each limit with its code and names the setting', () => {
    expect(codeOf(`{ a { b { c { d { e { f } } } } } }`)).toBe('MAX_DEPTH_LIMIT');
    expect(checkOperationShape(shapeOf(`{ a { b { c { d { e { f } } } } } }`), limits)!.message).toContain('OPERATION_DEPTH_MAX is 5');
    expect(codeOf(`{ a b c }`)).toBe('MAX_ROOT_FIELDS_LIMIT');
    expect(codeOf(`{ a { x: b y: b z: b w: b } }`)).toBe('MAX_ALIASES_LIMIT');
    expect(codeOf(`{ a { b @include(if: true) @skip(if: false) @include(if: true) } }`)).toBe('MAX_DIRECTIVES_LIMIT');
    expect(codeOf(`{ a { ${Array.from({ length: 25 }, (_, index) => `f${index}`).join(' ')} } }`)).toBe('MAX_HEIGHT_LIMIT');
    expect(codeOf(`{ a { b { c } } }`)).toBeNull();
  });

  it("exempts the schema's introspection from depth and height, not a query that mixes it with data", () => {
    const introspection = getIntrospectionQuery();
    const shape = shapeOf(introspection);
    expect(shape.depth).toBeGreaterThan(limits.OPERATION_DEPTH_MAX);
    expect(shape.introspectionOnly).toBe(true);
    expect(checkOperationShape(shape, limits)).toBeNull();
    expect(codeOf(`{ __typename a { b { c { d { e { f } } } } } }`)).toBe('MAX_DEPTH_LIMIT');
  });

  it('refuses fragments nested past FRAGMENT_NESTING_MAX with no field between them, counting spreads and inline fragments alike', () => {
    const nested = (levels: number) => `{ ${'...{ '.repeat(levels)}a ${'} '.repeat(levels)}}`;
    expect(shapeOf(nested(FRAGMENT_NESTING_MAX)).fragmentNesting).toBe(FRAGMENT_NESTING_MAX);
    expect(codeOf(nested(FRAGMENT_NESTING_MAX))).toBeNull();
    expect(codeOf(nested(FRAGMENT_NESTING_MAX + 1))).toBe('MAX_DEPTH_LIMIT');
    expect(checkOperationShape(shapeOf(nested(FRAGMENT_NESTING_MAX + 1)), limits)!.message).toContain(`fragments nest at most ${FRAGMENT_NESTING_MAX} deep`);
    // 1,500 levels (about what the gateway's default token limit lets through; the planner's stack
    // overflowed there) are measured without descending past the bound.
    expect(shapeOf(nested(1_500)).fragmentNesting).toBe(FRAGMENT_NESTING_MAX + 1);
    // Spreads of fragments that only spread others count the same way.
    const chain = (levels: number) => `{ ...F0 } ${Array.from({ length: levels }, (_, index) => `fragment F${index} on Query { ${index === levels - 1 ? 'a' : `...F${index + 1}`} }`).join(' ')}`;
    expect(codeOf(chain(FRAGMENT_NESTING_MAX))).toBeNull();
    expect(codeOf(chain(FRAGMENT_NESTING_MAX + 1))).toBe('MAX_DEPTH_LIMIT');
    // A field between fragments starts the count again: nesting under fields is bounded by depth.
    expect(shapeOf(`{ ${'...{ '.repeat(20)}a { ${'...{ '.repeat(20)}b ${'} '.repeat(20)}} ${'} '.repeat(20)}}`).fragmentNesting).toBe(20);
  });

  it('stops a fragment bomb after a bounded number of visits', () => {
    const fragments = Array.from({ length: 20 }, (_, index) => `fragment F${index} on T { a { ...F${index + 1} } b { ...F${index + 1} } }`).join(' ');
    const document = parse(`{ root { ...F0 } } ${fragments} fragment F20 on T { leaf }`);
    const started = performance.now();
    const shape = measureOperation(document, getOperationAST(document)!, { depthCut: 100, visitsMax: 1_000 });
    expect(performance.now() - started).toBeLessThan(200);
    expect(shape.height).toBeGreaterThan(1_000);
  });
});

describe('input hygiene', () => {
  const schema = buildSchema(`
    scalar DateTime
    input RefundInput { paymentId: ID! reason: String idempotencyKey: String! tags: [String!] }
    type Query { payment(id: ID!): String  entries(start: DateTime): String }
    type Mutation { refund(input: RefundInput!): String }
  `);
  const check = (source: string, variables?: Record<string, unknown>) => {
    const document = parse(source);
    const error = checkInputs(schema, document, getOperationAST(document)!, variables);
    return error ? error.extensions : null;
  };

  it('refuses NUL and other C0 characters with the field, in literals and variables', () => {
    expect(check(`{ payment(id: "a\\u0000b") }`)).toEqual({ code: 'BAD_USER_INPUT', field: 'id' });
    expect(check(`query($id: ID!) { payment(id: $id) }`, { id: 'a\u0001' })).toEqual({ code: 'BAD_USER_INPUT', field: 'id' });
    expect(check(`mutation($i: RefundInput!) { refund(input: $i) }`, { i: { paymentId: 'p', idempotencyKey: 'k\u0000' } })).toEqual({ code: 'BAD_USER_INPUT', field: 'input.idempotencyKey' });
    expect(check(`mutation($i: RefundInput!) { refund(input: $i) }`, { i: { paymentId: 'p', idempotencyKey: 'k', reason: 'a\u0000' } })).toEqual({ code: 'BAD_USER_INPUT', field: 'input.reason' });
    expect(check(`mutation { refund(input: { paymentId: "p", idempotencyKey: "k", tags: ["ok", "b\\u001b"] }) }`)).toEqual({ code: 'BAD_USER_INPUT', field: 'input.tags.1' });
  });

  it("checks a variable's default value when the request leaves the variable out, and the sent value when it does not", () => {
    expect(check(`query($id: ID! = "pay_\u0000") { payment(id: $id) }`)).toEqual({ code: 'BAD_USER_INPUT', field: 'id' });
    expect(check(`query($id: ID! = "pay_\u0000") { payment(id: $id) }`, {})).toEqual({ code: 'BAD_USER_INPUT', field: 'id' });
    expect(check(`mutation($i: RefundInput! = { paymentId: "p", idempotencyKey: "k", reason: "x\u0008y" }) { refund(input: $i) }`)).toEqual({ code: 'BAD_USER_INPUT', field: 'input.reason' });
    expect(check(`mutation($r: String = "a\u001bb") { refund(input: { paymentId: "p", idempotencyKey: "k", reason: $r }) }`)).toEqual({ code: 'BAD_USER_INPUT', field: 'input.reason' });
    expect(check(`query($s: DateTime = "2026-02-31T00:00:00Z") { entries(start: $s) }`)).toEqual({ code: 'BAD_USER_INPUT', field: 'start' });
    // A value sent in the request replaces the default (graphql-js coerces the sent one), so only it is checked.
    expect(check(`query($id: ID! = "pay_\u0000") { payment(id: $id) }`, { id: 'pay_1' })).toBeNull();
    expect(check(`query($id: ID = "pay_\u0000") { payment(id: $id) }`, { id: null })).toBeNull();
    expect(check(`query($id: ID! = "pay_1") { payment(id: $id) }`)).toBeNull();
  });

  it('refuses half of a UTF-16 surrogate pair with the field, in free text too; a whole pair (an emoji) passes', () => {
    expect(check(`query($id: ID!) { payment(id: $id) }`, { id: 'k\ud800x' })).toEqual({ code: 'BAD_USER_INPUT', field: 'id' });
    expect(check(`query($id: ID!) { payment(id: $id) }`, { id: '\udc00' })).toEqual({ code: 'BAD_USER_INPUT', field: 'id' });
    expect(check(`mutation($i: RefundInput!) { refund(input: $i) }`, { i: { paymentId: 'p', idempotencyKey: 'k', reason: 'ok \ud83d' } })).toEqual({ code: 'BAD_USER_INPUT', field: 'input.reason' });
    // In a literal, graphql-js's lexer refuses it already (a syntax error).
    expect(() => parse(`{ payment(id: "a\\ud800b") }`)).toThrow('Invalid Unicode escape sequence');
    expect(check(`mutation($i: RefundInput!) { refund(input: $i) }`, { i: { paymentId: 'p', idempotencyKey: 'k', reason: 'thanks \ud83d\ude00' } })).toBeNull();
  });

  it('allows tab and line breaks in free text only', () => {
    expect(check(`mutation($i: RefundInput!) { refund(input: $i) }`, { i: { paymentId: 'p', idempotencyKey: 'k', reason: 'line\n\tnext\r\n' } })).toBeNull();
    expect(check(`mutation($i: RefundInput!) { refund(input: $i) }`, { i: { paymentId: 'p', idempotencyKey: 'k\n' } })).toEqual({ code: 'BAD_USER_INPUT', field: 'input.idempotencyKey' });
  });

  it('refuses impossible DateTimes and year 0000 with the field', () => {
    expect(check(`{ entries(start: "2026-02-31T25:61Z") }`)).toEqual({ code: 'BAD_USER_INPUT', field: 'start' });
    expect(check(`query($s: DateTime) { entries(start: $s) }`, { s: '0000-01-01T00:00:00Z' })).toEqual({ code: 'BAD_USER_INPUT', field: 'start' });
    expect(check(`query($s: DateTime) { entries(start: $s) }`, { s: '2026-02-28T23:59:00Z' })).toBeNull();
  });
});
