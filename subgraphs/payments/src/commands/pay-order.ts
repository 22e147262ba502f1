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
import { canMoveOrder } from '../domain/payment-state';
import { checkpoint } from '../faults';
import { advance } from '../saga/advance';
import { PaymentConflict } from '../store/payments-store';

export async function payOrder(deps: FlowDeps, viewer: Viewer, input: { orderId: string; idempotencyKey: string; captureMethod?: 'AUTOMATIC' | 'MANUAL' | null }): Promise<PaymentRow> {
  const buyer = requireUser(viewer);
  const idempotencyKey = assertIdempotencyKey(input.idempotencyKey);
  const captureMethod = input.captureMethod ?? 'AUTOMATIC';
  const hash = requestHash('payOrder', { orderId: input.orderId, captureMethod });
  // Looked up first: a replay must not reach the order checks (the order is paid by then).
  const keyed = await claimOrReplay({
    hash,
    lookFirst: true,
    find: () => deps.store.paymentByKey(buyer.userId, idempotencyKey),
    claim: async (): Promise<PaymentRow | undefined> => {
      const order = await deps.store.orderById(input.orderId);
      if (!order || order.buyerId !== buyer.userId) throw notFound('No such order.');
      if (!canMoveOrder(order.status, 'PAID')) throw invalidState(`The order is ${order.status.toLowerCase()}; only a pending order can be paid.`);
      try {
        return await deps.store.insertPayment({
          id: newId('pay'),
          orderId: order.id,
          buyerId: order.buyerId,
          merchantId: order.merchantId,
          amount: order.amount,
          currency: order.currency,
          status: 'PENDING',
          step: 'CREATED',
          captureMethod,
          idempotencyKey,
          requestHash: hash,
        });
      } catch (error) {
        // The key taken meanwhile by a concurrent duplicate: replayed from what holds it.
        if (error instanceof PaymentConflict && error.kind === 'idempotency-key') return undefined;
        if (error instanceof PaymentConflict && error.kind === 'order-not-payable') throw invalidState('The order is no longer pending; only a pending order can be paid.');
        if (error instanceof PaymentConflict) throw invalidState('This order already has a payment in progress or paid.');
        throw error;
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
