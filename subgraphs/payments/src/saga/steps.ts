/**
 * The remote call of each step of the payment saga (PAYMENT_STEPS), answering with the outcome
 * the table names and the facts to record with it. Each call is keyed by the payment (risk: one
 * assessment per payment; ledger: the keys of `ledgerKeys` in @paygraph/server), so repeating a step after an
 * interruption finds its first effect instead of doubling it. Recording is `advance`'s job.
 */
import { badUserInput, ErrorCode, InvariantError, invariant, OUT_OF_RANGE_MESSAGE } from '@paygraph/errors';
import type { PaymentRow } from '../db/schema';
import { codeOf, orderOf, type FlowDeps } from '../deps';
import { must, statusAfterHold, type CallingStep, type StepOutcome } from '../domain/payment-state';
import { checkpoint, type FlowCheckpoint } from '../faults';
import * as services from '../services';
import type { PaymentChanges } from '../store/payments-store';

export interface StepResult<S extends CallingStep> {
  outcome: StepOutcome<S>;
  /** Facts the call returned, recorded with the outcome's target. */
  facts?: PaymentChanges;
  /** Why the call could not run (outcome `unavailable`). */
  error?: unknown;
  /** Test-only crash point right after the outcome is recorded. */
  recorded?: FlowCheckpoint;
  /** Work once the outcome is recorded. */
  afterRecord?: (payment: PaymentRow) => Promise<void>;
}

export type StepCall<S extends CallingStep> = (deps: FlowDeps, payment: PaymentRow) => Promise<StepResult<S>>;

/** CREATED: risk decides. Fail closed: unreachable past the hold's lifetime, or a refusal, is never an approval. */
async function assessRisk(deps: FlowDeps, payment: PaymentRow): Promise<StepResult<'CREATED'>> {
  let assessment: { id: string; decision: 'APPROVE' | 'REVIEW' | 'DECLINE' };
  try {
    assessment = await services.assessRisk(deps.services, { userId: payment.buyerId, merchantId: payment.merchantId, amount: payment.amount, currency: payment.currency, paymentId: payment.id });
  } catch (error) {
    // Unreachable: the payment waits at this step (its key or recovery resumes it) until the hold
    // it would place could no longer last; a refusal, or a wait that long, fails it.
    const waitedTooLong = Date.now() >= payment.createdAt.getTime() + deps.settings.holdExpiryMs;
    if (services.isUnavailable(error) && !waitedTooLong) return { outcome: 'unavailable', error };
    deps.logger.warn({ err: error, paymentId: payment.id }, 'risk could not decide: payment fails');
    return { outcome: 'refused' };
  }
  checkpoint(deps.faults, 'risk-called');
  return { outcome: assessment.decision, facts: { riskAssessmentId: assessment.id, riskDecision: assessment.decision }, recorded: 'risk-recorded' };
}

/**
 * RISK_ASSESSED: the buyer's funds are held for the merchant until captured, voided or expired. An
 * automatic capture that risk approved is held and captured in one ledger call and transaction
 * (`authorizeAndCaptureHold`): the payment goes straight to CAPTURED, one hop and one recorded step
 * fewer than a hold then a capture. A refusal of the capture part (a hold placed earlier under the
 * key is no longer capturable) is settled on the ledger's facts, as a refused capture is.
 */
async function placeHold(deps: FlowDeps, payment: PaymentRow): Promise<StepResult<'RISK_ASSESSED'>> {
  const after = statusAfterHold(must(payment.riskDecision, `payment ${payment.id} past RISK_ASSESSED has a risk decision`), payment.captureMethod);
  let hold: { id: string; expiresAt: Date; captured?: bigint | null };
  let buyerAccountId: string;
  let merchantAccountId: string;
  try {
    [buyerAccountId, merchantAccountId] = await Promise.all([
      services.walletAccount(deps.services, payment.buyerId, payment.currency),
      services.walletAccount(deps.services, payment.merchantId, payment.currency),
    ]);
    const input = {
      paymentId: payment.id,
      debitAccountId: buyerAccountId,
      creditAccountId: merchantAccountId,
      amount: payment.amount,
      currency: payment.currency,
      expiresAt: new Date(payment.createdAt.getTime() + deps.settings.holdExpiryMs),
    };
    if (after === 'CAPTURE') {
      // Asked even past the hold's lifetime: a hold captured in time under the key (an earlier try
      // whose answer was lost) is replayed, and only the ledger knows of it.
      hold = await authorizeAndCapture(deps, payment, input);
    } else {
      // A hold that would be expired when placed holds nothing: the attempt fails. One an earlier
      // try placed under the key has the same expiry, and the ledger's expiry pass releases it.
      if (input.expiresAt.getTime() <= Date.now()) return expiredBeforeHeld(deps, payment);
      hold = await services.authorizeHold(deps.services, input);
    }
  } catch (error) {
    if (error instanceof HoldLifetimePassed) return expiredBeforeHeld(deps, payment);
    if (services.isUnavailable(error)) return { outcome: 'unavailable', error };
    if (services.isOutOfRange(error)) return { outcome: 'AMOUNT_TOO_LARGE' };
    if (codeOf(error) !== ErrorCode.INSUFFICIENT_FUNDS) throw error;
    return { outcome: 'INSUFFICIENT_FUNDS' };
  }
  checkpoint(deps.faults, 'hold-placed');
  const facts = { holdId: hold.id, holdExpiresAt: hold.expiresAt, buyerAccountId, merchantAccountId };
  if (after === 'CAPTURE') {
    const captured = must(hold.captured, `payment ${payment.id}: the ledger captures the hold it placed in the same transaction`);
    return { outcome: 'held-and-captured', facts: { ...facts, amountCaptured: captured } };
  }
  return { outcome: after === 'AUTHORIZED' ? 'held-authorized' : 'held-for-review', facts, recorded: 'hold-recorded' };
}

/** The ledger could not hold the funds before the hold's lifetime (counted from the attempt) ran out. */
class HoldLifetimePassed extends Error {}

function expiredBeforeHeld(deps: FlowDeps, payment: PaymentRow): StepResult<'RISK_ASSESSED'> {
  deps.logger.warn({ paymentId: payment.id, createdAt: payment.createdAt }, 'the ledger was not reached within the hold lifetime: the payment fails, nothing moved');
  return { outcome: 'expired' };
}

/**
 * The hold placed and captured at once. The ledger refuses the capture part only when the hold
 * cannot be captured: the hold's lifetime passed before the ledger could be reached (no money
 * moves; the attempt fails as `expired`), or, within it, one placed earlier under the payment's
 * authorize key (by a version that held, then captured) was released. The latter is reported as
 * the broken invariant it is, and the payment waits at this step for a person, never recorded as
 * captured or failed on a guess.
 */
async function authorizeAndCapture(deps: FlowDeps, payment: PaymentRow, input: Parameters<typeof services.authorizeAndCaptureHold>[1]) {
  try {
    return await services.authorizeAndCaptureHold(deps.services, input);
  } catch (error) {
    const code = codeOf(error);
    if (code !== ErrorCode.INVALID_STATE && code !== ErrorCode.IDEMPOTENCY_KEY_REUSED) throw error;
    // Past the hold's lifetime the ledger refuses to hold and capture at once (and captured nothing
    // under the key, or it would have replayed that): the attempt fails, nothing moved.
    if (code === ErrorCode.INVALID_STATE && input.expiresAt.getTime() <= Date.now()) throw new HoldLifetimePassed();
    throw new InvariantError(`Invariant broken: payment ${payment.id}: the ledger refused to capture its hold at once (${code}): a hold placed earlier was released or expired, or the hold's lifetime passed before the ledger answered`);
  }
}

/**
 * Asks the ledger to capture `amount` of the payment's hold under the payment's capture key and
 * returns what the ledger captured. A refusal (the hold is no longer pending, or the key was used
 * with another amount) is settled on the facts: what the ledger holds under the capture key, or
 * null when it holds no capture (the hold was released or expired). Unavailability is thrown.
 */
async function postCapture(deps: FlowDeps, payment: PaymentRow, amount: bigint): Promise<bigint | null> {
  const holdId = must(payment.holdId, `payment ${payment.id} at ${payment.step} has a hold`);
  let captured: bigint;
  try {
    captured = await services.captureHold(deps.services, { paymentId: payment.id, holdId, amount });
  } catch (error) {
    const code = codeOf(error);
    if (code !== ErrorCode.INVALID_STATE && code !== ErrorCode.IDEMPOTENCY_KEY_REUSED) throw error;
    return services.capturedInLedger(deps.services, payment.id);
  }
  checkpoint(deps.faults, 'capture-posted');
  return captured;
}

/**
 * HOLD_PLACED while PENDING: an automatic capture of the whole amount (of a payment an earlier
 * version held, then stopped before capturing). When the ledger holds no capture and refuses one
 * (the hold's lifetime passed before recovery came), the payment is canceled, its hold released.
 */
async function captureInFull(deps: FlowDeps, payment: PaymentRow): Promise<StepResult<'HOLD_PLACED'>> {
  let captured: bigint | null;
  try {
    captured = await postCapture(deps, payment, payment.amount);
  } catch (error) {
    if (services.isUnavailable(error)) return { outcome: 'unavailable', error };
    if (!services.isOutOfRange(error)) throw error;
    captured = null; // the merchant's total cannot record it: canceled like an expired hold
  }
  if (captured === null) {
    deps.logger.warn({ paymentId: payment.id, holdId: payment.holdId }, 'an automatic capture found its hold expired or released: the payment is canceled');
    return { outcome: 'refused' };
  }
  return { outcome: 'captured', facts: { amountCaptured: captured } };
}

/**
 * CAPTURE_REQUESTED: posts the amount the claim recorded (a replay in the ledger when it was posted
 * before). When the ledger holds no capture and refuses one (the hold expired), the payment is
 * canceled instead.
 */
async function captureRequested(deps: FlowDeps, payment: PaymentRow): Promise<StepResult<'CAPTURE_REQUESTED'>> {
  const amount = must(payment.captureRequestedAmount, `payment ${payment.id} at CAPTURE_REQUESTED has the amount it requested`);
  let captured: bigint | null;
  try {
    captured = await postCapture(deps, payment, amount);
  } catch (error) {
    if (services.isUnavailable(error)) return { outcome: 'unavailable', error };
    if (!services.isOutOfRange(error)) throw error;
    // The claim is given back, then the capture's caller hears why (a retry or recovery gets the same).
    return {
      outcome: 'too-large',
      facts: { captureRequestedAmount: null },
      afterRecord: () => Promise.reject(badUserInput(OUT_OF_RANGE_MESSAGE, 'amount')),
    };
  }
  return captured === null ? { outcome: 'refused' } : { outcome: 'captured', facts: { amountCaptured: captured } };
}

/**
 * CANCEL_REQUESTED: releases the hold (a repeat is harmless: the ledger returns a released hold
 * as it is). The ledger refuses to release a captured hold, and INVALID_STATE is not taken on
 * trust: the payment is recorded captured only when the ledger's facts show a capture under its
 * key (left by an older version that captured without a claim here), with the amount the ledger
 * captured. A refusal with no capture behind it is a broken invariant, reported and left at this
 * step for a person to look at, never recorded as a capture.
 */
async function voidHold(deps: FlowDeps, payment: PaymentRow): Promise<StepResult<'CANCEL_REQUESTED'>> {
  try {
    if (payment.holdId) await services.voidHold(deps.services, payment.holdId);
  } catch (error) {
    if (services.isUnavailable(error)) return { outcome: 'unavailable', error };
    if (codeOf(error) !== ErrorCode.INVALID_STATE) throw error;
    let captured: bigint | null;
    try {
      captured = await services.capturedInLedger(deps.services, payment.id);
    } catch (lookupError) {
      if (services.isUnavailable(lookupError)) return { outcome: 'unavailable', error: lookupError };
      throw lookupError;
    }
    invariant(captured !== null, `the ledger refused to void hold ${payment.holdId} of payment ${payment.id} and holds no capture for it`);
    return { outcome: 'captured-in-ledger', facts: { amountCaptured: captured }, afterRecord: (recorded) => reportCapturedOnCanceledOrder(deps, recorded) };
  }
  checkpoint(deps.faults, 'void-posted');
  return { outcome: 'voided' };
}

/**
 * Under the claim protocol a hold claimed by a cancel is never captured, so the order moves only
 * from PENDING (after an expiry); a canceled order with a captured hold is reported, never hidden.
 */
async function reportCapturedOnCanceledOrder(deps: FlowDeps, payment: PaymentRow): Promise<void> {
  const order = await orderOf(deps, payment.orderId);
  if (order.status === 'CANCELED') deps.logger.error({ paymentId: payment.id, orderId: order.id }, 'a captured payment on a canceled order: reconcile by hand');
}

/** The call of every step that makes one, by step: what `advance` runs. */
export const STEP_CALLS: { [S in CallingStep]: StepCall<S> } = {
  CREATED: assessRisk,
  RISK_ASSESSED: placeHold,
  HOLD_PLACED: captureInFull,
  CAPTURE_REQUESTED: captureRequested,
  CANCEL_REQUESTED: voidHold,
};
