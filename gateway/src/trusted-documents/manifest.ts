/**
 * The trusted documents manifest: the client operations a production gateway accepts. Two formats
 * are read, the two that client build tools write:
 * - GraphQL Code Generator's client preset, `persisted-documents.json`: `{ "<hash>": "<document>" }`;
 * - Apollo's persisted query list: `{ "format": "apollo-persisted-query-manifest", "version": 1,
 *   "operations": [{ "id", "body", "name", "type" }] }`.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError } from '@paygraph/config';

/** Operations in one manifest; a larger file is refused at start-up rather than held in memory. */
export const TRUSTED_DOCUMENTS_MAX = 100_000;

export interface TrustedDocuments {
  /** The document for an id of the manifest (its hash), if listed. */
  byId(id: string): string | undefined;
  /** True when this exact document text is listed. */
  includes(document: string): boolean;
  readonly size: number;
}

export const sha256Hex = (text: string) => createHash('sha256').update(text).digest('hex');

export function parseManifest(json: unknown, source: string): TrustedDocuments {
  const ids = new Map<string, string>();
  const invalid = (why: string) => new ConfigError(`Invalid configuration: TRUSTED_DOCUMENTS_MANIFEST ${source} ${why}`);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw invalid('must be a JSON object');
  const record = json as Record<string, unknown>;
  if (record.format === 'apollo-persisted-query-manifest') {
    if (!Array.isArray(record.operations)) throw invalid('has no operations list');
    for (const operation of record.operations as { id?: unknown; body?: unknown }[]) {
      if (typeof operation?.id !== 'string' || typeof operation.body !== 'string') throw invalid('has an operation without a string id and body');
      ids.set(operation.id, operation.body);
    }
  } else {
    for (const [id, body] of Object.entries(record)) {
      if (typeof body !== 'string') throw invalid(`maps ${JSON.stringify(id.slice(0, 80))} to something other than a document`);
      ids.set(id, body);
    }
  }
  if (ids.size > TRUSTED_DOCUMENTS_MAX) throw invalid(`lists ${ids.size} documents, more than ${TRUSTED_DOCUMENTS_MAX}`);
  const bodies = new Set(ids.values());
  return { byId: (id) => ids.get(id), includes: (document) => bodies.has(document), size: ids.size };
}

export function loadManifest(file: string): TrustedDocuments {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new ConfigError(`Invalid configuration: TRUSTED_DOCUMENTS_MANIFEST ${file} cannot be read`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ConfigError(`Invalid configuration: TRUSTED_DOCUMENTS_MANIFEST ${file} is not JSON`);
  }
  return parseManifest(json, file);
}
