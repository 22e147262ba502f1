/** Raw rows of the hand-written statements mapped to the drizzle row types the rest uses. */
import type { OrderRow, PaymentRow, RefundRow } from '../db/schema';

type Raw = Record<string, unknown>;
const bigintOf = (value: unknown) => BigInt(String(value));
const nullable = <T>(value: unknown, map: (value: unknown) => T): T | null => (value === null || value === undefined ? null : map(value));
const dateOf = (value: unknown) => (value instanceof Date ? value : new Date(String(value)));
const textOf = (value: unknown) => value as string;

export function toOrder(row: Raw): OrderRow {
  return {
    id: textOf(row.id),
    buyerId: textOf(row.buyer_id),
    merchantId: textOf(row.merchant_id),
    amount: bigintOf(row.amount),
    currency: textOf(row.currency),
    description: nullable(row.description, textOf),
    status: textOf(row.status) as OrderRow['status'],
    version: Number(row.version),
    createdAt: dateOf(row.created_at),
    updatedAt: dateOf(row.updated_at),
  };
}

export function toPayment(row: Raw): PaymentRow {
  return {
    id: textOf(row.id),
    position: bigintOf(row.position),
    orderId: textOf(row.order_id),
    buyerId: textOf(row.buyer_id),
    merchantId: textOf(row.merchant_id),
    amount: bigintOf(row.amount),
    currency: textOf(row.currency),
    status: textOf(row.status) as PaymentRow['status'],
    step: textOf(row.step) as PaymentRow['step'],
    captureMethod: textOf(row.capture_method) as PaymentRow['captureMethod'],
    failureCode: nullable(row.failure_code, textOf),
    idempotencyKey: textOf(row.idempotency_key),
    requestHash: textOf(row.request_hash),
    riskAssessmentId: nullable(row.risk_assessment_id, textOf),
    riskDecision: nullable(row.risk_decision, textOf) as PaymentRow['riskDecision'],
    buyerAccountId: nullable(row.buyer_account_id, textOf),
    merchantAccountId: nullable(row.merchant_account_id, textOf),
    holdId: nullable(row.hold_id, textOf),
    holdExpiresAt: nullable(row.hold_expires_at, dateOf),
    captureRequestedAmount: nullable(row.capture_requested_amount, bigintOf),
    stalledAt: nullable(row.stalled_at, dateOf),
    reviewDecision: nullable(row.review_decision, textOf) as PaymentRow['reviewDecision'],
    reviewNote: nullable(row.review_note, textOf),
    reviewedBy: nullable(row.reviewed_by, textOf),
    reviewedAt: nullable(row.reviewed_at, dateOf),
    amountCaptured: bigintOf(row.amount_captured),
    amountRefunded: bigintOf(row.amount_refunded),
    version: Number(row.version),
    createdAt: dateOf(row.created_at),
    updatedAt: dateOf(row.updated_at),
  };
}

export function toRefund(row: Raw): RefundRow {
  return {
    id: textOf(row.id),
    paymentId: textOf(row.payment_id),
    amount: bigintOf(row.amount),
    currency: textOf(row.currency),
    reason: nullable(row.reason, textOf),
    status: textOf(row.status) as RefundRow['status'],
    idempotencyKey: textOf(row.idempotency_key),
    requestHash: textOf(row.request_hash),
    version: Number(row.version),
    createdAt: dateOf(row.created_at),
    updatedAt: dateOf(row.updated_at),
  };
}

/** A value as a text parameter: amounts and dates travel as text and are cast in the SQL. */
export function parameter(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return value.toISOString();
  return String(value);
}
