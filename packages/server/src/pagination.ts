/** Cursor connections (`edges { node cursor }`, `pageInfo`), as every list of the API uses them. */
import { badUserInput } from '@paygraph/errors';

export const PAGE_SIZE_DEFAULT = 20;
export const PAGE_SIZE_MAX = 100;

export function pageSize(first: number | null | undefined): number {
  if (first === null || first === undefined) return PAGE_SIZE_DEFAULT;
  if (!Number.isInteger(first) || first < 1 || first > PAGE_SIZE_MAX) throw badUserInput(`first must be between 1 and ${PAGE_SIZE_MAX}`, 'first');
  return first;
}

/**
 * Cursors are opaque to clients: base64url of a position the store understands and, since
 * cursors were found to pass from one list to another (a notifications cursor paged
 * ledgerEntries from an arbitrary position; found by the contract probe), the list it belongs to:
 * `v2:<list>:<position>`. Cursors made before that (`v1:<position>`, no list) are still read.
 */
export function encodeCursor(position: string, list?: string): string {
  return Buffer.from(list === undefined ? `v1:${position}` : `v2:${list}:${position}`, 'utf8').toString('base64url');
}

/** The largest PostgreSQL bigint: a numeric position or sequence past it is no row's (the database refused it with an internal error). */
export const BIGINT_MAX = 9_223_372_036_854_775_807n;

/** Cursor lists are named by the field that returns them. */
const LIST_NAME = /^[A-Za-z]{1,40}$/;

export function decodeCursor(cursor: string | null | undefined, list?: string, pattern: RegExp = /^\d{1,19}$/): string | null {
  if (cursor === null || cursor === undefined) return null;
  const decoded = cursor.length <= 200 ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  let position = '';
  if (decoded.startsWith('v1:')) position = decoded.slice(3);
  else if (decoded.startsWith('v2:') && list !== undefined) {
    const [, from = '', rest = ''] = /^v2:([^:]*):(.*)$/s.exec(decoded) ?? [];
    if (LIST_NAME.test(from) && from !== list) throw badUserInput(`after is a cursor from ${from}, not from ${list}`, 'after');
    if (from === list) position = rest;
  }
  if (!pattern.test(position) || (/^\d+$/.test(position) && BigInt(position) > BIGINT_MAX)) throw badUserInput('after is not a cursor from this list', 'after');
  return position;
}

/**
 * Builds a connection from `limit + 1` rows fetched in order (the extra row only tells hasNextPage);
 * its cursors name `list`, which decodeCursor then requires.
 */
export function connection<TRow, TNode = TRow>(rows: TRow[], limit: number, cursorOf: (row: TRow) => string, list?: string, toNode: (row: TRow) => TNode = (row) => row as unknown as TNode) {
  const page = rows.slice(0, limit);
  const edges = page.map((row) => ({ node: toNode(row), cursor: encodeCursor(cursorOf(row), list) }));
  return { edges, pageInfo: { hasNextPage: rows.length > limit, endCursor: edges.at(-1)?.cursor ?? null } };
}
