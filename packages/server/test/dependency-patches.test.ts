// What is patched into dependencies for the request path (patches/, applied by postinstall):
// @apollo/server's query hash per query text and negotiator's answer per Accept header, each
// answering exactly what the computation it skips answers, the second time too; and tsx compiling
// without esbuild's keepNames, functions keeping their names all the same.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ApolloServer, HeaderMap } from '@apollo/server';
import { describe, expect, it } from 'vitest';

const require = createRequire(import.meta.url);
// negotiator comes with Apollo Server and express (no types of its own): the two calls they make.
const Negotiator = require('negotiator') as new (request: { headers: Record<string, string> }) => {
  mediaTypes(available: string[]): string[];
  mediaType(available: string[]): string | undefined;
};
const serverRoot = require.resolve('@apollo/server').replace(/dist\/cjs\/.*$/, '');

describe('@apollo/server patch: the query hash remembered per query text', () => {
  it('is installed in both builds', () => {
    for (const build of ['esm', 'cjs']) {
      expect(readFileSync(`${serverRoot}dist/${build}/requestPipeline.js`, 'utf8')).toContain('const queryHashes = new Map();');
    }
  });

  it('still refuses a persisted query whose hash does not match, after the same text was hashed and remembered', async () => {
    const server = new ApolloServer({ typeDefs: 'type Query { hello: String }', resolvers: { Query: { hello: () => 'world' } } });
    await server.start();
    try {
      const query = '{ hello }';
      const post = (body: Record<string, unknown>) =>
        server.executeHTTPGraphQLRequest({
          httpGraphQLRequest: { method: 'POST', headers: new HeaderMap([['content-type', 'application/json']]), search: '', body },
          context: async () => ({}),
        });
      const text = async (body: Record<string, unknown>) => {
        const response = await post(body);
        return { status: response.status ?? 200, body: response.body.kind === 'complete' ? JSON.parse(response.body.string) : null };
      };
      expect(await text({ query })).toEqual({ status: 200, body: { data: { hello: 'world' } } });
      const sha256Hash = createHash('sha256').update(query).digest('hex');
      const wrong = `${sha256Hash.slice(0, -1)}${sha256Hash.endsWith('0') ? '1' : '0'}`;
      for (let round = 0; round < 2; round += 1) {
        const refused = await text({ query, extensions: { persistedQuery: { version: 1, sha256Hash: wrong } } });
        expect(refused.status).toBe(400);
        expect(refused.body.errors[0].message).toBe('provided sha does not match query');
        expect(await text({ query, extensions: { persistedQuery: { version: 1, sha256Hash } } })).toEqual({ status: 200, body: { data: { hello: 'world' } } });
      }
      // Registered under the right hash: the hash alone now finds the text.
      expect(await text({ extensions: { persistedQuery: { version: 1, sha256Hash } } })).toEqual({ status: 200, body: { data: { hello: 'world' } } });
    } finally {
      await server.stop();
    }
  });
});

describe('negotiator patch: the answer remembered per Accept header and list of types', () => {
  it('is installed', () => {
    expect(readFileSync(require.resolve('negotiator/lib/mediaType.js'), 'utf8')).toContain('var preferredCache = new Map();');
  });

  const types = ['application/json', 'application/graphql-response+json', 'application/json; callback=x'];
  const cases: [string | undefined, string[], string[]][] = [
    [undefined, types, types],
    ['application/json', types, ['application/json', 'application/json; callback=x']],
    ['application/graphql-response+json, application/json;q=0.9', types, ['application/graphql-response+json', 'application/json', 'application/json; callback=x']],
    ['text/html', types, []],
    ['*/*;q=0.1, application/json', types, ['application/json', 'application/json; callback=x', 'application/graphql-response+json']],
    ['', types, []],
  ];

  it('answers each header the same every time, and one caller changing its array changes no other answer', () => {
    for (let round = 0; round < 3; round += 1) {
      for (const [accept, provided, expected] of cases) {
        const negotiator = new Negotiator({ headers: accept === undefined ? {} : { accept } });
        const answer = negotiator.mediaTypes(provided);
        expect(answer, `round ${round}, accept ${String(accept)}`).toEqual(expected);
        answer.push('mutated by a caller');
        expect(negotiator.mediaType(provided)).toBe(expected[0]);
      }
    }
  });

  it('keeps the answers of different lists of types apart for the same header', () => {
    const negotiator = new Negotiator({ headers: { accept: 'application/json, text/html;q=0.5' } });
    expect(negotiator.mediaType(['text/html', 'application/json'])).toBe('application/json');
    expect(negotiator.mediaType(['text/html'])).toBe('text/html');
    expect(negotiator.mediaType(['text/plain'])).toBeUndefined();
  });
});

describe('tsx patch: no keepNames', () => {
  it('compiles a module without a __name call per function made, and every function keeps its name', () => {
    const directory = mkdtempSync(path.join(tmpdir(), 'paygraph-tsx-'));
    try {
      const file = path.join(directory, 'names.ts');
      writeFileSync(
        file,
        [
          'class Thing { name = "thing"; }',
          'function outer(): () => number { const inner = (): number => 1; return inner; }',
          'const arrow = async (value: number): Promise<number> => value;',
          'console.log(JSON.stringify({ source: outer.toString(), names: [outer.name, outer().name, arrow.name, Thing.name, new Thing().name] }));',
        ].join('\n'),
      );
      const tsx = path.join(path.dirname(require.resolve('tsx/package.json')), 'dist/cli.mjs');
      const printed = JSON.parse(execFileSync(process.execPath, [tsx, file], { encoding: 'utf8', env: { ...process.env, TSX_DISABLE_CACHE: '1' } })) as { source: string; names: string[] };
      // With keepNames, esbuild wraps the inner arrow: `const inner = /* @__PURE__ */ __name(() => 1, "inner")`.
      expect(printed.source).not.toContain('__name');
      expect(printed.names).toEqual(['outer', 'inner', 'arrow', 'Thing', 'thing']);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });
});
