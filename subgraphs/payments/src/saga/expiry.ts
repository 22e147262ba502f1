/**
 * Expiry: held payments nobody may wait on forever. A review nobody decided in time and a hold
 * whose authorization expired are both claimed for cancel (PAYMENT_STEPS.HOLD_PLACED.claims) and
 * their hold released; the order stays payable.
 */
import type { FlowDeps } from '../deps';
import type { ClaimName } from '../domain/payment-state';
import type { PaymentRow } from '../db/schema';
import { advance, claim } from './advance';

/** Payments each expiry looks at per pass. */
export const EXPIRED_PER_PASS_MAX = 100;

async function cancelEach(deps: FlowDeps, payments: PaymentRow[], name: ClaimName, what: string): Promise<number> {
  let expired = 0;
  for (const payment of payments) {
    try {
      const requested = await claim(deps, payment.id, name);
      if (requested) await advance(deps, requested);
      expired += 1;
    } catch (error) {
      deps.logger.error({ err: error, paymentId: payment.id }, `could not cancel a payment whose ${what} expired`);
    }
  }
  return expired;
}

/** Reviews nobody decided in time, then holds that expired: canceled, their funds released. Returns how many. */
export async function expireHeldPayments(deps: FlowDeps, now = new Date()): Promise<number> {
  const reviews = await deps.store.undecidedReviews(new Date(now.getTime() - deps.settings.reviewExpiryMs), EXPIRED_PER_PASS_MAX);
  const undecided = await cancelEach(deps, reviews, 'review-expired', 'review');
  const holds = await deps.store.expiredHolds(now, EXPIRED_PER_PASS_MAX);
  return undecided + (await cancelEach(deps, holds, 'hold-expired', 'hold'));
}
