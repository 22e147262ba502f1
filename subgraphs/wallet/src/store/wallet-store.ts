/** The only place with SQL for wallets. */
import { and, eq, inArray } from 'drizzle-orm';
import type { Database } from '@paygraph/db';
import { wallets, type WalletRow, type schema } from '../db/schema';

export function createWalletStore(db: Database<typeof schema>) {
  return {
    async find(userId: string, currency: string): Promise<WalletRow | undefined> {
      const [row] = await db.select().from(wallets).where(and(eq(wallets.userId, userId), eq(wallets.currency, currency)));
      return row;
    },

    /** Records the wallet of a ledger account; a concurrent first use finds the same row. */
    async insert(wallet: Pick<WalletRow, 'id' | 'userId' | 'currency'>): Promise<WalletRow> {
      await db.insert(wallets).values(wallet).onConflictDoNothing();
      return (await this.find(wallet.userId, wallet.currency))!;
    },

    async byIds(ids: readonly string[]): Promise<WalletRow[]> {
      if (ids.length === 0) return [];
      return db.select().from(wallets).where(inArray(wallets.id, [...ids]));
    },

    async byUserIds(userIds: readonly string[]): Promise<WalletRow[]> {
      if (userIds.length === 0) return [];
      return db.select().from(wallets).where(inArray(wallets.userId, [...userIds])).orderBy(wallets.currency);
    },
  };
}

export type WalletStore = ReturnType<typeof createWalletStore>;
