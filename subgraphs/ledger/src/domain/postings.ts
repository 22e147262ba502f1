/**
 * Ledger rules with no I/O: what a valid posting is (balanced per currency, bounded), the request
 * hash that makes idempotency keys safe, and the canonical text the hash chain covers.
 */
import { createHash } from 'node:crypto';
import { badUserInput } from '@paygraph/errors';
import { assertMovableAmount } from '@paygraph/money';
import { LEDGER_IDEMPOTENCY_KEY_LENGTH_MAX, assertIdempotencyKey } from '@paygraph/server';

export { requestHash } from '@paygraph/server';

export type Direction = 'DEBIT' | 'CREDIT';

export interface PostingLine {
  accountId: string;
  direction: Direction;
  amount: bigint;
  currency: string;
}

/** Bounds on one journal transaction. */
export const ENTRIES_PER_TRANSACTION_MAX = 32;
/** The callers' key builders (`ledgerKeys` in @paygraph/server) are bounded by the same constant. */
export const IDEMPOTENCY_KEY_LENGTH_MAX = LEDGER_IDEMPOTENCY_KEY_LENGTH_MAX;
export const DESCRIPTION_LENGTH_MAX = 500;
/** The hash the chain starts from. */
export const GENESIS_HASH = '0'.repeat(64);

/** Ledger keys are namespaced by the calling service (`wallet:<user>:<key>`), so longer than clients'. */
export const assertLedgerKey = (key: string, field = 'input.idempotencyKey') => assertIdempotencyKey(key, { field, lengthMax: IDEMPOTENCY_KEY_LENGTH_MAX });

export function assertDescription(description: string | null | undefined, field = 'input.description'): string | null {
  if (description === null || description === undefined) return null;
  if (description.length > DESCRIPTION_LENGTH_MAX) throw badUserInput(`Description must be at most ${DESCRIPTION_LENGTH_MAX} characters`, field);
  return description;
}

/** Rejects postings that are not two or more positive lines whose debits equal credits per currency. */
export function assertBalancedPosting(lines: readonly PostingLine[], field = 'input.entries'): void {
  if (lines.length < 2) throw badUserInput('A transaction needs at least two entries', field);
  if (lines.length > ENTRIES_PER_TRANSACTION_MAX) throw badUserInput(`A transaction has at most ${ENTRIES_PER_TRANSACTION_MAX} entries`, field);
  const netByCurrency = new Map<string, bigint>();
  lines.forEach((line, index) => {
    assertMovableAmount({ amount: line.amount, currency: line.currency }, `${field}.${index}.amount`);
    const signed = line.direction === 'DEBIT' ? line.amount : -line.amount;
    netByCurrency.set(line.currency, (netByCurrency.get(line.currency) ?? 0n) + signed);
  });
  for (const [currency, net] of netByCurrency) {
    if (net !== 0n) throw badUserInput(`Debits and credits differ by ${net < 0n ? -net : net} in ${currency}: a transaction must balance per currency`, field);
  }
}


/** The text a transaction contributes to the hash chain: its identity and every entry. */
export function chainPayload(transaction: { id: string; idempotencyKey: string; description: string | null }, lines: ReadonlyArray<PostingLine & { id: string }>): string {
  const sorted = [...lines].sort((a, b) => (a.id < b.id ? -1 : 1));
  return [transaction.id, transaction.idempotencyKey, transaction.description ?? '', ...sorted.map((line) => `${line.id}:${line.accountId}:${line.direction}:${line.amount}:${line.currency}`)].join('|');
}

export function chainHash(previousHash: string, payload: string): string {
  return createHash('sha256').update(Buffer.from(previousHash, 'hex')).update(payload, 'utf8').digest('hex');
}
