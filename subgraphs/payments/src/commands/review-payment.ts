/**
 * reviewPayment: decides a payment held for review: an admin or a service with risk:review, never
 * the payment's merchant or buyer. The decision is recorded with who, when and the note under the
 * payment's row lock (a claim from REQUIRES_REVIEW at HOLD_PLACED), so it and a cancel, an expiry
 * or another review never both win. APPROVE continues the payment: AUTOMATIC is captured in full
 * (claimed as a capture, finished like one), MANUAL becomes AUTHORIZED for the merchant to capture.
 * REJECT cancels it and releases the hold; the order stays payable, as after an expired hold.
 * Asking again for the decision already taken returns the payment; the other decision is
 * INVALID_STATE. A review past its expiry (PAYMENT_REVIEW_EXPIRY_SECONDS) or whose hold expired
 * is not decided, even before the expiry pass came: it is expired at once (canceled, the hold
 * released) and the decision refused with INVALID_STATE, so an approval never captures money the
 * platform promised to release.
 */
import { auditedChange } from '@paygraph/audit';
import { badUserInput, forbidden, invalidState, notFound, unauthenticated } from '@paygraph/errors';
import { hasScope, isAdmin, type Viewer } from '@paygraph/identity';
import type { PaymentRow } from '../db/schema';
import { reload, type FlowDeps } from '../deps';
import type { ClaimName } from '../domain/payment-state';
import { advance, claim } from '../saga/advance';

/** The service scope that may decide reviews besides admins (a risk operations service). */
export const REVIEW_SCOPE = 'risk:review';
export const REVIEW_NOTE_LENGTH_MAX = 1_000;

type Decision = 'APPROVE' | 'REJECT';

const claimOf = (decision: Decision, payment: PaymentRow): ClaimName =>
  decision === 'REJECT' ? 'review-rejected' : payment.captureMethod === 'MANUAL' ? 'review-approved-manual' : 'review-approved-automatic';

export async function reviewPayment(deps: FlowDeps, viewer: Viewer, input: { paymentId: string; decision: Decision; note?: string | null }, request: { requestId?: string } = {}): Promise<PaymentRow> {
  if (viewer.kind === 'anonymous') throw unauthenticated();
  const reviewer = viewer.kind === 'service' ? `service:${viewer.service}` : viewer.userId;
  if (!(isAdmin(viewer) || hasScope(viewer, REVIEW_SCOPE))) throw forbidden('Only an admin or risk operations may decide a review.');
  const note = input.note ?? null;
  if (note !== null && note.length > REVIEW_NOTE_LENGTH_MAX) throw badUserInput(`A note is at most ${REVIEW_NOTE_LENGTH_MAX} characters`, 'input.note');
  const [payment] = await deps.store.paymentsByIds([input.paymentId]);
  if (!payment) throw notFound('No such payment.');
  if (viewer.kind === 'user' && (viewer.userId === payment.merchantId || viewer.userId === payment.buyerId)) {
    throw forbidden('The merchant or buyer of a payment may not decide its review.');
  }
  if (payment.reviewDecision !== null) return repeatedReview(deps, payment, input.decision);
  if (payment.status !== 'REQUIRES_REVIEW' || payment.step !== 'HOLD_PLACED') {
    throw invalidState(
      payment.status === 'REQUIRES_REVIEW'
        ? 'The payment is being canceled or captured; it can no longer be reviewed.'
        : `The payment is ${payment.status.toLowerCase()}; only a payment under review can be reviewed.`,
    );
  }
  await refuseExpired(deps, payment);
  const review = { reviewDecision: input.decision, reviewNote: note, reviewedBy: reviewer, reviewedAt: new Date() } as const;
  const name = claimOf(input.decision, payment);
  // The decision's audit record commits with the claim (packages/audit: auditedChange).
  const decided = () => ({ type: 'payment.review_decided', actorId: reviewer, subjectId: payment.id, outcome: 'SUCCESS' as const, details: { decision: input.decision, captureMethod: payment.captureMethod } });
  const facts = name === 'review-approved-automatic' ? { ...review, captureRequestedAmount: payment.amount } : review;
  const claimed = await auditedChange(deps.audit, { ...request, logger: deps.logger }, decided, (audit) => claim(deps, payment.id, name, facts, audit));
  if (!claimed) {
    const now = await reload(deps, payment.id);
    if (now.reviewDecision !== null) return repeatedReview(deps, now, input.decision);
    throw invalidState(`The payment is ${now.status.toLowerCase()}${now.step === 'CANCEL_REQUESTED' ? ' and being canceled' : ''}; it can no longer be reviewed.`);
  }
  return finishReview(deps, claimed);
}

/**
 * A review that waited past its expiry, or whose hold expired: the expiry pass's claim is taken now
 * (the payment canceled, its hold released; `advance` posts the release) and the decision refused.
 * Returns when neither expired.
 */
async function refuseExpired(deps: FlowDeps, payment: PaymentRow): Promise<void> {
  const now = Date.now();
  // A payment enters review at HOLD_PLACED and is not updated while it waits (expiry.ts reads the same time).
  const reviewExpired = payment.updatedAt.getTime() + deps.settings.reviewExpiryMs <= now;
  const holdExpired = payment.holdExpiresAt !== null && payment.holdExpiresAt.getTime() <= now;
  if (!reviewExpired && !holdExpired) return;
  const expiring = await claim(deps, payment.id, reviewExpired ? 'review-expired' : 'hold-expired');
  if (expiring) await advance(deps, expiring);
  throw invalidState(
    reviewExpired
      ? 'The review expired before it was decided; the payment is canceled and its hold released.'
      : 'The authorization expired before the review was decided; the payment is canceled and its hold released.',
  );
}

/** Carries a recorded decision to its end (a capture or a void still to post); safe to repeat. */
function finishReview(deps: FlowDeps, payment: PaymentRow): Promise<PaymentRow> {
  return payment.step === 'CAPTURE_REQUESTED' || payment.step === 'CANCEL_REQUESTED' ? advance(deps, payment) : Promise.resolve(payment);
}

async function repeatedReview(deps: FlowDeps, payment: PaymentRow, decision: Decision): Promise<PaymentRow> {
  if (payment.reviewDecision !== decision) throw invalidState(`This payment's review was already decided: ${payment.reviewDecision}.`);
  return finishReview(deps, payment);
}
