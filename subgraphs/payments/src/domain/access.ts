/** Who may see and act on orders and payments. Pure: no I/O. */
import { forbidden, notFound } from '@paygraph/errors';
import { isAdmin, requireUser, type Viewer } from '@paygraph/identity';
import type { PaymentRow } from '../db/schema';

/** Who may see an order or payment: its buyer, its merchant, admins and services. */
export function canSee(viewer: Viewer, row: { buyerId: string; merchantId: string }): boolean {
  if (viewer.kind === 'service' || isAdmin(viewer)) return true;
  return viewer.kind === 'user' && (viewer.userId === row.buyerId || viewer.userId === row.merchantId);
}

/** Merchant-side operations (capture, refund): the payment's merchant or an admin. */
export function assertMerchantOrAdmin(viewer: Viewer, payment: PaymentRow | undefined): PaymentRow {
  const user = requireUser(viewer);
  if (!payment || !canSee(viewer, payment)) throw notFound('No such payment.');
  if (user.role !== 'ADMIN' && user.userId !== payment.merchantId) throw forbidden('Only the merchant of this payment or an admin may do this.');
  return payment;
}
