/**
 * Events: the outbox log every emitting service keeps, the relay that publishes it, the inbox
 * consumers apply through, and the transports (in-process, PostgreSQL LISTEN/NOTIFY, NATS
 * JetStream) behind one interface.
 */
export type { DomainEvent, EventHandler, EventSubscription, EventTransport, SubscribeOptions } from './types';
export { createInProcessTransport } from './in-process';
export { outboxTable, appendEvent, readLog, logHead, logTail, pruneLog, relayPass, type RelayFaults, serviceOutbox, type BindParameter, type OutboxRelay, type ReadLogOptions, type ServiceOutbox } from './outbox';
export { inboxTable, applyOnce, pruneInbox } from './inbox';
export { reportOutbox, consumerProgress } from './metrics';
export { createEventTransport, chooseEventTransport, type EventTransportChoice } from './select';
export { createPostgresTransport, type PostgresTransportOptions } from './postgres';
export { createNatsTransport, pruneNatsStream, type NatsTransportOptions } from './nats';
export {
  PAYMENTS_SOURCE,
  readPaymentStatusChanges,
  STATUS_LOG_PAGE_MAX,
  toPaymentStatusChange,
  type PaymentStatusChange,
  type StatusChangeFilter,
} from './contracts/payment-status';
export {
  FAILURE_CODES,
  ORDER_STATUSES,
  PAYMENT_STATUSES,
  PAYMENTS_EVENT_TYPES,
  isPaymentsEventType,
  orderStatusEventType,
  parseOrderFacts,
  parsePaymentFacts,
  parseRefundFacts,
  paymentStatusEventType,
  serializeOrderFacts,
  serializePaymentFacts,
  serializeRefundFacts,
  type FailureCode,
  type OrderFacts,
  type PaymentFacts,
  type PaymentsAggregate,
  type PaymentsEventType,
  type RefundFacts,
} from './contracts/payments';
