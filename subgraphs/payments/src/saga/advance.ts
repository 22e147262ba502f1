/**
 * The payment saga's engine: `advance` is a loop over PAYMENT_STEPS (make the step's call, record
 * its outcome's target under the payment's row lock, go on) until the payment is final or waits
 * for a claim; `claim` is how commands and the recovery pass move a waiting payment on. A step's
 * outcome is recorded before the next remote call, so a payment interrupted anywhere is resumed by
 * the request that started it, a replay, or the recovery pass. A step whose service is unavailable
 * leaves the payment where it was and answers SERVICE_UNAVAILABLE.
 */
import type { AuditInTransaction } from '@paygraph/audit';
import { InvariantError, invariant } from '@paygraph/errors';
import type { PaymentRow } from '../db/schema';
import { reload, unavailable, type FlowDeps } from '../deps';
import { PAYMENT_STEPS, must, stepRow, type CallingStep, type ClaimName, type StepClaim } from '../domain/payment-state';
import { checkpoint } from '../faults';
import type { PaymentChanges } from '../store/payments-store';
import { STEP_CALLS, type StepCall, type StepResult } from './steps';

/** Steps `advance` takes at most in one call (the longest path has three calls; more means a loop). */
export const ADVANCE_STEPS_MAX = 8;

/** Records that a PENDING payment's step could not run (a replay of its key resumes it at once), then answers SERVICE_UNAVAILABLE. */
async function stall(deps: FlowDeps, payment: PaymentRow, error: unknown): Promise<never> {
  if (payment.status === 'PENDING') await deps.store.updatePayment(payment.id, { statuses: ['PENDING'], step: payment.step }, { stalledAt: new Date() });
  throw unavailable(deps, error, { paymentId: payment.id, step: payment.step });
}

/** Drives a payment through its remaining steps (PAYMENT_STEPS); returns it in a final or waiting state. */
export async function advance(deps: FlowDeps, start: PaymentRow): Promise<PaymentRow> {
  let payment = start;
  for (let stepsTaken = 0; stepsTaken < ADVANCE_STEPS_MAX; stepsTaken += 1) {
    const row = stepRow(payment.step);
    if (row.call === null) {
      invariant(payment.status !== 'PENDING', `payment ${payment.id} at final step ${payment.step} is not PENDING`);
      return payment;
    }
    // Waiting (AUTHORIZED, or held for review) until a command claims it.
    if (!row.runsWhile.includes(payment.status)) return payment;
    const step = payment.step as CallingStep;
    const call = STEP_CALLS[step] as StepCall<CallingStep>;
    const result: StepResult<CallingStep> = await call(deps, payment);
    const target = must(row.next[result.outcome], `step ${step} has the outcome ${result.outcome} in PAYMENT_STEPS`);
    if (target.stalled) return stall(deps, payment, result.error);
    const recorded = await deps.store.updatePayment(
      payment.id,
      { statuses: row.runsWhile, step },
      { ...result.facts, step: target.step, status: target.status, failureCode: target.failureCode, stalledAt: null },
      target.order ? { to: target.order, orderId: payment.orderId } : undefined,
    );
    payment = recorded ?? (await reload(deps, payment.id));
    if (result.recorded) checkpoint(deps.faults, result.recorded);
    if (result.afterRecord) await result.afterRecord(payment);
  }
  throw new InvariantError(`Invariant broken: payment ${payment.id} settles within ${ADVANCE_STEPS_MAX} steps (it is at ${payment.step})`);
}

/**
 * Claims a payment waiting at HOLD_PLACED as PAYMENT_STEPS.HOLD_PLACED.claims[name] says, under
 * its row lock, with the facts the claim records: of a capture, a cancel, a review and an expiry,
 * one wins. Null when another actor moved it first (or, for a claim whose order must move, the
 * order could not). `audit` records the claim in its transaction.
 */
export function claim(deps: FlowDeps, paymentId: string, name: ClaimName, facts: PaymentChanges = {}, audit?: AuditInTransaction): Promise<PaymentRow | null> {
  const claimed: StepClaim = PAYMENT_STEPS.HOLD_PLACED.claims[name];
  return deps.store.updatePayment(
    paymentId,
    { statuses: claimed.from, step: 'HOLD_PLACED' },
    { ...facts, step: claimed.step, status: claimed.status },
    claimed.order ? { to: claimed.order, required: claimed.orderRequired === true } : undefined,
    audit,
  );
}
