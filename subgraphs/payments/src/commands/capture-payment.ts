/**
 * capturePayment: captures all or part of an AUTHORIZED payment (its merchant or an admin). The
 * capture claims the payment under its row lock (claim `capture`: HOLD_PLACED -> CAPTURE_REQUESTED
 * with the amount), so it and a cancel never both win; the claimed amount is what gets posted, by
 * this call, a retry or recovery. A retry while a capture is claimed drives it on and gets its
 * outcome when it asks the claimed amount; asking another amount, it is INVALID_STATE naming the
 * capture in progress (never told SUCCEEDED for an amount nobody captured).
 */
import { badUserInput, invalidState } from '@paygraph/errors';
import type { Viewer } from '@paygraph/identity';
import { assertMovableAmount, type Money } from '@paygraph/money';
import type { PaymentRow } from '../db/schema';
import { reload, type FlowDeps } from '../deps';
import { must } from '../domain/payment-state';
import { assertMerchantOrAdmin } from '../domain/access';
import { checkpoint } from '../faults';
import { advance, claim } from '../saga/advance';

/** A capture's answer: the succeeded payment, or INVALID_STATE when the hold could not be captured. */
export function capturedOrRefused(payment: PaymentRow): PaymentRow {
  if (payment.status === 'SUCCEEDED') return payment;
  throw invalidState(`The authorization could not be captured (it expired or was released); the payment is ${payment.status.toLowerCase()}.`);
}

/** A capture already claimed: driven on (a retry resumes it), its outcome answered only to a request for the same amount. */
async function claimedCapture(deps: FlowDeps, payment: PaymentRow, amount: bigint): Promise<PaymentRow> {
  const claimedAmount = must(payment.captureRequestedAmount, `payment ${payment.id} at CAPTURE_REQUESTED has the amount it requested`);
  const outcome = await advance(deps, payment);
  if (claimedAmount !== amount) throw invalidState(`A capture of ${claimedAmount} was already requested for this payment; it is ${outcome.status.toLowerCase()}.`);
  return capturedOrRefused(outcome);
}

export async function capturePayment(deps: FlowDeps, viewer: Viewer, paymentId: string, requested: Money | null): Promise<PaymentRow> {
  const payment = assertMerchantOrAdmin(viewer, (await deps.store.paymentsByIds([paymentId]))[0]);
  let amount = payment.amount;
  if (requested) {
    const money = assertMovableAmount(requested, 'amount');
    if (money.currency !== payment.currency) throw badUserInput(`The payment is in ${payment.currency}`, 'amount.currency');
    if (money.amount > payment.amount) throw badUserInput(`At most the authorized ${payment.amount} can be captured`, 'amount.amount');
    amount = money.amount;
  }
  if (payment.step === 'CAPTURE_REQUESTED') return claimedCapture(deps, payment, amount);
  // A payment under review is decided by reviewPayment (an admin or risk operations), never by
  // the merchant who receives the money.
  if (payment.status === 'REQUIRES_REVIEW') throw invalidState('The payment is under risk review; it is approved or rejected with reviewPayment, not captured.');
  if (payment.status !== 'AUTHORIZED' || payment.step !== 'HOLD_PLACED') {
    // AUTHORIZED at another step is being canceled (a cancel, an expiry): say so, not "authorized; only authorized".
    throw invalidState(
      payment.status === 'AUTHORIZED'
        ? 'The payment is being canceled (its order was canceled or its authorization expired); it can no longer be captured.'
        : `The payment is ${payment.status.toLowerCase()}; only an authorized payment can be captured.`,
    );
  }
  if (payment.holdExpiresAt && payment.holdExpiresAt.getTime() <= Date.now()) throw invalidState('The authorization has expired; the payment can no longer be captured.');
  const claimed = await claim(deps, payment.id, 'capture', { captureRequestedAmount: amount });
  if (!claimed) {
    const now = await reload(deps, payment.id);
    if (now.step === 'CAPTURE_REQUESTED') return claimedCapture(deps, now, amount);
    throw invalidState(`The payment is ${now.status.toLowerCase()}${now.step === 'CANCEL_REQUESTED' ? ' and being canceled' : ''}; it can no longer be captured.`);
  }
  checkpoint(deps.faults, 'capture-requested');
  return capturedOrRefused(await advance(deps, claimed));
}
