import DataLoader from 'dataloader';
import type { SubgraphContext } from '@paygraph/server';
import type { ServiceClient } from '@paygraph/service-client';
import type { WalletRow } from './db/schema';
import type { WalletStore } from './store/wallet-store';

/** Per-request context of the wallet subgraph. */
export interface Context extends SubgraphContext {
  store: WalletStore;
  ledger: ServiceClient;
  systemAccounts: Map<string, Promise<string>>;
  loaders: {
    walletById: DataLoader<string, WalletRow | null>;
    walletsByUserId: DataLoader<string, WalletRow[]>;
  };
}

export function createContext(base: SubgraphContext, store: WalletStore, ledger: ServiceClient, systemAccounts: Map<string, Promise<string>>): Context {
  return {
    ...base,
    store,
    ledger,
    systemAccounts,
    loaders: {
      walletById: new DataLoader(async (ids) => {
        const rows = await store.byIds(ids);
        const byId = new Map(rows.map((row) => [row.id, row]));
        return ids.map((id) => byId.get(id) ?? null);
      }),
      walletsByUserId: new DataLoader(async (userIds) => {
        const rows = await store.byUserIds(userIds);
        return userIds.map((userId) => rows.filter((row) => row.userId === userId));
      }),
    },
  };
}
