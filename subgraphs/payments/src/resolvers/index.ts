import { isAdmin, requireRole, requireScope, requireUser, type Viewer } from '@paygraph/identity';
import { scalarResolvers } from '@paygraph/scalars';
import { badUserInput } from '@paygraph/errors';
import { STATUS_LOG_PAGE_MAX } from '@paygraph/events';
import { connection, decodeCursor, pageSize } from '@paygraph/server';
import { cancelOrder } from '../commands/cancel-order';
import { capturePayment } from '../commands/capture-payment';
import { createOrder } from '../commands/create-order';
import { payOrder } from '../commands/pay-order';
import { refundPayment } from '../commands/refund-payment';
import { reviewPayment } from '../commands/review-payment';
import { canSee } from '../domain/access';
import { must } from '../domain/payment-state';
import type { PaymentStatus, Resolvers } from '../generated/resolvers-types';
import { reconcilePayments } from '../saga/reconcile';
import { LogAhead, LogPruned } from '../store/payments-store';

/** Rows the viewer may not see resolve to null: another buyer's payment leaks nothing, not even that it exists. */
const visibleTo = <T extends { buyerId: string; merchantId: string }>(viewer: Viewer, row: T | null | undefined): T | null => (row && canSee(viewer, row) ? row : null);

/** The gateway reads the status log with it to replay what a resuming subscriber missed. */
export const PAYMENT_EVENTS_READ_SCOPE = 'payments:events:read';

const money = (amount: bigint, currency: string) => ({ amount, currency });
const user = (id: string) => ({ __typename: 'User' as const, id });

export const resolvers: Resolvers = {
  ...scalarResolvers,
  Query: {
    order: async (_parent, { id }, context) => {
      requireUser(context.viewer);
      return visibleTo(context.viewer, await context.loaders.orderById.load(id));
    },
    payment: async (_parent, { id }, context) => {
      requireUser(context.viewer);
      return visibleTo(context.viewer, await context.loaders.paymentById.load(id));
    },
    payments: async (_parent, args, context) => {
      const viewer = requireUser(context.viewer);
      const limit = pageSize(args.first);
      const before = decodeCursor(args.after, 'payments');
      const scope = isAdmin(viewer) ? {} : viewer.role === 'MERCHANT' ? { merchantId: viewer.userId } : { buyerId: viewer.userId };
      const rows = await context.flow.store.listPayments({ ...scope, status: args.status ?? null, beforePosition: before === null ? null : BigInt(before), limit: limit + 1 });
      for (const row of rows) context.loaders.paymentById.prime(row.id, row);
      return connection(rows, limit, (row) => row.position.toString(), 'payments');
    },
    paymentStatusLog: async (_parent, args, context) => {
      requireScope(context.viewer, PAYMENT_EVENTS_READ_SCOPE);
      if (!/^\d{1,19}$/.test(args.after)) throw badUserInput('after must be a sequence (a non-negative integer)', 'after');
      try {
        const changes = await context.flow.store.statusLog(BigInt(args.after), { paymentId: args.paymentId ?? null, partyId: args.userId ?? null }, Math.min(Math.max(args.first ?? STATUS_LOG_PAGE_MAX, 1), STATUS_LOG_PAGE_MAX));
        return changes.map((change) => ({
          ...change,
          sequence: change.sequence.toString(),
          status: change.status as PaymentStatus,
          previousStatus: change.previousStatus as PaymentStatus | null,
          occurredAt: new Date(change.occurredAt),
        }));
      } catch (error) {
        if (error instanceof LogAhead) throw badUserInput(`after is ahead of the event log: the latest sequence is ${error.head}; resume after a sequence you received.`, 'after');
        if (!(error instanceof LogPruned)) throw error;
        throw badUserInput(`after is older than the retained event log (EVENT_RETENTION_SECONDS): the oldest sequence you can resume after is ${error.oldest}; subscribe without after to follow live changes.`, 'after');
      }
    },
    reconcilePayments: async (_parent, _args, context) => {
      requireRole(context.viewer, 'ADMIN');
      return reconcilePayments(context.flow);
    },
  },
  Mutation: {
    createOrder: (_parent, { input }, context) => createOrder(context.flow, context.viewer, input),
    cancelOrder: (_parent, { id }, context) => cancelOrder(context.flow, context.viewer, id),
    payOrder: (_parent, { input }, context) => payOrder(context.flow, context.viewer, input),
    capturePayment: (_parent, { id, amount }, context) => capturePayment(context.flow, context.viewer, id, amount ?? null),
    refundPayment: (_parent, { input }, context) => refundPayment(context.flow, context.viewer, input),
    reviewPayment: (_parent, { input }, context) => reviewPayment(context.flow, context.viewer, input, { requestId: context.requestId }),
  },
  Order: {
    __resolveReference: async (reference, context) => visibleTo(context.viewer, await context.loaders.orderById.load(reference.id)),
    buyer: (order) => user(order.buyerId),
    merchant: (order) => user(order.merchantId),
    amount: (order) => money(order.amount, order.currency),
    payments: (order, _args, context) => context.loaders.paymentsByOrderId.load(order.id),
  },
  Payment: {
    __resolveReference: async (reference, context) => visibleTo(context.viewer, await context.loaders.paymentById.load(reference.id)),
    order: async (payment, _args, context) => must(await context.loaders.orderById.load(payment.orderId), `payment ${payment.id}'s order exists`),
    amount: (payment) => money(payment.amount, payment.currency),
    amountCaptured: (payment) => money(payment.amountCaptured, payment.currency),
    amountRefunded: (payment) => money(payment.amountRefunded, payment.currency),
    refunds: (payment, _args, context) => context.loaders.refundsByPaymentId.load(payment.id),
    review: (payment, _args, context) =>
      payment.reviewDecision === null || payment.reviewedAt === null
        ? null
        : {
            decision: payment.reviewDecision,
            // The reviewer's note is the platform's risk staff's own text ("suspected card testing"):
            // admins and services read it, the payment's buyer and merchant do not.
            note: isAdmin(context.viewer) || context.viewer.kind === 'service' ? payment.reviewNote : null,
            // A service's decision ("service:<name>") names no user.
            reviewedBy: payment.reviewedBy && !payment.reviewedBy.startsWith('service:') ? { id: payment.reviewedBy } : null,
            reviewedAt: payment.reviewedAt,
          },
  },
  Refund: {
    __resolveReference: async (reference, context) => {
      const refund = await context.loaders.refundById.load(reference.id);
      if (!refund) return null;
      return visibleTo(context.viewer, await context.loaders.paymentById.load(refund.paymentId)) ? refund : null;
    },
    payment: async (refund, _args, context) => must(await context.loaders.paymentById.load(refund.paymentId), `refund ${refund.id}'s payment exists`),
    amount: (refund) => money(refund.amount, refund.currency),
  },
};
