/**
 * Trusted documents (a persisted query safelist), TRUSTED_DOCUMENTS=off|log|enforce:
 * - a request may name a listed document by `extensions.persistedQuery.sha256Hash` alone; the
 *   gateway puts the listed text in its place (so the manifest's ids need not be the SHA-256 of
 *   the text, as Apollo's persisted query lists allow);
 * - `enforce`: an id that is not listed is PERSISTED_QUERY_NOT_FOUND, a full document that is not
 *   listed is FORBIDDEN, and the IDE is not served (it sends documents nobody listed);
 * - `log`: unknown documents run and are logged (to build the list before enforcing it);
 * - `off`: no manifest is read; Apollo Server's automatic persisted queries behave as before.
 * Runs as an express middleware after the body is parsed and before Apollo Server sees it.
 */
import path from 'node:path';
import type express from 'express';
import { repositoryRoot } from '@paygraph/config';
import { ErrorCode } from '@paygraph/errors';
import type { Logger } from '@paygraph/logging';
import { loadManifest, sha256Hex, type TrustedDocuments } from './manifest';

export { parseManifest, loadManifest, sha256Hex, type TrustedDocuments } from './manifest';

export type TrustedDocumentsMode = 'off' | 'log' | 'enforce';

/** Longest operation name written to the log for an unknown document. */
const LOGGED_NAME_LENGTH_MAX = 100;

export interface GraphQLParameters {
  query?: unknown;
  operationName?: unknown;
  extensions?: unknown;
}

function persistedHash(extensions: unknown): string | undefined {
  const persisted = (extensions as { persistedQuery?: { sha256Hash?: unknown } } | undefined)?.persistedQuery;
  return typeof persisted?.sha256Hash === 'string' ? persisted.sha256Hash : undefined;
}

function withoutPersistedQuery(extensions: unknown): Record<string, unknown> | undefined {
  if (typeof extensions !== 'object' || extensions === null) return undefined;
  const { persistedQuery: _dropped, ...rest } = extensions as Record<string, unknown>;
  return Object.keys(rest).length > 0 ? rest : undefined;
}

function refuse(response: express.Response, status: number, code: string, message: string): void {
  response.status(status).json({ errors: [{ message, extensions: { code } }] });
}

export function resolveManifestPath(file: string): string {
  return path.isAbsolute(file) ? file : path.resolve(repositoryRoot, file);
}

export interface TrustedDocumentsOptions {
  mode: TrustedDocumentsMode;
  /** Absolute, or relative to the repository root. */
  manifestFile: string;
  logger: Logger;
  /** For tests: the manifest as a value instead of a file. */
  documents?: TrustedDocuments;
}

/** What the list says of one request's document: the listed text to run, or why it is not listed. */
export type DocumentVerdict =
  | { listed: string }
  | { listed: undefined; refusal: { status: number; code: string; message: string } | null; idOnly: boolean };

/**
 * The one rule for HTTP requests and WebSocket subscribe messages alike: a listed document (by
 * id, or by its full text) runs as the manifest has it; anything else is logged, and refused in
 * `enforce`. Null in `off`.
 */
export function trustedDocumentsCheck(options: TrustedDocumentsOptions): ((parameters: GraphQLParameters) => DocumentVerdict) | null {
  const { mode, logger } = options;
  if (mode === 'off') return null;
  const documents = options.documents ?? loadManifest(resolveManifestPath(options.manifestFile));
  logger.info({ mode, documents: documents.size }, 'trusted documents loaded');
  return (parameters) => {
    const hash = persistedHash(parameters.extensions);
    const query = typeof parameters.query === 'string' ? parameters.query : undefined;
    let listed: string | undefined;
    if (query === undefined && hash !== undefined) listed = documents.byId(hash);
    else if (query !== undefined) listed = documents.includes(query) || documents.byId(sha256Hex(query)) === query || (hash !== undefined && documents.byId(hash) === query) ? query : undefined;
    if (listed !== undefined) return { listed };
    const name = typeof parameters.operationName === 'string' ? parameters.operationName.slice(0, LOGGED_NAME_LENGTH_MAX) : null;
    logger.warn({ operationName: name, documentId: hash ?? (query === undefined ? null : sha256Hex(query)), mode }, 'document not in the trusted documents list');
    const idOnly = query === undefined && hash !== undefined;
    if (mode !== 'enforce') return { listed: undefined, refusal: null, idOnly };
    return {
      listed: undefined,
      idOnly,
      refusal: idOnly
        ? { status: 200, code: 'PERSISTED_QUERY_NOT_FOUND', message: 'PersistedQueryNotFound: this document id is not in the trusted documents list.' }
        : { status: 403, code: ErrorCode.FORBIDDEN, message: 'This document is not in the trusted documents list: send a listed document or its id.' },
    };
  };
}

export function trustedDocumentsMiddleware(options: TrustedDocumentsOptions, check = trustedDocumentsCheck(options)): express.RequestHandler {
  const { mode } = options;
  if (!check) return (_request, _response, next) => next();

  return (request, response, next) => {
    // In enforce mode the IDE (GET /graphql from a browser and its assets) is not served.
    if (mode === 'enforce' && request.method === 'GET' && (request.path !== '/' || (request.headers.accept ?? '').includes('text/html'))) {
      refuse(response, 404, 'NOT_FOUND', 'The GraphQL IDE is not served: this gateway accepts trusted documents only.');
      return;
    }
    const isGet = request.method === 'GET';
    let parameters: GraphQLParameters;
    if (isGet) {
      const search = new URLSearchParams(request.url.split('?')[1] ?? '');
      let extensions: unknown;
      try {
        extensions = search.has('extensions') ? JSON.parse(search.get('extensions')!) : undefined;
      } catch {
        extensions = undefined; // Apollo Server answers the malformed parameter itself
      }
      parameters = { query: search.get('query') ?? undefined, operationName: search.get('operationName') ?? undefined, extensions };
    } else if (request.method === 'POST' && typeof request.body === 'object' && request.body !== null && !Array.isArray(request.body)) {
      parameters = request.body as GraphQLParameters;
    } else {
      next();
      return;
    }

    const verdict = check(parameters);
    if (verdict.listed === undefined) {
      if (verdict.refusal) refuse(response, verdict.refusal.status, verdict.refusal.code, verdict.refusal.message);
      else next();
      return;
    }
    const listed = verdict.listed;

    // A listed document: hand Apollo Server the text, without the persisted-query extension (the
    // manifest is the source of truth, not Apollo's automatic persisted query cache).
    const extensions = withoutPersistedQuery(parameters.extensions);
    if (isGet) {
      const [pathname, search = ''] = request.url.split('?');
      const rewritten = new URLSearchParams(search);
      rewritten.set('query', listed);
      if (extensions) rewritten.set('extensions', JSON.stringify(extensions));
      else rewritten.delete('extensions');
      request.url = `${pathname}?${rewritten.toString()}`;
    } else {
      const body = request.body as Record<string, unknown>;
      body.query = listed;
      if (extensions) body.extensions = extensions;
      else delete body.extensions;
    }
    next();
  };
}
