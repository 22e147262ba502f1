/**
 * The payment state machine as data, in one place: the payment transition table, the order
 * transition table, and the saga's step table (PAYMENT_STEPS) that `advance`, recovery, commands
 * and tests read; with the rules that pick the next state. Pure: no I/O. An impossible transition
 * is a programmer error (an invariant), never a client error.
 */
import { invariant } from '@paygraph/errors';
import type { FailureCode } from '@paygraph/events';
import type { OrderRow, PaymentRow } from '../db/schema';

export type PaymentStatus = PaymentRow['status'];
export type OrderStatus = OrderRow['status'];
export type RiskDecision = NonNullable<PaymentRow['riskDecision']>;

export const PAYMENT_TRANSITIONS: Readonly<Record<PaymentStatus, readonly PaymentStatus[]>> = {
  // CANCELED from PENDING: an automatic capture an earlier version held but never captured, whose
  // hold expired before recovery could capture it (PAYMENT_STEPS.HOLD_PLACED's `refused`).
  PENDING: ['REQUIRES_REVIEW', 'AUTHORIZED', 'SUCCEEDED', 'FAILED', 'CANCELED'],
  // A review decides: approved to AUTHORIZED (manual capture) or captured (automatic), or canceled.
  REQUIRES_REVIEW: ['AUTHORIZED', 'SUCCEEDED', 'CANCELED'],
  AUTHORIZED: ['SUCCEEDED', 'CANCELED'],
  SUCCEEDED: [],
  FAILED: [],
  CANCELED: [],
};

export function assertTransition(from: PaymentStatus, to: PaymentStatus): void {
  invariant(PAYMENT_TRANSITIONS[from].includes(to), `Impossible payment transition ${from} -> ${to}`);
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

/** Payments that hold or took the order's money: at most one per order (a unique index says so too). */
export const LIVE: readonly PaymentStatus[] = ['PENDING', 'REQUIRES_REVIEW', 'AUTHORIZED', 'SUCCEEDED'];

/** Where an outcome (of a step's call, or of a command's claim) leads. */
export interface StepTarget {
  step: PaymentStep;
  /** The status it sets (unchanged when absent); PAYMENT_TRANSITIONS must allow it. */
  status?: PaymentStatus;
  failureCode?: FailureCode;
  /** The order moves with the payment in the same transaction, as ORDER_TRANSITIONS allows. */
  order?: OrderStatus;
  /** With `order`: a claim whose order cannot move is not made (the payment change rolls back). */
  orderRequired?: true;
  /** The call could not run (a service unavailable): the payment stays at its step and the caller gets SERVICE_UNAVAILABLE. */
  stalled?: true;
}

/** A command (or the recovery pass) claiming a payment waiting at a step, under its row lock. */
export interface StepClaim extends StepTarget {
  by: string;
  /** The statuses it claims from; a payment in another (or already claimed) is not claimed. */
  from: readonly PaymentStatus[];
}

export interface StepRow {
  /** The remote call the step makes, keyed so repeating it is safe; null for a final step. */
  call: string | null;
  /** Statuses in which `advance` makes the call; in the others the payment waits for a claim. */
  runsWhile: readonly PaymentStatus[];
  /** Each outcome of the call and where it leads. */
  next: Readonly<Record<string, StepTarget>>;
  /** What may claim a payment waiting at this step, and where the claim leads. */
  claims: Readonly<Record<string, StepClaim>>;
  resumedByRecovery: boolean;
}

/**
 * The payment saga as data: each step, the remote call it makes (keyed, so repeating it is safe),
 * each outcome of that call and where it leads, and what may claim a payment waiting there.
 * `advance` (saga/advance.ts) is a loop over this table: make the step's call, record the outcome's
 * target under the payment's row lock, go on; recovery resumes the steps marked resumedByRecovery,
 * commands claim through `claims`, and the tests walk it.
 */
export const PAYMENT_STEPS = {
  CREATED: {
    call: 'risk.assessRisk (one assessment per payment)',
    runsWhile: ['PENDING'],
    next: {
      APPROVE: { step: 'RISK_ASSESSED' },
      REVIEW: { step: 'RISK_ASSESSED' },
      DECLINE: { step: 'DONE', status: 'FAILED', failureCode: 'RISK_DECLINED' },
      // Fail closed: no decision from risk (a refusal, or unreachable past the hold's lifetime) is never an approval.
      refused: { step: 'DONE', status: 'FAILED', failureCode: 'RISK_UNAVAILABLE' },
      unavailable: { step: 'CREATED', stalled: true },
    },
    claims: {},
    resumedByRecovery: true,
  },
  RISK_ASSESSED: {
    call: 'ledger.authorizeHold (payment:<id>:authorize); for an approved automatic capture with captureIdempotencyKey (payment:<id>:capture): held and captured in one ledger transaction',
    runsWhile: ['PENDING'],
    next: {
      // An approved automatic capture: held and captured at once, with the amount the ledger captured.
      'held-and-captured': { step: 'CAPTURED', status: 'SUCCEEDED', order: 'PAID' },
      'held-authorized': { step: 'HOLD_PLACED', status: 'AUTHORIZED' },
      'held-for-review': { step: 'HOLD_PLACED', status: 'REQUIRES_REVIEW' },
      INSUFFICIENT_FUNDS: { step: 'DONE', status: 'FAILED', failureCode: 'INSUFFICIENT_FUNDS' },
      // A total the hold or its capture would make is past what the ledger can record: nothing moved.
      AMOUNT_TOO_LARGE: { step: 'DONE', status: 'FAILED', failureCode: 'AMOUNT_TOO_LARGE' },
      // The hold's lifetime (from the attempt) ran out before the ledger could place it (an outage
      // that long): nothing is held or moved, and a hold placed under the key expires in the ledger.
      expired: { step: 'DONE', status: 'FAILED', failureCode: 'AUTHORIZATION_EXPIRED' },
      unavailable: { step: 'RISK_ASSESSED', stalled: true },
    },
    claims: {},
    resumedByRecovery: true,
  },
  HOLD_PLACED: {
    // PENDING here only for a payment an earlier version held before capturing (it now captures at
    // RISK_ASSESSED); such a payment is still captured in full by this call.
    call: 'ledger.captureHold (payment:<id>:capture) when PENDING; none while AUTHORIZED or REQUIRES_REVIEW',
    runsWhile: ['PENDING'],
    next: {
      captured: { step: 'CAPTURED', status: 'SUCCEEDED', order: 'PAID' },
      // The ledger refuses and holds no capture under the key: the hold expired (recovery came after
      // its lifetime) or was released. Its release is made sure of, and the payment canceled.
      refused: { step: 'CANCEL_REQUESTED' },
      unavailable: { step: 'HOLD_PLACED', stalled: true },
    },
    claims: {
      capture: { by: 'capturePayment', from: CAPTURABLE, step: 'CAPTURE_REQUESTED' },
      cancel: { by: 'cancelOrder', from: CAPTURABLE, step: 'CANCEL_REQUESTED', order: 'CANCELED', orderRequired: true },
      'hold-expired': { by: 'recovery: the hold expired', from: CAPTURABLE, step: 'CANCEL_REQUESTED' },
      'review-approved-automatic': { by: 'reviewPayment APPROVE (automatic capture)', from: ['REQUIRES_REVIEW'], step: 'CAPTURE_REQUESTED' },
      'review-approved-manual': { by: 'reviewPayment APPROVE (manual capture)', from: ['REQUIRES_REVIEW'], step: 'HOLD_PLACED', status: 'AUTHORIZED' },
      'review-rejected': { by: 'reviewPayment REJECT', from: ['REQUIRES_REVIEW'], step: 'CANCEL_REQUESTED' },
      'review-expired': { by: 'recovery: nobody decided the review in time', from: ['REQUIRES_REVIEW'], step: 'CANCEL_REQUESTED' },
      'captured-in-ledger': { by: 'recovery: a capture only the ledger recorded', from: CAPTURABLE, step: 'CAPTURED', status: 'SUCCEEDED', order: 'PAID' },
    },
    resumedByRecovery: true,
  },
  CAPTURE_REQUESTED: {
    call: 'ledger.captureHold of the recorded amount (payment:<id>:capture)',
    runsWhile: CAPTURABLE,
    next: {
      // With the amount the ledger captured (a replay returns the first capture's).
      captured: { step: 'CAPTURED', status: 'SUCCEEDED', order: 'PAID' },
      // The ledger refuses and holds no capture under the key: the hold expired or was released.
      refused: { step: 'CANCEL_REQUESTED' },
      // The merchant's total could not record the capture: nothing moved, the claim is given back
      // (the payment waits authorized again; a smaller capture, a cancel or the expiry may follow).
      'too-large': { step: 'HOLD_PLACED' },
      unavailable: { step: 'CAPTURE_REQUESTED', stalled: true },
    },
    claims: {},
    resumedByRecovery: true,
  },
  CANCEL_REQUESTED: {
    call: 'ledger.voidHold',
    // PENDING here only after HOLD_PLACED's `refused` (an automatic capture whose hold expired).
    runsWhile: [...CAPTURABLE, 'PENDING'],
    next: {
      voided: { step: 'DONE', status: 'CANCELED' },
      // The ledger refused to release the hold and its facts show it captured (by an older version): recorded as it is.
      'captured-in-ledger': { step: 'CAPTURED', status: 'SUCCEEDED', order: 'PAID' },
      unavailable: { step: 'CANCEL_REQUESTED', stalled: true },
    },
    claims: {},
    resumedByRecovery: true,
  },
  CAPTURED: { call: null, runsWhile: [], next: {}, claims: {}, resumedByRecovery: false },
  DONE: { call: null, runsWhile: [], next: {}, claims: {}, resumedByRecovery: false },
} as const satisfies Record<PaymentStep, StepRow>;

/** The steps whose call `advance` makes (the others are final). */
export type CallingStep = { [S in PaymentStep]: (typeof PAYMENT_STEPS)[S]['call'] extends null ? never : S }[PaymentStep];
/** The outcomes of a step's call, as the table names them. */
export type StepOutcome<S extends CallingStep> = keyof (typeof PAYMENT_STEPS)[S]['next'] & string;
export type ClaimName = keyof (typeof PAYMENT_STEPS)['HOLD_PLACED']['claims'] & string;

/** The row of a step, typed as the general shape (for loops over the table). */
export const stepRow = (step: PaymentStep): StepRow => PAYMENT_STEPS[step];

/**
 * Steps recovery resumes for payments past PENDING (PENDING payments are resumed at any step): those
 * whose call runs while the payment is AUTHORIZED or under review.
 */
export const RESUMABLE_SETTLED_STEPS: readonly PaymentStep[] = (Object.keys(PAYMENT_STEPS) as PaymentStep[]).filter(
  (step) => stepRow(step).resumedByRecovery && stepRow(step).runsWhile.some((status) => status !== 'PENDING'),
);

/** Asserts a programmer's invariant with a message saying which one (instead of a bare `!`). */
export function must<T>(value: T | null | undefined, message: string): T {
  invariant(value !== null && value !== undefined, message);
  return value;
}

/** Why a payment FAILED: the event contract's codes (packages/events contracts/payments.ts). */
export { FAILURE_CODES } from '@paygraph/events';
