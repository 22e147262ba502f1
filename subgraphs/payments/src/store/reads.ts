/**
 * What payments reads: rows by id for the DataLoaders, lists, the recovery pass's work lists,
 * reconciliation's pages, and the payment status log the gateway replays from. No writes here.
 */
import { and, desc, eq, inArray, lt, or, sql } from 'drizzle-orm';
import { logHead, logTail, PAYMENTS_SOURCE, readPaymentStatusChanges, type StatusChangeFilter } from '@paygraph/events';
import type { Database, SqlRunner } from '@paygraph/db';
import { CAPTURABLE, RESUMABLE_SETTLED_STEPS } from '../domain/payment-state';
import { orders, outboxEvents, payments, refunds, type OrderRow, type PaymentRow, type RefundRow, type schema } from '../db/schema';
import { toOrder, toPayment } from './columns';

/** A replay asked for events that retention already removed; `oldest` is the earliest `after` still served. */
export class LogPruned extends Error {
  constructor(readonly oldest: bigint) {
    super(`events at or below ${oldest} are no longer retained`);
  }
}

/** A replay asked for events after a sequence the log has not reached; `head` is the latest one given. */
export class LogAhead extends Error {
  constructor(readonly head: bigint) {
    super(`no event has sequence above ${head} yet`);
  }
}

export function createPaymentsReads(database: { db: Database<typeof schema>; query: SqlRunner['query'] }) {
  const db = database.db;
  return {
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
      const [row] = await database.query(`select * from payments.payments where buyer_id = $1 and idempotency_key = $2`, [buyerId, idempotencyKey]);
      return row ? toPayment(row) : undefined;
    },

    async orderById(id: string): Promise<OrderRow | undefined> {
      const [row] = await database.query(`select * from payments.orders where id = $1`, [id]);
      return row ? toOrder(row) : undefined;
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

    /** Payments interrupted mid-flow (or asked to cancel or capture) that no request touched for a while. */
    async unfinishedPayments(untouchedSince: Date, limit: number): Promise<PaymentRow[]> {
      return db
        .select()
        .from(payments)
        .where(and(or(eq(payments.status, 'PENDING'), inArray(payments.step, [...RESUMABLE_SETTLED_STEPS])), lt(payments.updatedAt, untouchedSince)))
        .orderBy(payments.updatedAt)
        .limit(limit);
    },

    /**
     * Held payments no capture or cancel has claimed, untouched since `untouchedSince`, after a
     * position (recovery walks them in pages to settle captures only the ledger recorded).
     */
    async unclaimedHeldPaymentsAfter(afterPosition: bigint, untouchedSince: Date, limit: number): Promise<PaymentRow[]> {
      return db
        .select()
        .from(payments)
        .where(and(inArray(payments.status, [...CAPTURABLE]), eq(payments.step, 'HOLD_PLACED'), sql`${payments.position} > ${afterPosition}`, lt(payments.updatedAt, untouchedSince)))
        .orderBy(payments.position)
        .limit(limit);
    },

    /** Payments held for review since before `enteredBefore` that nobody decided (nor claimed). */
    async undecidedReviews(enteredBefore: Date, limit: number): Promise<PaymentRow[]> {
      return db
        .select()
        .from(payments)
        .where(and(eq(payments.status, 'REQUIRES_REVIEW'), eq(payments.step, 'HOLD_PLACED'), lt(payments.updatedAt, enteredBefore)))
        .orderBy(payments.updatedAt)
        .limit(limit);
    },

    /** Held payments whose hold has expired and that no capture or cancel has claimed. */
    async expiredHolds(now: Date, limit: number): Promise<PaymentRow[]> {
      return db
        .select()
        .from(payments)
        .where(and(inArray(payments.status, [...CAPTURABLE]), eq(payments.step, 'HOLD_PLACED'), lt(payments.holdExpiresAt, now)))
        .limit(limit);
    },

    async pendingRefunds(untouchedSince: Date, limit: number): Promise<RefundRow[]> {
      return db.select().from(refunds).where(and(eq(refunds.status, 'PENDING'), lt(refunds.updatedAt, untouchedSince))).limit(limit);
    },

    /** Every payment, in pages, for reconciliation. */
    async paymentsAfter(afterPosition: bigint, limit: number): Promise<PaymentRow[]> {
      return db.select().from(payments).where(sql`${payments.position} > ${afterPosition}`).orderBy(payments.position).limit(limit);
    },

    /**
     * Payment status changes after a log position, in log order (what a resuming subscriber
     * missed), through the events package's one log reader; `partyId` narrows to one viewer's
     * payments in SQL. An `after` below what retention kept is refused: those events are gone; so is
     * one above the latest sequence given (not one a client received).
     */
    async statusLog(after: bigint, filter: StatusChangeFilter, limit: number) {
      const [tail, head] = await Promise.all([logTail(database.query, PAYMENTS_SOURCE), logHead(database.query, PAYMENTS_SOURCE)]);
      if (tail !== null && after + 1n < tail) throw new LogPruned(tail - 1n);
      // A sequence no event has had yet: live events up to it would be taken as seen and skipped.
      if (after > head) throw new LogAhead(head);
      return readPaymentStatusChanges(database.query, { after, limit, ...filter });
    },

    async eventsOf(aggregateId: string) {
      return db.select().from(outboxEvents).where(eq(outboxEvents.aggregateId, aggregateId)).orderBy(outboxEvents.sequence);
    },
  };
}

export type PaymentsReads = ReturnType<typeof createPaymentsReads>;
