// Proves the trusted documents middleware on its own: both manifest formats are read, a listed id
// becomes its document (the persisted-query extension dropped), enforce refuses unknown ids and
// unlisted documents and hides the IDE, log lets them through and logs each with its id.
import { createHash } from 'node:crypto';
import type express from 'express';
import { describe, expect, it } from 'vitest';
import type { Logger } from '@paygraph/logging';
import { parseManifest, trustedDocumentsMiddleware, type TrustedDocumentsMode } from '../src/trusted-documents';

const ME = 'query Me { me { id } }';
const ME_ID = createHash('sha256').update(ME).digest('hex');

function capturingLogger(): { logger: Logger; warnings: unknown[] } {
  const warnings: unknown[] = [];
  const logger = { warn: (fields: unknown) => warnings.push(fields), info: () => {} } as unknown as Logger;
  return { logger, warnings };
}

interface Outcome {
  passed: boolean;
  status?: number;
  body?: { errors: { extensions: { code: string } }[] };
  request: { body?: Record<string, unknown>; url: string };
}

function run(mode: TrustedDocumentsMode, request: { method: string; body?: Record<string, unknown>; url?: string; path?: string; accept?: string }, logger = capturingLogger().logger): Outcome {
  const middleware = trustedDocumentsMiddleware({ mode, manifestFile: 'unused', logger, documents: parseManifest({ [ME_ID]: ME }, 'test') });
  const outcome: Outcome = { passed: false, request: { body: request.body, url: request.url ?? '/' } };
  const fakeRequest = { method: request.method, body: request.body, url: request.url ?? '/', path: request.path ?? '/', headers: { accept: request.accept } } as unknown as express.Request;
  const fakeResponse = {
    status(code: number) {
      outcome.status = code;
      return this;
    },
    json(body: Outcome['body']) {
      outcome.body = body;
      return this;
    },
  } as unknown as express.Response;
  middleware(fakeRequest, fakeResponse, () => {
    outcome.passed = true;
  });
  outcome.request.url = fakeRequest.url;
  return outcome;
}

const persisted = (id: string) => ({ persistedQuery: { version: 1, sha256Hash: id } });

describe('parseManifest', () => {
  it('reads the codegen map and the Apollo persisted query list', () => {
    expect(parseManifest({ [ME_ID]: ME }, 'x').byId(ME_ID)).toBe(ME);
    const apollo = parseManifest({ format: 'apollo-persisted-query-manifest', version: 1, operations: [{ id: 'me-1', body: ME, name: 'Me', type: 'query' }] }, 'x');
    expect(apollo.byId('me-1')).toBe(ME);
    expect(apollo.includes(ME)).toBe(true);
    expect(() => parseManifest({ [ME_ID]: 3 }, 'x')).toThrow(/TRUSTED_DOCUMENTS_MANIFEST/);
    expect(() => parseManifest({ format: 'apollo-persisted-query-manifest' }, 'x')).toThrow(/no operations/);
  });
});

describe('enforce', () => {
  it('replaces a listed id by its document and drops the extension', () => {
    const outcome = run('enforce', { method: 'POST', body: { extensions: persisted(ME_ID) } });
    expect(outcome.passed).toBe(true);
    expect(outcome.request.body).toEqual({ query: ME });
  });

  it('does the same for GET', () => {
    const outcome = run('enforce', { method: 'GET', url: `/?extensions=${encodeURIComponent(JSON.stringify(persisted(ME_ID)))}` });
    expect(outcome.passed).toBe(true);
    expect(new URLSearchParams(outcome.request.url.split('?')[1]).get('query')).toBe(ME);
  });

  it('refuses an unknown id, an unlisted document and the IDE', () => {
    expect(run('enforce', { method: 'POST', body: { extensions: persisted('f'.repeat(64)) } }).body!.errors[0]!.extensions.code).toBe('PERSISTED_QUERY_NOT_FOUND');
    const unlisted = run('enforce', { method: 'POST', body: { query: '{ __typename }' } });
    expect([unlisted.passed, unlisted.status, unlisted.body!.errors[0]!.extensions.code]).toEqual([false, 403, 'FORBIDDEN']);
    expect(run('enforce', { method: 'GET', accept: 'text/html' }).status).toBe(404);
    expect(run('enforce', { method: 'GET', path: '/ide/index.js' }).status).toBe(404);
  });
});

describe('log', () => {
  it('lets unknown documents through and logs each with its id', () => {
    const { logger, warnings } = capturingLogger();
    expect(run('log', { method: 'POST', body: { query: '{ __typename }', operationName: null } }, logger).passed).toBe(true);
    expect(run('log', { method: 'POST', body: { query: ME } }, logger).passed).toBe(true);
    expect(warnings).toEqual([{ operationName: null, documentId: createHash('sha256').update('{ __typename }').digest('hex'), mode: 'log' }]);
  });
});
