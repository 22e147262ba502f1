import type DataLoader from 'dataloader';
import type { AuditRecorder } from '@paygraph/audit';
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
  /** Blocklist and rule changes go to the audit trail (packages/audit). */
  audit: AuditRecorder;
  loaders: {
    assessmentById: DataLoader<string, AssessmentRow | null>;
    assessmentByPaymentId: DataLoader<string, AssessmentRow | null>;
  };
}

export function createContext(base: SubgraphContext, store: RiskStore, users: ServiceClient, buyers: LookupCache<Buyer | null>, audit: AuditRecorder): Context {
  return {
    ...base,
    store,
    users,
    buyers,
    audit,
    loaders: {
      assessmentById: rowLoader(store.assessmentsByIds, (row) => row.id),
      assessmentByPaymentId: rowLoader(store.assessmentsByPaymentIds, (row) => row.paymentId),
    },
  };
}
