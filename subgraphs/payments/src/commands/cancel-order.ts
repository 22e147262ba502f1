/**
 * cancelOrder: cancels a pending order. With a held payment, the cancel claims it under the
 * payment's row lock (claim `cancel`: step HOLD_PLACED -> CANCEL_REQUESTED, order PENDING ->
 * CANCELED in one transaction): a capture that claimed it first wins and the cancel answers
 * INVALID_STATE; otherwise the hold is voided next (resumed by recovery, or by this call repeated,
 * if interrupted).
 */
import { forbidden, invalidState, notFound } from '@paygraph/errors';
import { requireUser, type Viewer } from '@paygraph/identity';
import type { OrderRow } from '../db/schema';
import { orderOf, reload, type FlowDeps } from '../deps';
import { canSee } from '../domain/access';
import { CAPTURABLE, canMoveOrder } from '../domain/payment-state';
import { checkpoint } from '../faults';
import { advance, claim } from '../saga/advance';

const notCancelable = (order: OrderRow) => invalidState(`The order is ${order.status.toLowerCase()}; only a pending order can be canceled.`);
const PAYMENT_IN_PROGRESS = 'A payment of this order is being processed; try again in a moment.';

export async function cancelOrder(deps: FlowDeps, viewer: Viewer, orderId: string): Promise<OrderRow> {
  const user = requireUser(viewer);
  const [order] = await deps.store.ordersByIds([orderId]);
  if (!order || !canSee(viewer, order)) throw notFound('No such order.');
  if (user.role !== 'ADMIN' && user.userId !== order.buyerId) throw forbidden('Only the buyer of this order or an admin may cancel it.');
  const payments = await deps.store.paymentsByOrderIds([orderId]);
  if (order.status === 'CANCELED') {
    // Repeating a cancel finishes a void that was interrupted.
    for (const payment of payments) if (payment.step === 'CANCEL_REQUESTED') await advance(deps, payment);
    return order;
  }
  if (!canMoveOrder(order.status, 'CANCELED')) throw notCancelable(order);
  const live = payments.find((payment) => payment.status === 'PENDING' || CAPTURABLE.includes(payment.status));
  if (live?.status === 'PENDING') throw invalidState(PAYMENT_IN_PROGRESS);
  if (live) {
    const claimed = await claim(deps, live.id, 'cancel');
    if (!claimed) {
      // Another actor claimed it first: a cancel (finish it, or it is finished) or a capture.
      const now = await reload(deps, live.id);
      if (now.step === 'CANCEL_REQUESTED') {
        // Finish that void, then look again: a cancel's claim moved the order to CANCELED, but a
        // review's REJECT leaves it PENDING and payable, so this cancel still has its own to do.
        await advance(deps, now);
        return cancelOrder(deps, viewer, orderId);
      }
      if (now.status !== 'CANCELED') throw invalidState('The payment of this order was captured; the order is paid.');
      // Canceled meanwhile (by another cancel, or its hold expired): no longer live, so this
      // second look either finds the order canceled or cancels it without a payment.
      return cancelOrder(deps, viewer, orderId);
    }
    checkpoint(deps.faults, 'cancel-requested');
    await advance(deps, claimed);
    return orderOf(deps, orderId);
  }
  const outcome = await deps.store.cancelOrderWithoutPayment(orderId);
  if (outcome.kind === 'has-live-payment') throw invalidState(PAYMENT_IN_PROGRESS);
  const after = await orderOf(deps, orderId);
  if (outcome.kind === 'not-pending' && after.status !== 'CANCELED') throw notCancelable(after);
  return after;
}
