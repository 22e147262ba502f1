/**
 * The payments service's events as a contract: the closed set of event types, each payload's
 * fields with one serializer (what payments writes to its outbox) and one parser (what consumers
 * such as notifications read), and the failure codes a FAILED payment carries. Amounts are bigint
 * minor units here and decimal strings on the wire, as everywhere. A payload a parser does not
 * accept is `null`: a consumer skips it (a newer producer, a corrupted row), never guesses.
 */
import { isCurrency } from '@paygraph/money';

export const PAYMENT_STATUSES = ['PENDING', 'REQUIRES_REVIEW', 'AUTHORIZED', 'SUCCEEDED', 'FAILED', 'CANCELED'] as const;
export type PaymentStatusValue = (typeof PAYMENT_STATUSES)[number];
export const ORDER_STATUSES = ['PENDING', 'PAID', 'CANCELED', 'PARTIALLY_REFUNDED', 'REFUNDED'] as const;
export type OrderStatusValue = (typeof ORDER_STATUSES)[number];

/** Why a payment FAILED; the only values `failureCode` takes. */
export const FAILURE_CODES = {
  RISK_DECLINED: 'RISK_DECLINED',
  RISK_UNAVAILABLE: 'RISK_UNAVAILABLE',
  INSUFFICIENT_FUNDS: 'INSUFFICIENT_FUNDS',
  /** A total the payment would make (a wallet's credits or debits) is past what the ledger can record. */
  AMOUNT_TOO_LARGE: 'AMOUNT_TOO_LARGE',
  /** The buyer's funds could not be held before the hold's lifetime from the attempt ran out (the ledger was unreachable that long): nothing moved. */
  AUTHORIZATION_EXPIRED: 'AUTHORIZATION_EXPIRED',
} as const;
export type FailureCode = (typeof FAILURE_CODES)[keyof typeof FAILURE_CODES];

/** Every event type payments emits, with the aggregate it is about. */
export const PAYMENTS_EVENT_TYPES = {
  'order.created': 'Order',
  'order.paid': 'Order',
  'order.canceled': 'Order',
  'order.partially_refunded': 'Order',
  'order.refunded': 'Order',
  'payment.created': 'Payment',
  'payment.requires_review': 'Payment',
  'payment.authorized': 'Payment',
  'payment.succeeded': 'Payment',
  'payment.failed': 'Payment',
  'payment.canceled': 'Payment',
  'payment.refunded': 'Payment',
  'refund.succeeded': 'Refund',
} as const;
export type PaymentsEventType = keyof typeof PAYMENTS_EVENT_TYPES;
export type PaymentsAggregate = (typeof PAYMENTS_EVENT_TYPES)[PaymentsEventType];

/** The event a payment's new status is announced with (`payment.requires_review`...). */
export const paymentStatusEventType = (status: PaymentStatusValue): PaymentsEventType => `payment.${status.toLowerCase()}` as PaymentsEventType;
export const orderStatusEventType = (status: OrderStatusValue): PaymentsEventType => `order.${status.toLowerCase()}` as PaymentsEventType;

export function isPaymentsEventType(type: string): type is PaymentsEventType {
  return Object.hasOwn(PAYMENTS_EVENT_TYPES, type);
}

export interface PaymentFacts {
  paymentId: string;
  orderId: string;
  buyerId: string;
  merchantId: string;
  status: PaymentStatusValue;
  previousStatus: PaymentStatusValue | null;
  amount: bigint;
  currency: string;
  amountCaptured: bigint;
  amountRefunded: bigint;
  failureCode: string | null;
}

export interface RefundFacts {
  refundId: string;
  paymentId: string;
  orderId: string;
  buyerId: string;
  merchantId: string;
  amount: bigint;
  currency: string;
}

export interface OrderFacts {
  orderId: string;
  buyerId: string;
  merchantId: string;
  status: OrderStatusValue;
  previousStatus: OrderStatusValue | null;
  amount: bigint;
  currency: string;
}

type Wire<T> = { [K in keyof T]: T[K] extends bigint ? string : T[K] };

const toWire = <T extends object>(facts: T): Wire<T> =>
  Object.fromEntries(Object.entries(facts).map(([key, value]) => [key, typeof value === 'bigint' ? value.toString() : value])) as Wire<T>;

export const serializePaymentFacts = (facts: PaymentFacts): Wire<PaymentFacts> => toWire(facts);
export const serializeRefundFacts = (facts: RefundFacts): Wire<RefundFacts> => toWire(facts);
export const serializeOrderFacts = (facts: OrderFacts): Wire<OrderFacts> => toWire(facts);

const ID = /^[A-Za-z0-9_-]{1,64}$/;
const DIGITS = /^(0|[1-9][0-9]{0,17})$/;
type Fields = Record<string, unknown>;
const record = (value: unknown): Fields | null => (value && typeof value === 'object' && !Array.isArray(value) ? (value as Fields) : null);
const id = (fields: Fields, name: string): string | null => (typeof fields[name] === 'string' && ID.test(fields[name]) ? fields[name] : null);
const amount = (fields: Fields, name: string): bigint | null => (typeof fields[name] === 'string' && DIGITS.test(fields[name]) ? BigInt(fields[name]) : null);
const currency = (fields: Fields): string | null => (typeof fields.currency === 'string' && isCurrency(fields.currency) ? fields.currency : null);
const oneOf = <T extends string>(values: readonly T[], value: unknown): T | null => (typeof value === 'string' && (values as readonly string[]).includes(value) ? (value as T) : null);

export function parsePaymentFacts(payload: unknown): PaymentFacts | null {
  const fields = record(payload);
  if (!fields) return null;
  const [paymentId, orderId, buyerId, merchantId] = [id(fields, 'paymentId'), id(fields, 'orderId'), id(fields, 'buyerId'), id(fields, 'merchantId')];
  const status = oneOf(PAYMENT_STATUSES, fields.status);
  const [total, code] = [amount(fields, 'amount'), currency(fields)];
  if (!paymentId || !orderId || !buyerId || !merchantId || !status || total === null || !code) return null;
  return {
    paymentId,
    orderId,
    buyerId,
    merchantId,
    status,
    previousStatus: oneOf(PAYMENT_STATUSES, fields.previousStatus),
    amount: total,
    currency: code,
    amountCaptured: amount(fields, 'amountCaptured') ?? 0n,
    amountRefunded: amount(fields, 'amountRefunded') ?? 0n,
    failureCode: typeof fields.failureCode === 'string' ? fields.failureCode.slice(0, 64) : null,
  };
}

export function parseRefundFacts(payload: unknown): RefundFacts | null {
  const fields = record(payload);
  if (!fields) return null;
  const [refundId, paymentId, orderId, buyerId, merchantId] = [id(fields, 'refundId'), id(fields, 'paymentId'), id(fields, 'orderId'), id(fields, 'buyerId'), id(fields, 'merchantId')];
  const [total, code] = [amount(fields, 'amount'), currency(fields)];
  if (!refundId || !paymentId || !orderId || !buyerId || !merchantId || total === null || !code) return null;
  return { refundId, paymentId, orderId, buyerId, merchantId, amount: total, currency: code };
}

export function parseOrderFacts(payload: unknown): OrderFacts | null {
  const fields = record(payload);
  if (!fields) return null;
  const [orderId, buyerId, merchantId] = [id(fields, 'orderId'), id(fields, 'buyerId'), id(fields, 'merchantId')];
  const status = oneOf(ORDER_STATUSES, fields.status);
  const [total, code] = [amount(fields, 'amount'), currency(fields)];
  if (!orderId || !buyerId || !merchantId || !status || total === null || !code) return null;
  return { orderId, buyerId, merchantId, status, previousStatus: oneOf(ORDER_STATUSES, fields.previousStatus), amount: total, currency: code };
}
