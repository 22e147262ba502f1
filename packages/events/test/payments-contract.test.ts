// The payments event contract: what payments writes is what consumers read back (amounts as
// bigint both ways, strings on the wire), every payment and order status has its event type in the
// closed union with the right aggregate, and payloads that break the contract are refused (null).
import { expect, it } from 'vitest';
import {
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
  type PaymentFacts,
} from '../src';

const payment: PaymentFacts = {
  paymentId: 'pay_1',
  orderId: 'ord_1',
  buyerId: 'usr_b',
  merchantId: 'usr_m',
  status: 'SUCCEEDED',
  previousStatus: 'PENDING',
  amount: 999_999_999_999_999n,
  currency: 'USD',
  amountCaptured: 999_999_999_999_999n,
  amountRefunded: 0n,
  failureCode: null,
};

it('reads back what it writes, through JSON, with amounts as strings on the wire', () => {
  const wire = JSON.parse(JSON.stringify(serializePaymentFacts(payment)));
  expect(wire.amount).toBe('999999999999999');
  expect(parsePaymentFacts(wire)).toEqual(payment);
  const refund = { refundId: 'ref_1', paymentId: 'pay_1', orderId: 'ord_1', buyerId: 'usr_b', merchantId: 'usr_m', amount: 1n, currency: 'JPY' };
  expect(parseRefundFacts(JSON.parse(JSON.stringify(serializeRefundFacts(refund))))).toEqual(refund);
  const order = { orderId: 'ord_1', buyerId: 'usr_b', merchantId: 'usr_m', status: 'PAID' as const, previousStatus: null, amount: 2500n, currency: 'EUR' };
  expect(parseOrderFacts(JSON.parse(JSON.stringify(serializeOrderFacts(order))))).toEqual(order);
});

it('names an event type for every status, about the right aggregate, and nothing else', () => {
  // Payments and orders start PENDING, announced by payment.created / order.created; nothing moves back to PENDING.
  for (const status of PAYMENT_STATUSES.filter((status) => status !== 'PENDING')) expect(PAYMENTS_EVENT_TYPES[paymentStatusEventType(status)]).toBe('Payment');
  for (const status of ORDER_STATUSES.filter((status) => status !== 'PENDING')) expect(PAYMENTS_EVENT_TYPES[orderStatusEventType(status)]).toBe('Order');
  expect(isPaymentsEventType(paymentStatusEventType('PENDING'))).toBe(false);
  expect(PAYMENTS_EVENT_TYPES['refund.succeeded']).toBe('Refund');
  expect(isPaymentsEventType('payment.refunded')).toBe(true);
  expect(isPaymentsEventType('payment.teleported')).toBe(false);
  expect(isPaymentsEventType('toString')).toBe(false);
});

it('refuses payloads that break the contract', () => {
  const wire = serializePaymentFacts(payment) as Record<string, unknown>;
  for (const broken of [
    { ...wire, amount: 12.5 },
    { ...wire, amount: '1e3' },
    { ...wire, amount: '-5' },
    { ...wire, currency: 'XXQ' },
    { ...wire, status: 'LOST' },
    { ...wire, buyerId: 'usr b' },
    { ...wire, orderId: undefined },
    null,
    [],
    'pay_1',
  ]) {
    expect(parsePaymentFacts(broken)).toBeNull();
  }
  expect(parseRefundFacts({ refundId: 'ref_1' })).toBeNull();
  expect(parseOrderFacts({ ...serializeOrderFacts({ orderId: 'ord_1', buyerId: 'usr_b', merchantId: 'usr_m', status: 'PAID', previousStatus: null, amount: 1n, currency: 'USD' }), status: 'GONE' })).toBeNull();
});
