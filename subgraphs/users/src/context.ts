import type DataLoader from 'dataloader';
import { rowLoader, type SubgraphContext } from '@paygraph/server';
import type { ServiceClient } from '@paygraph/service-client';
import type { UserRow } from './db/schema';
import type { UsersStore } from './store/users-store';
import type { RegistrationThrottle } from './throttle';

/** Per-request context of the users subgraph. */
export interface Context extends SubgraphContext {
  store: UsersStore;
  auth: ServiceClient;
  loaders: { userById: DataLoader<string, UserRow | null> };
  /** Sign-ups per client address (throttle.ts). */
  registrations: { throttle: RegistrationThrottle; clientAddress: string };
}

export function createContext(base: SubgraphContext, store: UsersStore, auth: ServiceClient, registrations: Context['registrations']): Context {
  return {
    ...base,
    store,
    auth,
    registrations,
    loaders: {
      userById: rowLoader(store.findByIds, (row) => row.id),
    },
  };
}
