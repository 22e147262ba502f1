/** Raw rows of the hand-written statements mapped to the drizzle row types the rest uses. */
import type { EntryRow, HoldRow, TransactionRow } from '../db/schema';

type Raw = Record<string, unknown>;
const text = (value: unknown) => value as string;
const nullableText = (value: unknown) => (value === null || value === undefined ? null : (value as string));
const date = (value: unknown) => (value instanceof Date ? value : new Date(value as string));
const nullableBigint = (value: unknown) => (value === null || value === undefined ? null : BigInt(value as string));

export function toTransaction(row: Raw): TransactionRow {
  return {
    id: text(row.id),
    idempotencyKey: text(row.idempotency_key),
    requestHash: text(row.request_hash),
    kind: text(row.kind) as TransactionRow['kind'],
    holdId: nullableText(row.hold_id),
    description: nullableText(row.description),
    sequence: nullableBigint(row.sequence),
    hash: nullableText(row.hash),
    createdAt: date(row.created_at),
  };
}

export function toEntry(row: Raw): EntryRow {
  return {
    id: text(row.id),
    position: BigInt(text(row.position)),
    transactionId: text(row.transaction_id),
    accountId: text(row.account_id),
    direction: text(row.direction) as EntryRow['direction'],
    amount: BigInt(text(row.amount)),
    currency: text(row.currency),
    createdAt: date(row.created_at),
  };
}

export function toHold(row: Raw): HoldRow {
  return {
    id: text(row.id),
    idempotencyKey: text(row.idempotency_key),
    requestHash: text(row.request_hash),
    debitAccountId: text(row.debit_account_id),
    creditAccountId: text(row.credit_account_id),
    amount: BigInt(text(row.amount)),
    currency: text(row.currency),
    status: text(row.status) as HoldRow['status'],
    capturedAmount: nullableBigint(row.captured_amount),
    captureTransactionId: nullableText(row.capture_transaction_id),
    captureIdempotencyKey: nullableText(row.capture_idempotency_key),
    description: nullableText(row.description),
    expiresAt: date(row.expires_at),
    createdAt: date(row.created_at),
    updatedAt: date(row.updated_at),
  };
}
