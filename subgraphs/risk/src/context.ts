import DataLoader from 'dataloader';
import type { SubgraphContext } from '@paygraph/server';
import type { ServiceClient } from '@paygraph/service-client';
import type { AssessmentRow } from './db/schema';
import type { RiskStore } from './store/risk-store';

/** Per-request context of the risk subgraph. */
export interface Context extends SubgraphContext {
  store: RiskStore;
  users: ServiceClient;
  loaders: {
    assessmentById: DataLoader<string, AssessmentRow | null>;
    assessmentByPaymentId: DataLoader<string, AssessmentRow | null>;
  };
}

export function createContext(base: SubgraphContext, store: RiskStore, users: ServiceClient): Context {
  return {
    ...base,
    store,
    users,
    loaders: {
      assessmentById: new DataLoader(async (ids) => {
        const rows = await store.assessmentsByIds(ids);
        return ids.map((id) => rows.find((row) => row.id === id) ?? null);
      }),
      assessmentByPaymentId: new DataLoader(async (paymentIds) => {
        const rows = await store.assessmentsByPaymentIds(paymentIds);
        return paymentIds.map((id) => rows.find((row) => row.paymentId === id) ?? null);
      }),
    },
  };
}
