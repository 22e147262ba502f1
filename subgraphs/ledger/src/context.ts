import DataLoader from 'dataloader';
import type { SubgraphContext } from '@paygraph/server';
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
      accountById: new DataLoader(async (ids) => {
        const rows = await store.accountsByIds(ids);
        const byId = new Map(rows.map((row) => [row.id, row]));
        return ids.map((id) => byId.get(id) ?? null);
      }),
    },
  };
}
