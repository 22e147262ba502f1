/**
 * payOrder: records a payment attempt under the buyer's idempotency key, then drives it through
 * the saga (risk, hold, capture when automatic). A replay with the same key returns the payment as
 * it is (resuming one whose step waited for a service); with other parameters it is refused.
 */
import { invalidState, notFound } from '@paygraph/errors';
import { requireUser, type Viewer } from '@paygraph/identity';
import { newId } from '@paygraph/db';
import { assertIdempotencyKey, claimOrReplay, requestHash } from '@paygraph/server';
import type { PaymentRow } from '../db/schema';
import type { FlowDeps } from '../deps';
import { checkpoint } from '../faults';
import { advance } from '../saga/advance';
import { PaymentConflict } from '../store/payments-store';

export async function payOrder(deps: FlowDeps, viewer: Viewer, input: { orderId: string; idempotencyKey: string; captureMethod?: 'AUTOMATIC' | 'MANUAL' | null }): Promise<PaymentRow> {
  const buyer = requireUser(viewer);
  const idempotencyKey = assertIdempotencyKey(input.idempotencyKey);
  const captureMethod = input.captureMethod ?? 'AUTOMATIC';
  const hash = requestHash('payOrder', { orderId: input.orderId, captureMethod });
  const find = () => deps.store.paymentByKey(buyer.userId, idempotencyKey);
  // The claim goes first (one transaction on the usual path: the order is read under its lock
  // there); a refusal is checked against the key, since a replay finds its order paid by then.
  const keyed = await claimOrReplay({
    hash,
    find,
    claim: async (): Promise<PaymentRow | undefined> => {
      try {
        return await deps.store.insertPayment({ id: newId('pay'), orderId: input.orderId, buyerId: buyer.userId, status: 'PENDING', step: 'CREATED', captureMethod, idempotencyKey, requestHash: hash });
      } catch (error) {
        if (!(error instanceof PaymentConflict)) throw error;
        // The key is taken (by this request earlier, or a concurrent duplicate): replayed from what holds it.
        if (error.kind === 'idempotency-key' || (await find())) return undefined;
        if (error.kind === 'no-such-order') throw notFound('No such order.');
        if (error.kind === 'order-not-payable') throw invalidState(`The order is ${(error.orderStatus ?? 'gone').toLowerCase()}; only a pending order can be paid.`);
        throw invalidState('This order already has a payment in progress or paid.');
      }
    },
  });
  if (keyed.replayed) {
    // A payment whose step could not run for want of a service resumes with its key; one that is
    // in flight elsewhere (or was interrupted by a crash) is returned as it is, and recovery takes it.
    const previous = keyed.existing;
    return previous.status === 'PENDING' && previous.stalledAt !== null ? advance(deps, previous) : previous;
  }
  checkpoint(deps.faults, 'payment-created');
  return advance(deps, keyed.claimed);
}
