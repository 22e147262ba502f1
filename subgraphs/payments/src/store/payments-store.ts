/**
 * The only place with SQL for payments. Every state change of an order, payment or refund is a
 * conditional update (it only applies from the expected states, so a lost race is visible) that
 * bumps the object's version and writes its outbox event in the same transaction.
 */
import { and, desc, eq, inArray, lt, or, sql } from 'drizzle-orm';
import { isUniqueViolation, newId, type Database } from '@paygraph/db';
import { orderStatusAfterRefund } from '../domain/payment-state';
import { orders, outboxEvents, payments, refunds, type OrderRow, type PaymentRow, type RefundRow, type schema } from '../db/schema';

type Db = Database<typeof schema>;
type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];

export class PaymentConflict extends Error {
  constructor(readonly kind: 'idempotency-key' | 'order-has-live-payment') {
    super(kind);
  }
}

function paymentEvent(payment: PaymentRow, previousStatus: PaymentRow['status'] | null) {
  return {
    paymentId: payment.id,
    orderId: payment.orderId,
    buyerId: payment.buyerId,
    merchantId: payment.merchantId,
    status: payment.status,
    previousStatus,
    amount: payment.amount.toString(),
    currency: payment.currency,
    amountCaptured: payment.amountCaptured.toString(),
    amountRefunded: payment.amountRefunded.toString(),
    failureCode: payment.failureCode,
  };
}

function orderEvent(order: OrderRow, previousStatus: OrderRow['status'] | null) {
  return { orderId: order.id, buyerId: order.buyerId, merchantId: order.merchantId, status: order.status, previousStatus, amount: order.amount.toString(), currency: order.currency };
}

async function emit(tx: Tx, aggregateType: 'Order' | 'Payment' | 'Refund', aggregateId: string, aggregateVersion: number, type: string, payload: unknown) {
  await tx.insert(outboxEvents).values({ id: newId('evt'), aggregateType, aggregateId, aggregateVersion, type, payload });
}

export function createPaymentsStore(db: Db) {
  async function updateOrderIn(tx: Tx, id: string, from: readonly OrderRow['status'][], status: OrderRow['status']): Promise<OrderRow | null> {
    const [before] = await tx.select({ status: orders.status }).from(orders).where(eq(orders.id, id));
    const [updated] = await tx
      .update(orders)
      .set({ status, version: sql`${orders.version} + 1`, updatedAt: new Date() })
      .where(and(eq(orders.id, id), inArray(orders.status, [...from])))
      .returning();
    if (!updated) return null;
    await emit(tx, 'Order', id, updated.version, `order.${status.toLowerCase()}`, orderEvent(updated, before?.status ?? null));
    return updated;
  }

  return {
    async createOrder(order: Pick<OrderRow, 'buyerId' | 'merchantId' | 'amount' | 'currency' | 'description'>): Promise<OrderRow> {
      return db.transaction(async (tx) => {
        const [created] = await tx.insert(orders).values({ id: newId('ord'), ...order, status: 'PENDING' }).returning();
        await emit(tx, 'Order', created!.id, created!.version, 'order.created', orderEvent(created!, null));
        return created!;
      });
    },

    async ordersByIds(ids: readonly string[]): Promise<OrderRow[]> {
      if (ids.length === 0) return [];
      return db.select().from(orders).where(inArray(orders.id, [...ids]));
    },

    async paymentsByIds(ids: readonly string[]): Promise<PaymentRow[]> {
      if (ids.length === 0) return [];
      return db.select().from(payments).where(inArray(payments.id, [...ids]));
    },

    async paymentsByOrderIds(orderIds: readonly string[]): Promise<PaymentRow[]> {
      if (orderIds.length === 0) return [];
      return db.select().from(payments).where(inArray(payments.orderId, [...orderIds])).orderBy(payments.position);
    },

    async refundsByPaymentIds(paymentIds: readonly string[]): Promise<RefundRow[]> {
      if (paymentIds.length === 0) return [];
      return db.select().from(refunds).where(inArray(refunds.paymentId, [...paymentIds])).orderBy(refunds.createdAt);
    },

    async refundsByIds(ids: readonly string[]): Promise<RefundRow[]> {
      if (ids.length === 0) return [];
      return db.select().from(refunds).where(inArray(refunds.id, [...ids]));
    },

    async paymentByKey(buyerId: string, idempotencyKey: string): Promise<PaymentRow | undefined> {
      const [row] = await db.select().from(payments).where(and(eq(payments.buyerId, buyerId), eq(payments.idempotencyKey, idempotencyKey)));
      return row;
    },

    /** Newest first, for a buyer, a merchant or everyone (admin). */
    async listPayments(filter: { buyerId?: string; merchantId?: string; status?: PaymentRow['status'] | null; beforePosition: bigint | null; limit: number }): Promise<PaymentRow[]> {
      const conditions = [];
      if (filter.buyerId) conditions.push(eq(payments.buyerId, filter.buyerId));
      if (filter.merchantId) conditions.push(eq(payments.merchantId, filter.merchantId));
      if (filter.status) conditions.push(eq(payments.status, filter.status));
      if (filter.beforePosition !== null) conditions.push(lt(payments.position, filter.beforePosition));
      return db
        .select()
        .from(payments)
        .where(conditions.length > 0 ? and(...conditions) : undefined)
        .orderBy(desc(payments.position))
        .limit(filter.limit);
    },

    /**
     * Records a new payment attempt. A key the buyer used before, or an order that already has a
     * payment in flight or succeeded, is a PaymentConflict (the caller replays or refuses).
     */
    async insertPayment(payment: Omit<PaymentRow, 'position' | 'version' | 'createdAt' | 'updatedAt' | 'amountCaptured' | 'amountRefunded' | 'riskAssessmentId' | 'riskDecision' | 'buyerAccountId' | 'merchantAccountId' | 'holdId' | 'holdExpiresAt' | 'failureCode'>): Promise<PaymentRow> {
      try {
        return await db.transaction(async (tx) => {
          const [created] = await tx.insert(payments).values(payment).returning();
          await emit(tx, 'Payment', created!.id, created!.version, 'payment.created', paymentEvent(created!, null));
          return created!;
        });
      } catch (error) {
        if (isUniqueViolation(error, 'payments_buyer_key_unique')) throw new PaymentConflict('idempotency-key');
        if (isUniqueViolation(error, 'payments_one_live_per_order')) throw new PaymentConflict('order-has-live-payment');
        throw error;
      }
    },

    /**
     * Moves a payment on: applies `changes` only if it is still in one of `from` statuses (and
     * step, when given). Writes the payment event when the status changes, and moves the order
     * along in the same transaction when asked. Null when another actor moved it first.
     */
    async updatePayment(
      id: string,
      guard: { statuses: readonly PaymentRow['status'][]; step?: PaymentRow['step'] },
      changes: Partial<Pick<PaymentRow, 'status' | 'step' | 'failureCode' | 'riskAssessmentId' | 'riskDecision' | 'buyerAccountId' | 'merchantAccountId' | 'holdId' | 'holdExpiresAt' | 'amountCaptured' | 'amountRefunded'>>,
      order?: { from: readonly OrderRow['status'][]; to: OrderRow['status'] },
    ): Promise<PaymentRow | null> {
      return db.transaction(async (tx) => {
        const conditions = [eq(payments.id, id), inArray(payments.status, [...guard.statuses])];
        if (guard.step) conditions.push(eq(payments.step, guard.step));
        const [before] = await tx.select().from(payments).where(and(...conditions)).for('update');
        if (!before) return null;
        const statusChanges = changes.status !== undefined && changes.status !== before.status;
        const [updated] = await tx
          .update(payments)
          .set({ ...changes, updatedAt: new Date(), ...(statusChanges ? { version: sql`${payments.version} + 1` } : {}) })
          .where(eq(payments.id, id))
          .returning();
        if (statusChanges) await emit(tx, 'Payment', id, updated!.version, `payment.${updated!.status.toLowerCase()}`, paymentEvent(updated!, before.status));
        if (order) await updateOrderIn(tx, updated!.orderId, order.from, order.to);
        return updated!;
      });
    },

    async updateOrder(id: string, from: readonly OrderRow['status'][], to: OrderRow['status']): Promise<OrderRow | null> {
      return db.transaction((tx) => updateOrderIn(tx, id, from, to));
    },

    /** Payments interrupted mid-flow (or asked to cancel) that no request touched for a while. */
    async unfinishedPayments(untouchedSince: Date, limit: number): Promise<PaymentRow[]> {
      return db
        .select()
        .from(payments)
        .where(and(or(eq(payments.status, 'PENDING'), eq(payments.step, 'CANCEL_REQUESTED')), lt(payments.updatedAt, untouchedSince)))
        .orderBy(payments.updatedAt)
        .limit(limit);
    },

    /** Held payments whose hold has expired. */
    async expiredHolds(now: Date, limit: number): Promise<PaymentRow[]> {
      return db
        .select()
        .from(payments)
        .where(and(inArray(payments.status, ['AUTHORIZED', 'REQUIRES_REVIEW']), lt(payments.holdExpiresAt, now)))
        .limit(limit);
    },

    /**
     * Opens a refund under the payment's row lock: what is left to refund counts pending refunds,
     * so concurrent refunds never exceed captured minus refunded.
     */
    async openRefund(input: { paymentId: string; amount: bigint | null; reason: string | null; idempotencyKey: string; requestHash: string }): Promise<
      { kind: 'opened'; refund: RefundRow; payment: PaymentRow } | { kind: 'replay'; refund: RefundRow } | { kind: 'key-reused' } | { kind: 'not-refundable'; payment: PaymentRow | undefined } | { kind: 'too-much'; left: bigint }
    > {
      return db.transaction(async (tx) => {
        const [existing] = await tx.select().from(refunds).where(and(eq(refunds.paymentId, input.paymentId), eq(refunds.idempotencyKey, input.idempotencyKey)));
        if (existing) return existing.requestHash === input.requestHash ? { kind: 'replay', refund: existing } : { kind: 'key-reused' };
        const [payment] = await tx.select().from(payments).where(eq(payments.id, input.paymentId)).for('update');
        if (!payment || payment.status !== 'SUCCEEDED') return { kind: 'not-refundable', payment };
        const [pending] = await tx
          .select({ total: sql<string>`coalesce(sum(${refunds.amount}), 0)::text` })
          .from(refunds)
          .where(and(eq(refunds.paymentId, payment.id), eq(refunds.status, 'PENDING')));
        const left = payment.amountCaptured - payment.amountRefunded - BigInt(pending!.total);
        const amount = input.amount ?? left;
        if (amount <= 0n || amount > left) return { kind: 'too-much', left };
        const [refund] = await tx
          .insert(refunds)
          .values({ id: newId('ref'), paymentId: payment.id, amount, currency: payment.currency, reason: input.reason, status: 'PENDING', idempotencyKey: input.idempotencyKey, requestHash: input.requestHash })
          .returning();
        return { kind: 'opened', refund: refund!, payment };
      });
    },

    /** Completes a refund after the ledger moved the money: refund, payment totals, order, events. */
    async completeRefund(refundId: string): Promise<RefundRow | null> {
      return db.transaction(async (tx) => {
        const [refund] = await tx
          .update(refunds)
          .set({ status: 'SUCCEEDED', version: sql`${refunds.version} + 1`, updatedAt: new Date() })
          .where(and(eq(refunds.id, refundId), eq(refunds.status, 'PENDING')))
          .returning();
        if (!refund) return null;
        const [before] = await tx.select().from(payments).where(eq(payments.id, refund.paymentId)).for('update');
        const [payment] = await tx
          .update(payments)
          .set({ amountRefunded: sql`${payments.amountRefunded} + ${refund.amount}`, version: sql`${payments.version} + 1`, updatedAt: new Date() })
          .where(eq(payments.id, refund.paymentId))
          .returning();
        await emit(tx, 'Refund', refund.id, refund.version, 'refund.succeeded', { refundId: refund.id, paymentId: payment!.id, orderId: payment!.orderId, buyerId: payment!.buyerId, merchantId: payment!.merchantId, amount: refund.amount.toString(), currency: refund.currency });
        await emit(tx, 'Payment', payment!.id, payment!.version, 'payment.refunded', paymentEvent(payment!, before!.status));
        await updateOrderIn(tx, payment!.orderId, ['PAID', 'PARTIALLY_REFUNDED'], orderStatusAfterRefund(payment!.amountCaptured, payment!.amountRefunded));
        return refund;
      });
    },

    /** Removes a refund the ledger refused (the merchant lacks the funds): nothing changed. */
    async dropRefund(refundId: string): Promise<void> {
      await db.delete(refunds).where(and(eq(refunds.id, refundId), eq(refunds.status, 'PENDING')));
    },

    async pendingRefunds(untouchedSince: Date, limit: number): Promise<RefundRow[]> {
      return db.select().from(refunds).where(and(eq(refunds.status, 'PENDING'), lt(refunds.updatedAt, untouchedSince))).limit(limit);
    },

    /** Every payment, in pages, for reconciliation. */
    async paymentsAfter(afterPosition: bigint, limit: number): Promise<PaymentRow[]> {
      return db.select().from(payments).where(sql`${payments.position} > ${afterPosition}`).orderBy(payments.position).limit(limit);
    },

    async eventsOf(aggregateId: string) {
      return db.select().from(outboxEvents).where(eq(outboxEvents.aggregateId, aggregateId)).orderBy(outboxEvents.sequence);
    },
  };
}

export type PaymentsStore = ReturnType<typeof createPaymentsStore>;
