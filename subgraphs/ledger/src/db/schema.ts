import { sql } from 'drizzle-orm';
import { bigint, bigserial, boolean, check, index, integer, pgSchema, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';

/** The ledger's own Postgres schema; no other service reads it. */
export const ledgerSchema = pgSchema('ledger');

const money = (name: string) => bigint(name, { mode: 'bigint' });

/**
 * Accounts with their cached totals, updated in the same transaction as the entries. A guarded
 * account (a user's wallet) may never have debits (posted and pending) above its credits: checked
 * by the guarded UPDATE and, as a backstop, by a CHECK constraint.
 */
export const accounts = ledgerSchema.table(
  'accounts',
  {
    id: text('id').primaryKey(),
    kind: text('kind', { enum: ['USER_WALLET', 'SYSTEM_BANK'] }).notNull(),
    /** The user who owns it, or `system` for system accounts. */
    ownerId: text('owner_id').notNull(),
    currency: text('currency').notNull(),
    guarded: boolean('guarded').notNull(),
    postedDebits: money('posted_debits').notNull().default(sql`0`),
    postedCredits: money('posted_credits').notNull().default(sql`0`),
    pendingDebits: money('pending_debits').notNull().default(sql`0`),
    pendingCredits: money('pending_credits').notNull().default(sql`0`),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    uniqueIndex('accounts_owner_kind_currency_unique').on(table.ownerId, table.kind, table.currency),
    check('accounts_guard', sql`not ${table.guarded} or ${table.postedCredits} - ${table.postedDebits} - ${table.pendingDebits} >= 0`),
    check('accounts_totals_non_negative', sql`${table.postedDebits} >= 0 and ${table.postedCredits} >= 0 and ${table.pendingDebits} >= 0 and ${table.pendingCredits} >= 0`),
  ],
);

/**
 * Journal transactions. The client's idempotency key is unique and stored with a hash of the
 * request; `sequence` and `hash` chain every transaction to the previous one.
 */
export const transactions = ledgerSchema.table(
  'transactions',
  {
    id: text('id').primaryKey(),
    idempotencyKey: text('idempotency_key').notNull(),
    requestHash: text('request_hash').notNull(),
    kind: text('kind', { enum: ['TRANSFER', 'CAPTURE'] }).notNull(),
    holdId: text('hold_id'),
    description: text('description'),
    sequence: bigint('sequence', { mode: 'bigint' }),
    hash: text('hash'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [uniqueIndex('transactions_idempotency_key_unique').on(table.idempotencyKey), uniqueIndex('transactions_sequence_unique').on(table.sequence)],
);

/** Append-only entries: corrections are reversal transactions, never updates. */
export const entries = ledgerSchema.table(
  'entries',
  {
    id: text('id').primaryKey(),
    /** Insertion order, for stable newest-first pagination. */
    position: bigserial('position', { mode: 'bigint' }).notNull(),
    transactionId: text('transaction_id').notNull(),
    accountId: text('account_id').notNull(),
    direction: text('direction', { enum: ['DEBIT', 'CREDIT'] }).notNull(),
    amount: money('amount').notNull(),
    currency: text('currency').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    index('entries_account_position_idx').on(table.accountId, table.position),
    index('entries_transaction_idx').on(table.transactionId),
    check('entries_amount_positive', sql`${table.amount} > 0`),
  ],
);

/** Two-phase transfers: authorize reserves, capture posts all or part, void releases. */
export const holds = ledgerSchema.table(
  'holds',
  {
    id: text('id').primaryKey(),
    idempotencyKey: text('idempotency_key').notNull(),
    requestHash: text('request_hash').notNull(),
    debitAccountId: text('debit_account_id').notNull(),
    creditAccountId: text('credit_account_id').notNull(),
    amount: money('amount').notNull(),
    currency: text('currency').notNull(),
    status: text('status', { enum: ['PENDING', 'CAPTURED', 'VOIDED', 'EXPIRED'] }).notNull(),
    capturedAmount: money('captured_amount'),
    captureTransactionId: text('capture_transaction_id'),
    captureIdempotencyKey: text('capture_idempotency_key'),
    description: text('description'),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    uniqueIndex('holds_idempotency_key_unique').on(table.idempotencyKey),
    index('holds_pending_expiry_idx').on(table.expiresAt).where(sql`${table.status} = 'PENDING'`),
    check('holds_amount_positive', sql`${table.amount} > 0`),
  ],
);

/** The head of the hash chain: one row, advanced (and row-locked) as the last step of a posting. */
export const chainHead = ledgerSchema.table('chain_head', {
  id: integer('id').primaryKey(),
  sequence: bigint('sequence', { mode: 'bigint' }).notNull(),
  hash: text('hash').notNull(),
});

export type AccountRow = typeof accounts.$inferSelect;
export type TransactionRow = typeof transactions.$inferSelect;
export type EntryRow = typeof entries.$inferSelect;
export type HoldRow = typeof holds.$inferSelect;
export const schema = { accounts, transactions, entries, holds, chainHead };
