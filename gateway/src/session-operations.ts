/**
 * Requests that need no login: signing in, renewing or ending a session, signing up. A client
 * that keeps its expired access token on every request (the usual way) was refused with HTTP 401
 * "The access token has expired: refresh it." when it then asked to refresh it (found by the auth
 * probe); such a request runs anonymous instead. Any other request with an expired token is still
 * refused.
 */
import type express from 'express';
import { getOperationAST, Kind, parse, type DocumentNode } from 'graphql';

/** Root mutation fields that need no login (and `__typename`). */
const SESSION_FIELDS: ReadonlySet<string> = new Set(['login', 'refreshToken', 'logout', 'registerUser', '__typename']);
/** A session operation is a few fields: a longer document is not parsed here (it is not one). */
const SESSION_DOCUMENT_TOKENS_MAX = 500;

/** True when the request's operation is a mutation of session fields only (from its JSON body). */
export function isSessionOperation(request: express.Request): boolean {
  const body = request.body as { query?: unknown; operationName?: unknown } | undefined;
  if (typeof body?.query !== 'string') return false;
  let document: DocumentNode;
  try {
    document = parse(body.query, { noLocation: true, maxTokens: SESSION_DOCUMENT_TOKENS_MAX });
  } catch {
    return false;
  }
  const operation = getOperationAST(document, typeof body.operationName === 'string' ? body.operationName : undefined);
  if (!operation || operation.operation !== 'mutation') return false;
  return operation.selectionSet.selections.every((selection) => selection.kind === Kind.FIELD && SESSION_FIELDS.has(selection.name.value));
}
