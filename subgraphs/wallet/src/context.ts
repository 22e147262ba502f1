import type DataLoader from 'dataloader';
import { groupLoader, rowLoader, type LookupCache, type SubgraphContext } from '@paygraph/server';
import type { ServiceClient } from '@paygraph/service-client';
import type { WalletRow } from './db/schema';
import type { WalletStore } from './store/wallet-store';

/** Per-request context of the wallet subgraph. */
export interface Context extends SubgraphContext {
  store: WalletStore;
  ledger: ServiceClient;
  systemAccounts: LookupCache<string>;
  loaders: {
    walletById: DataLoader<string, WalletRow | null>;
    walletsByUserId: DataLoader<string, WalletRow[]>;
  };
}

export function createContext(base: SubgraphContext, store: WalletStore, ledger: ServiceClient, systemAccounts: LookupCache<string>): Context {
  return {
    ...base,
    store,
    ledger,
    systemAccounts,
    loaders: {
      walletById: rowLoader(store.byIds, (row) => row.id),
      walletsByUserId: groupLoader(store.byUserIds, (row) => row.userId),
    },
  };
}
