/**
 * Payments' events, shaped through the typed contract (packages/events contracts/payments.ts) and
 * written to the outbox in the transaction of the change they describe.
 */
import { appendEvent, PAYMENTS_EVENT_TYPES, PAYMENTS_SOURCE, serializeOrderFacts, serializePaymentFacts, serializeRefundFacts, type PaymentsEventType } from '@paygraph/events';
import type { SqlRunner } from '@paygraph/db';
import { invariant } from '@paygraph/errors';
import type { OrderRow, PaymentRow, RefundRow } from '../db/schema';

/** A payment's facts as the event contract carries them. */
export function paymentFacts(payment: PaymentRow, previousStatus: PaymentRow['status'] | null) {
  return serializePaymentFacts({
    paymentId: payment.id,
    orderId: payment.orderId,
    buyerId: payment.buyerId,
    merchantId: payment.merchantId,
    status: payment.status,
    previousStatus,
    amount: payment.amount,
    currency: payment.currency,
    amountCaptured: payment.amountCaptured,
    amountRefunded: payment.amountRefunded,
    failureCode: payment.failureCode,
  });
}

export function orderFacts(order: OrderRow, previousStatus: OrderRow['status'] | null) {
  return serializeOrderFacts({ orderId: order.id, buyerId: order.buyerId, merchantId: order.merchantId, status: order.status, previousStatus, amount: order.amount, currency: order.currency });
}

export function refundFacts(refund: RefundRow, payment: PaymentRow) {
  return serializeRefundFacts({ refundId: refund.id, paymentId: payment.id, orderId: payment.orderId, buyerId: payment.buyerId, merchantId: payment.merchantId, amount: refund.amount, currency: refund.currency });
}

/** Writes one payments event; its type is one of the contract's, about the aggregate the contract says. */
export function emit(sql: SqlRunner, aggregateId: string, aggregateVersion: number, type: PaymentsEventType, payload: unknown) {
  const aggregateType = PAYMENTS_EVENT_TYPES[type];
  invariant(aggregateType, `event type ${type} is in the payments event contract`);
  return appendEvent(sql, PAYMENTS_SOURCE, { aggregateType, aggregateId, aggregateVersion, type, payload });
}
