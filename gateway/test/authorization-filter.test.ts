// Proves the gateway's authorization filter on a small schema: refused fields are removed and
// reported with their path and code, their null lands where GraphQL would put it (the nearest
// nullable ancestor, or data: null with nothing run), empty selections stay valid, and a caller
// who meets every requirement gets the operation unchanged.
import { buildSchema, parse, print, type OperationDefinitionNode } from 'graphql';
import { describe, expect, it } from 'vitest';
import type { Viewer } from '@paygraph/identity';
import { filterOperation, parseAuthorizationRules, restoreRemovedFields, supergraphForGateway } from '../src/authorization';

const sdl = `
  directive @authenticated on FIELD_DEFINITION | OBJECT
  directive @requiresScopes(scopes: [[String!]!]!) on FIELD_DEFINITION | OBJECT
  directive @policy(policies: [[String!]!]!) on FIELD_DEFINITION | OBJECT
  type Query { me: User  public: String  stats: Stats! @requiresScopes(scopes: [["role:admin"]])  hooks: [String!] @policy(policies: [["merchant"]]) }
  type User { id: ID!  name: String  email: String @authenticated  secret: Secret! @authenticated }
  type Secret { value: String }
  type Stats { count: Int }
`;
const schema = buildSchema(sdl);
const rules = parseAuthorizationRules(sdl);
const anonymous: Viewer = { kind: 'anonymous' };
const buyer: Viewer = { kind: 'user', userId: 'usr_1', role: 'BUYER' };
const admin: Viewer = { kind: 'user', userId: 'usr_2', role: 'ADMIN' };
const merchant: Viewer = { kind: 'user', userId: 'usr_3', role: 'MERCHANT' };

function filter(query: string, viewer: Viewer) {
  const document = parse(query);
  return filterOperation(schema, document, document.definitions[0] as OperationDefinitionNode, rules, viewer);
}

describe('filterOperation', () => {
  it('removes a nullable refused field and reports its path', () => {
    const result = filter('{ me { id email name } public }', anonymous);
    if (result.kind !== 'filtered') throw new Error(result.kind);
    expect(print(result.document)).not.toContain('email');
    expect(result.denials).toEqual([{ path: ['me', 'email'], code: 'UNAUTHENTICATED', coordinate: 'User.email' }]);
    const data = { me: { id: '1', name: 'n' }, public: 'p' };
    restoreRemovedFields(data, result.nullPaths);
    expect(data).toEqual({ me: { id: '1', name: 'n', email: null }, public: 'p' });
  });

  it('nulls the nearest nullable ancestor of a refused non-null field and does not query it', () => {
    const result = filter('query Q { me { id secret { value } } public }', anonymous);
    if (result.kind !== 'filtered') throw new Error(result.kind);
    expect(print(result.document).replace(/\s+/g, ' ')).toBe('query Q { public }');
    const data: Record<string, unknown> = { public: 'p' };
    restoreRemovedFields(data, result.nullPaths);
    expect(data).toEqual({ public: 'p', me: null });
  });

  it('keeps a selection whose every field was refused valid, and strips the stand-in from the answer', () => {
    const result = filter('{ me { email } }', anonymous);
    if (result.kind !== 'filtered') throw new Error(result.kind);
    const data = { me: { __authorizationRemoved: 'User' } };
    restoreRemovedFields(data, result.nullPaths);
    expect(data).toEqual({ me: { email: null } });
  });

  it('follows fragments and aliases', () => {
    const result = filter('{ ...F } fragment F on Query { me { mail: email } }', anonymous);
    if (result.kind !== 'filtered') throw new Error(result.kind);
    expect(result.denials.map((denial) => denial.path)).toEqual([['me', 'mail']]);
  });

  it('refuses the whole operation when the null would reach the root', () => {
    const result = filter('{ public stats { count } }', buyer);
    expect(result).toEqual({ kind: 'refused', denials: [{ path: ['stats'], code: 'FORBIDDEN', coordinate: 'Query.stats' }] });
  });

  it('leaves the operation unchanged for a caller who meets every requirement', () => {
    expect(filter('{ me { email secret { value } } public }', buyer).kind).toBe('unchanged');
  });
});

describe('policies and scopes', () => {
  it('lets a merchant through the merchant policy and refuses a buyer', () => {
    expect(filter('{ hooks }', merchant).kind).toBe('unchanged');
    const refused = filter('{ hooks public }', buyer);
    if (refused.kind !== 'filtered') throw new Error(refused.kind);
    expect(refused.denials).toEqual([{ path: ['hooks'], code: 'FORBIDDEN', coordinate: 'Query.hooks' }]);
  });

  it('lets an admin through role:admin', () => {
    expect(filter('{ me { email secret { value } } stats { count } }', admin).kind).toBe('unchanged');
  });
});

describe('supergraphForGateway', () => {
  it('drops for: SECURITY from the three authorization links only', () => {
    const links = [
      '@link(url: "https://specs.apollo.dev/inaccessible/v0.2", for: SECURITY)',
      '@link(url: "https://specs.apollo.dev/authenticated/v0.1", for: SECURITY)',
      '@link(url: "https://specs.apollo.dev/requiresScopes/v0.1", for: SECURITY)',
      '@link(url: "https://specs.apollo.dev/policy/v0.1", for: SECURITY)',
    ].join('\n');
    expect(supergraphForGateway(links).split('\n')).toEqual([
      '@link(url: "https://specs.apollo.dev/inaccessible/v0.2", for: SECURITY)',
      '@link(url: "https://specs.apollo.dev/authenticated/v0.1")',
      '@link(url: "https://specs.apollo.dev/requiresScopes/v0.1")',
      '@link(url: "https://specs.apollo.dev/policy/v0.1")',
    ]);
  });
});
