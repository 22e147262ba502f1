import type DataLoader from 'dataloader';
import { groupLoader, rowLoader, type SubgraphContext } from '@paygraph/server';
import type { OrderRow, PaymentRow, RefundRow } from './db/schema';
import type { FlowDeps } from './deps';

/** Per-request context of the payments subgraph. */
export interface Context extends SubgraphContext {
  flow: FlowDeps;
  loaders: {
    orderById: DataLoader<string, OrderRow | null>;
    paymentById: DataLoader<string, PaymentRow | null>;
    paymentsByOrderId: DataLoader<string, PaymentRow[]>;
    refundById: DataLoader<string, RefundRow | null>;
    refundsByPaymentId: DataLoader<string, RefundRow[]>;
  };
}

export function createContext(base: SubgraphContext, flow: Omit<FlowDeps, 'services'> & { services: Omit<FlowDeps['services'], 'requestId'> }): Context {
  const { store } = flow;
  return {
    ...base,
    flow: { ...flow, services: { ...flow.services, requestId: base.requestId }, logger: base.logger },
    loaders: {
      orderById: rowLoader(store.ordersByIds, (row) => row.id),
      paymentById: rowLoader(store.paymentsByIds, (row) => row.id),
      paymentsByOrderId: groupLoader(store.paymentsByOrderIds, (row) => row.orderId),
      refundById: rowLoader(store.refundsByIds, (row) => row.id),
      refundsByPaymentId: groupLoader(store.refundsByPaymentIds, (row) => row.paymentId),
    },
  };
}
