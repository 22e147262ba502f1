import type DataLoader from 'dataloader';
import { rowLoader, type SubgraphContext } from '@paygraph/server';
import type { AccountRow } from './db/schema';
import type { LedgerStore } from './store/ledger-store';
import type { Database } from '@paygraph/db';
import type { schema } from './db/schema';

/** Per-request context of the ledger subgraph. */
export interface Context extends SubgraphContext {
  store: LedgerStore;
  db: Database<typeof schema>;
  loaders: { accountById: DataLoader<string, AccountRow | null> };
}

export function createContext(base: SubgraphContext, store: LedgerStore, db: Database<typeof schema>): Context {
  return {
    ...base,
    store,
    db,
    loaders: {
      accountById: rowLoader(store.accountsByIds, (row) => row.id),
    },
  };
}
