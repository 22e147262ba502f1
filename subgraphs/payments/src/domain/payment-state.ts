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
  // A review decides: approved to AUTHORIZED (manual capture) or captured (automatic), or canceled.
  REQUIRES_REVIEW: ['AUTHORIZED', 'SUCCEEDED', 'CANCELED'],
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

/**
 * The order state machine. An order leaves PENDING once: paid by its payment's capture, or
 * canceled by cancelOrder (which first claims the payment under its row lock, so a capture and a
 * cancel never both win). Refunds move a paid order on; a second partial refund keeps it
 * PARTIALLY_REFUNDED. The store moves an order only along this table.
 */
export const ORDER_TRANSITIONS: Readonly<Record<OrderStatus, readonly OrderStatus[]>> = {
  PENDING: ['PAID', 'CANCELED'],
  PAID: ['PARTIALLY_REFUNDED', 'REFUNDED'],
  PARTIALLY_REFUNDED: ['PARTIALLY_REFUNDED', 'REFUNDED'],
  REFUNDED: [],
  CANCELED: [],
};

export const canMoveOrder = (from: OrderStatus, to: OrderStatus): boolean => ORDER_TRANSITIONS[from].includes(to);

/**
 * The status an order must have given its payments (and whether a cancel won): what the property
 * tests and reconciliation check after any interleaving of capture, cancel and refunds.
 */
export function orderStatusOf(payments: ReadonlyArray<Pick<PaymentRow, 'status' | 'amountCaptured' | 'amountRefunded'>>, canceled: boolean): OrderStatus {
  const paid = payments.find((payment) => payment.status === 'SUCCEEDED');
  if (paid) return paid.amountRefunded === 0n ? 'PAID' : orderStatusAfterRefund(paid.amountCaptured, paid.amountRefunded);
  return canceled ? 'CANCELED' : 'PENDING';
}

export type PaymentStep = PaymentRow['step'];

/**
 * The payment saga as data: each step, the remote call it makes (keyed, so repeating it is safe),
 * where each outcome leads, and whether the recovery pass resumes it. `advance` implements these
 * rows, recovery selects the resumable steps from here, and the tests walk them with a crash after
 * each call.
 */
export const PAYMENT_STEPS: Readonly<
  Record<PaymentStep, { call: string | null; next: Readonly<Record<string, string>>; resumedByRecovery: boolean }>
> = {
  CREATED: {
    call: 'risk.assessRisk (one assessment per payment)',
    next: { APPROVE: 'RISK_ASSESSED', REVIEW: 'RISK_ASSESSED', DECLINE: 'DONE: FAILED RISK_DECLINED', refused: 'DONE: FAILED RISK_UNAVAILABLE', unavailable: 'CREATED (stalled: the key or recovery resumes it)' },
    resumedByRecovery: true,
  },
  RISK_ASSESSED: {
    call: 'ledger.authorizeHold (payment:<id>:authorize)',
    next: { held: 'HOLD_PLACED (PENDING to capture, AUTHORIZED or REQUIRES_REVIEW)', INSUFFICIENT_FUNDS: 'DONE: FAILED INSUFFICIENT_FUNDS', unavailable: 'RISK_ASSESSED (stalled)' },
    resumedByRecovery: true,
  },
  HOLD_PLACED: {
    call: 'ledger.captureHold (payment:<id>:capture) when PENDING; none while AUTHORIZED or REQUIRES_REVIEW',
    next: { captured: 'CAPTURED: SUCCEEDED, order PAID', capture: 'CAPTURE_REQUESTED (capturePayment claims)', cancel: 'CANCEL_REQUESTED (cancelOrder or hold expiry claims)', unavailable: 'HOLD_PLACED (stalled)' },
    resumedByRecovery: true,
  },
  CAPTURE_REQUESTED: {
    call: 'ledger.captureHold of the recorded amount (payment:<id>:capture)',
    next: { captured: 'CAPTURED: SUCCEEDED with the amount the ledger captured, order PAID', refused: 'CANCEL_REQUESTED when the ledger holds no capture (the hold expired)', unavailable: 'CAPTURE_REQUESTED' },
    resumedByRecovery: true,
  },
  CANCEL_REQUESTED: {
    call: 'ledger.voidHold',
    next: { voided: 'DONE: CANCELED', refused: 'CAPTURED when the ledger holds a capture (recorded as it is)', unavailable: 'CANCEL_REQUESTED' },
    resumedByRecovery: true,
  },
  CAPTURED: { call: null, next: {}, resumedByRecovery: false },
  DONE: { call: null, next: {}, resumedByRecovery: false },
};

/** Steps recovery resumes whatever the payment's status (PENDING payments are resumed at any step). */
export const RESUMABLE_SETTLED_STEPS: readonly PaymentStep[] = ['CAPTURE_REQUESTED', 'CANCEL_REQUESTED'];

/** Asserts a programmer's invariant with a message saying which one (instead of a bare `!`). */
export function must<T>(value: T | null | undefined, invariant: string): T {
  if (value === null || value === undefined) throw new Error(`Invariant broken: ${invariant}`);
  return value;
}

/** Why a payment FAILED: the event contract's codes (packages/events contracts/payments.ts). */
export { FAILURE_CODES } from '@paygraph/events';
