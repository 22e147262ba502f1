/**
 * The payment state machine as an explicit transition table, and the rules that pick the next
 * state. Pure: no I/O. An impossible transition is a programmer error (assertion), never a
 * client error.
 */
import type { OrderRow, PaymentRow } from '../db/schema';

export type PaymentStatus = PaymentRow['status'];
export type OrderStatus = OrderRow['status'];
export type RiskDecision = NonNullable<PaymentRow['riskDecision']>;

export const PAYMENT_TRANSITIONS: Readonly<Record<PaymentStatus, readonly PaymentStatus[]>> = {
  PENDING: ['REQUIRES_REVIEW', 'AUTHORIZED', 'SUCCEEDED', 'FAILED'],
  REQUIRES_REVIEW: ['SUCCEEDED', 'CANCELED'],
  AUTHORIZED: ['SUCCEEDED', 'CANCELED'],
  SUCCEEDED: [],
  FAILED: [],
  CANCELED: [],
};

export function assertTransition(from: PaymentStatus, to: PaymentStatus): void {
  if (!PAYMENT_TRANSITIONS[from].includes(to)) throw new Error(`Impossible payment transition ${from} -> ${to}`);
}

/** A payment holding funds that a capture can take. */
export const CAPTURABLE: readonly PaymentStatus[] = ['AUTHORIZED', 'REQUIRES_REVIEW'];

/** Where a payment goes once its funds are held. */
export function statusAfterHold(decision: RiskDecision, captureMethod: PaymentRow['captureMethod']): 'REQUIRES_REVIEW' | 'AUTHORIZED' | 'CAPTURE' {
  if (decision === 'REVIEW') return 'REQUIRES_REVIEW';
  return captureMethod === 'MANUAL' ? 'AUTHORIZED' : 'CAPTURE';
}

export function orderStatusAfterRefund(captured: bigint, refunded: bigint): OrderStatus {
  return refunded >= captured ? 'REFUNDED' : 'PARTIALLY_REFUNDED';
}

export const FAILURE_CODES = {
  RISK_DECLINED: 'RISK_DECLINED',
  RISK_UNAVAILABLE: 'RISK_UNAVAILABLE',
  INSUFFICIENT_FUNDS: 'INSUFFICIENT_FUNDS',
} as const;
