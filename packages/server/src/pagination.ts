/** Cursor connections (`edges { node cursor }`, `pageInfo`), as every list of the API uses them. */
import { badUserInput } from '@paygraph/errors';

export const PAGE_SIZE_DEFAULT = 20;
export const PAGE_SIZE_MAX = 100;

export function pageSize(first: number | null | undefined): number {
  if (first === null || first === undefined) return PAGE_SIZE_DEFAULT;
  if (!Number.isInteger(first) || first < 1 || first > PAGE_SIZE_MAX) throw badUserInput(`first must be between 1 and ${PAGE_SIZE_MAX}`, 'first');
  return first;
}

/** Cursors are opaque to clients: base64url of a position the store understands. */
export function encodeCursor(position: string): string {
  return Buffer.from(`v1:${position}`, 'utf8').toString('base64url');
}

/** The largest PostgreSQL bigint: a numeric position or sequence past it is no row's (the database refused it with an internal error). */
export const BIGINT_MAX = 9_223_372_036_854_775_807n;

export function decodeCursor(cursor: string | null | undefined, pattern: RegExp = /^\d{1,19}$/): string | null {
  if (cursor === null || cursor === undefined) return null;
  const decoded = cursor.length <= 200 ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  const position = decoded.startsWith('v1:') ? decoded.slice(3) : '';
  if (!pattern.test(position) || (/^\d+$/.test(position) && BigInt(position) > BIGINT_MAX)) throw badUserInput('after is not a cursor from this list', 'after');
  return position;
}

/** Builds a connection from `limit + 1` rows fetched in order (the extra row only tells hasNextPage). */
export function connection<TRow, TNode = TRow>(rows: TRow[], limit: number, cursorOf: (row: TRow) => string, toNode: (row: TRow) => TNode = (row) => row as unknown as TNode) {
  const page = rows.slice(0, limit);
  const edges = page.map((row) => ({ node: toNode(row), cursor: encodeCursor(cursorOf(row)) }));
  return { edges, pageInfo: { hasNextPage: rows.length > limit, endCursor: edges.at(-1)?.cursor ?? null } };
}
