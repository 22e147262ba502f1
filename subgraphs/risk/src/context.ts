import type DataLoader from 'dataloader';
import { rowLoader, type LookupCache, type SubgraphContext } from '@paygraph/server';
import type { Buyer } from './assess';
import type { ServiceClient } from '@paygraph/service-client';
import type { AssessmentRow } from './db/schema';
import type { RiskStore } from './store/risk-store';

/** Per-request context of the risk subgraph. */
export interface Context extends SubgraphContext {
  store: RiskStore;
  users: ServiceClient;
  buyers: LookupCache<Buyer | null>;
  loaders: {
    assessmentById: DataLoader<string, AssessmentRow | null>;
    assessmentByPaymentId: DataLoader<string, AssessmentRow | null>;
  };
}

export function createContext(base: SubgraphContext, store: RiskStore, users: ServiceClient, buyers: LookupCache<Buyer | null>): Context {
  return {
    ...base,
    store,
    users,
    buyers,
    loaders: {
      assessmentById: rowLoader(store.assessmentsByIds, (row) => row.id),
      assessmentByPaymentId: rowLoader(store.assessmentsByPaymentIds, (row) => row.paymentId),
    },
  };
}
