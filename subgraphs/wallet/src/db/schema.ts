import { pgSchema, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';

/** The wallet service's own Postgres schema; no other service reads it. */
export const walletSchema = pgSchema('wallet');

/** A user's wallet per currency; `id` is the ledger account that holds its money. */
export const wallets = walletSchema.table(
  'wallets',
  {
    id: text('id').primaryKey(),
    userId: text('user_id').notNull(),
    currency: text('currency').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [uniqueIndex('wallets_user_currency_unique').on(table.userId, table.currency)],
);

export type WalletRow = typeof wallets.$inferSelect;
export const schema = { wallets };
