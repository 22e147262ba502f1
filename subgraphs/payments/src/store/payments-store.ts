/**
 * The only place with SQL for payments. Every state change of an order, payment or refund is a
 * conditional update (it only applies from the expected states, so a lost race is visible) that
 * bumps the object's version and writes its outbox event in the same transaction.
 */
import { and, desc, eq, inArray, lt, or, sql } from 'drizzle-orm';
import {
  appendEvent,
  logTail,
  orderStatusEventType,
  paymentStatusEventType,
  PAYMENTS_EVENT_TYPES,
  PAYMENTS_SOURCE,
  readPaymentStatusChanges,
  serializeOrderFacts,
  serializePaymentFacts,
  serializeRefundFacts,
  type PaymentsEventType,
  type StatusChangeFilter,
} from '@paygraph/events';
import { isUniqueViolation, newId, type Database, type RawTransaction, type SqlRunner } from '@paygraph/db';
import { RESUMABLE_SETTLED_STEPS, assertTransition, canMoveOrder, orderStatusAfterRefund } from '../domain/payment-state';
import { orders, outboxEvents, payments, refunds, type OrderRow, type PaymentRow, type RefundRow, type schema } from '../db/schema';
import { parameter, toOrder, toPayment, toRefund } from './rows';

type Db = Database<typeof schema>;

/** A replay asked for events that retention already removed; `oldest` is the earliest `after` still served. */
export class LogPruned extends Error {
  constructor(readonly oldest: bigint) {
    super(`events at or below ${oldest} are no longer retained`);
  }
}

export class PaymentConflict extends Error {
  constructor(readonly kind: 'idempotency-key' | 'order-has-live-payment' | 'order-not-payable') {
    super(kind);
  }
}

/** A payment's facts as the event contract (packages/events contracts/payments.ts) carries them. */
function paymentEvent(payment: PaymentRow, previousStatus: PaymentRow['status'] | null) {
  return serializePaymentFacts({
    paymentId: payment.id,
    orderId: payment.orderId,
    buyerId: payment.buyerId,
    merchantId: payment.merchantId,
    status: payment.status,
    previousStatus,
    amount: payment.amount,
    currency: payment.currency,
    amountCaptured: payment.amountCaptured,
    amountRefunded: payment.amountRefunded,
    failureCode: payment.failureCode,
  });
}

function orderEvent(order: OrderRow, previousStatus: OrderRow['status'] | null) {
  return serializeOrderFacts({ orderId: order.id, buyerId: order.buyerId, merchantId: order.merchantId, status: order.status, previousStatus, amount: order.amount, currency: order.currency });
}

/** Writes one payments event; its type is one of the contract's, about the aggregate the contract says. */
function emit(sql: SqlRunner, aggregateId: string, aggregateVersion: number, type: PaymentsEventType, payload: unknown) {
  const aggregateType = PAYMENTS_EVENT_TYPES[type];
  if (!aggregateType) throw new Error(`Event type ${type} is not in the payments event contract`);
  return appendEvent(sql, PAYMENTS_SOURCE, { aggregateType, aggregateId, aggregateVersion, type, payload });
}

/** Columns a payment update may set, with the cast each text parameter needs. */
const PAYMENT_COLUMNS: Record<string, { column: string; cast: string }> = {
  status: { column: 'status', cast: '' },
  step: { column: 'step', cast: '' },
  failureCode: { column: 'failure_code', cast: '' },
  riskAssessmentId: { column: 'risk_assessment_id', cast: '' },
  riskDecision: { column: 'risk_decision', cast: '' },
  buyerAccountId: { column: 'buyer_account_id', cast: '' },
  merchantAccountId: { column: 'merchant_account_id', cast: '' },
  holdId: { column: 'hold_id', cast: '' },
  holdExpiresAt: { column: 'hold_expires_at', cast: '::timestamptz' },
  amountCaptured: { column: 'amount_captured', cast: '::bigint' },
  amountRefunded: { column: 'amount_refunded', cast: '::bigint' },
  captureRequestedAmount: { column: 'capture_requested_amount', cast: '::bigint' },
  stalledAt: { column: 'stalled_at', cast: '::timestamptz' },
  reviewDecision: { column: 'review_decision', cast: '' },
  reviewNote: { column: 'review_note', cast: '' },
  reviewedBy: { column: 'reviewed_by', cast: '' },
  reviewedAt: { column: 'reviewed_at', cast: '::timestamptz' },
};

/** An order that had to move with a payment could not (the payment change is rolled back). */
class OrderDidNotMove extends Error {}

/** Fields a payment update may change. */
type PaymentChanges = Partial<
  Pick<PaymentRow, 'status' | 'step' | 'failureCode' | 'riskAssessmentId' | 'riskDecision' | 'buyerAccountId' | 'merchantAccountId' | 'holdId' | 'holdExpiresAt' | 'amountCaptured' | 'amountRefunded' | 'captureRequestedAmount' | 'stalledAt' | 'reviewDecision' | 'reviewNote' | 'reviewedBy' | 'reviewedAt'>
>;

/**
 * The write path runs hand-written statements, prepared once per connection (drizzle's builder
 * sends every statement unprepared: two round trips and a re-plan each); reads stay on drizzle.
 */
export function createPaymentsStore(database: { db: Db; transaction: RawTransaction; query: SqlRunner['query'] }) {
  const db = database.db;
  /**
   * Moves an order to `status` under its row lock when ORDER_TRANSITIONS allows it from where it
   * is (the table is the one authority: call sites pass no `from` lists); null when it does not.
   */
  async function updateOrderIn(sql: SqlRunner, id: string, status: OrderRow['status']): Promise<OrderRow | null> {
    const [before] = await sql.query<{ status: OrderRow['status'] }>(`select status from payments.orders where id = $1 for update`, [id]);
    if (!before || !canMoveOrder(before.status, status)) return null;
    const [updated] = await sql.query(`update payments.orders set status = $2, version = version + 1, updated_at = now() where id = $1 returning *`, [id, status]);
    const order = toOrder(updated!);
    await emit(sql, id, order.version, orderStatusEventType(status), orderEvent(order, before.status));
    return order;
  }

  async function updatePaymentOnce(
    id: string,
    guard: { statuses: readonly PaymentRow['status'][]; step?: PaymentRow['step'] },
    changes: PaymentChanges,
    order: { to: OrderRow['status']; required?: boolean } | undefined,
  ): Promise<PaymentRow | null> {
    return database.transaction(async (sql) => {
      const [locked] = await sql.query(
        guard.step
          ? `select * from payments.payments where id = $1 and status = any(string_to_array($2, ',')) and step = $3 for update`
          : `select * from payments.payments where id = $1 and status = any(string_to_array($2, ',')) for update`,
        guard.step ? [id, guard.statuses.join(','), guard.step] : [id, guard.statuses.join(',')],
      );
      if (!locked) return null;
      const before = toPayment(locked);
      const statusChanges = changes.status !== undefined && changes.status !== before.status;
      // The transition table is the one authority on status changes; a move it lacks is a bug.
      if (changes.status !== undefined && statusChanges) assertTransition(before.status, changes.status);
      const keys = Object.keys(changes).filter((name) => (changes as Record<string, unknown>)[name] !== undefined).sort();
      const assignments = keys.map((name, index) => `${PAYMENT_COLUMNS[name]!.column} = $${index + 2}${PAYMENT_COLUMNS[name]!.cast}`);
      if (statusChanges) assignments.push('version = version + 1');
      assignments.push('updated_at = now()');
      const [row] = await sql.query(`update payments.payments set ${assignments.join(', ')} where id = $1 returning *`, [
        id,
        ...keys.map((name) => parameter((changes as Record<string, unknown>)[name])),
      ]);
      const updated = toPayment(row!);
      if (statusChanges) await emit(sql, id, updated.version, paymentStatusEventType(updated.status), paymentEvent(updated, before.status));
      if (order) {
        const moved = await updateOrderIn(sql, updated.orderId, order.to);
        if (!moved && order.required) throw new OrderDidNotMove();
      }
      return updated;
    });
  }

  return {
    async createOrder(order: Pick<OrderRow, 'buyerId' | 'merchantId' | 'amount' | 'currency' | 'description'>): Promise<OrderRow> {
      return database.transaction(async (sql) => {
        const [created] = await sql.query(
          `insert into payments.orders (id, buyer_id, merchant_id, amount, currency, description, status) values ($1, $2, $3, $4::bigint, $5, $6, 'PENDING') returning *`,
          [newId('ord'), order.buyerId, order.merchantId, order.amount.toString(), order.currency, order.description],
        );
        const row = toOrder(created!);
        await emit(sql, row.id, row.version, 'order.created', orderEvent(row, null));
        return row;
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

    /**
     * Records a new payment attempt. A key the buyer used before, or an order that already has a
     * payment in flight or succeeded, is a PaymentConflict (the caller replays or refuses).
     */
    async insertPayment(payment: Omit<PaymentRow, 'position' | 'version' | 'createdAt' | 'updatedAt' | 'amountCaptured' | 'amountRefunded' | 'riskAssessmentId' | 'riskDecision' | 'buyerAccountId' | 'merchantAccountId' | 'holdId' | 'holdExpiresAt' | 'failureCode' | 'captureRequestedAmount' | 'stalledAt' | 'reviewDecision' | 'reviewNote' | 'reviewedBy' | 'reviewedAt'>): Promise<PaymentRow> {
      try {
        return await database.transaction(async (sql) => {
          // Under the order's row lock, so a payment never starts on an order a cancel just closed
          // (cancelOrderWithoutPayment takes the same lock and looks for live payments).
          const [order] = await sql.query<{ status: OrderRow['status'] }>(`select status from payments.orders where id = $1 for update`, [payment.orderId]);
          if (order?.status !== 'PENDING') throw new PaymentConflict('order-not-payable');
          const [created] = await sql.query(
            `insert into payments.payments (id, order_id, buyer_id, merchant_id, amount, currency, status, step, capture_method, idempotency_key, request_hash)
             values ($1, $2, $3, $4, $5::bigint, $6, $7, $8, $9, $10, $11) returning *`,
            [payment.id, payment.orderId, payment.buyerId, payment.merchantId, payment.amount.toString(), payment.currency, payment.status, payment.step, payment.captureMethod, payment.idempotencyKey, payment.requestHash],
          );
          const row = toPayment(created!);
          await emit(sql, row.id, row.version, 'payment.created', paymentEvent(row, null));
          return row;
        });
      } catch (error) {
        if (error instanceof PaymentConflict) throw error;
        if (isUniqueViolation(error, 'payments_buyer_key_unique')) throw new PaymentConflict('idempotency-key');
        if (isUniqueViolation(error, 'payments_one_live_per_order')) throw new PaymentConflict('order-has-live-payment');
        throw error;
      }
    },

    /**
     * Moves a payment on: applies `changes` only if it is still in one of `from` statuses (and
     * step, when given), under its row lock (so of two actors claiming it, one wins). Writes the
     * payment event when the status changes, and moves the order along in the same transaction
     * when asked (as ORDER_TRANSITIONS allows; with `required`, an order that cannot move rolls
     * the payment change back). Null when another actor moved it first.
     */
    async updatePayment(id: string, guard: { statuses: readonly PaymentRow['status'][]; step?: PaymentRow['step'] }, changes: PaymentChanges, order?: { to: OrderRow['status']; required?: boolean }): Promise<PaymentRow | null> {
      try {
        return await updatePaymentOnce(id, guard, changes, order);
      } catch (error) {
        if (error instanceof OrderDidNotMove) return null;
        throw error;
      }
    },

    /**
     * Cancels an order that has no payment in flight or succeeded, under the order's row lock
     * (insertPayment takes it too): a payOrder and a cancel on one order never both win.
     */
    async cancelOrderWithoutPayment(orderId: string): Promise<{ kind: 'canceled' | 'has-live-payment' | 'not-pending' }> {
      return database.transaction(async (sql) => {
        const [order] = await sql.query<{ status: OrderRow['status'] }>(`select status from payments.orders where id = $1 for update`, [orderId]);
        if (order?.status !== 'PENDING') return { kind: 'not-pending' };
        const live = await sql.query(`select 1 from payments.payments where order_id = $1 and status in ('PENDING', 'REQUIRES_REVIEW', 'AUTHORIZED', 'SUCCEEDED') limit 1`, [orderId]);
        if (live.length > 0) return { kind: 'has-live-payment' };
        await updateOrderIn(sql, orderId, 'CANCELED');
        return { kind: 'canceled' };
      });
    },

    /** Payments interrupted mid-flow (or asked to cancel) that no request touched for a while. */
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
        .where(and(inArray(payments.status, ['AUTHORIZED', 'REQUIRES_REVIEW']), eq(payments.step, 'HOLD_PLACED'), sql`${payments.position} > ${afterPosition}`, lt(payments.updatedAt, untouchedSince)))
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
        .where(and(inArray(payments.status, ['AUTHORIZED', 'REQUIRES_REVIEW']), eq(payments.step, 'HOLD_PLACED'), lt(payments.holdExpiresAt, now)))
        .limit(limit);
    },

    /**
     * Opens a refund under the payment's row lock: what is left to refund counts pending refunds,
     * so concurrent refunds never exceed captured minus refunded.
     */
    async openRefund(input: { paymentId: string; amount: bigint | null; reason: string | null; idempotencyKey: string; requestHash: string }): Promise<
      { kind: 'opened'; refund: RefundRow; payment: PaymentRow } | { kind: 'replay'; refund: RefundRow } | { kind: 'key-reused' } | { kind: 'not-refundable'; payment: PaymentRow | undefined } | { kind: 'too-much'; left: bigint }
    > {
      return database.transaction(async (sql) => {
        const [existing] = await sql.query(`select * from payments.refunds where payment_id = $1 and idempotency_key = $2`, [input.paymentId, input.idempotencyKey]);
        if (existing) {
          const refund = toRefund(existing);
          return refund.requestHash === input.requestHash ? { kind: 'replay', refund } : { kind: 'key-reused' };
        }
        const [locked] = await sql.query(`select * from payments.payments where id = $1 for update`, [input.paymentId]);
        const payment = locked ? toPayment(locked) : undefined;
        if (!payment || payment.status !== 'SUCCEEDED') return { kind: 'not-refundable', payment };
        const [pending] = await sql.query<{ total: string }>(`select coalesce(sum(amount), 0)::text as total from payments.refunds where payment_id = $1 and status = 'PENDING'`, [payment.id]);
        const left = payment.amountCaptured - payment.amountRefunded - BigInt(pending!.total);
        const amount = input.amount ?? left;
        if (amount <= 0n || amount > left) return { kind: 'too-much', left };
        const [created] = await sql.query(
          `insert into payments.refunds (id, payment_id, amount, currency, reason, status, idempotency_key, request_hash) values ($1, $2, $3::bigint, $4, $5, 'PENDING', $6, $7) returning *`,
          [newId('ref'), payment.id, amount.toString(), payment.currency, input.reason, input.idempotencyKey, input.requestHash],
        );
        return { kind: 'opened', refund: toRefund(created!), payment };
      });
    },

    /** Completes a refund after the ledger moved the money: refund, payment totals, order, events. */
    async completeRefund(refundId: string): Promise<RefundRow | null> {
      return database.transaction(async (sql) => {
        const [done] = await sql.query(
          `update payments.refunds set status = 'SUCCEEDED', version = version + 1, updated_at = now() where id = $1 and status = 'PENDING' returning *`,
          [refundId],
        );
        if (!done) return null;
        const refund = toRefund(done);
        const [locked] = await sql.query(`select * from payments.payments where id = $1 for update`, [refund.paymentId]);
        const before = toPayment(locked!);
        const [row] = await sql.query(
          `update payments.payments set amount_refunded = amount_refunded + $2::bigint, version = version + 1, updated_at = now() where id = $1 returning *`,
          [refund.paymentId, refund.amount.toString()],
        );
        const payment = toPayment(row!);
        await emit(sql, refund.id, refund.version, 'refund.succeeded', serializeRefundFacts({ refundId: refund.id, paymentId: payment.id, orderId: payment.orderId, buyerId: payment.buyerId, merchantId: payment.merchantId, amount: refund.amount, currency: refund.currency }));
        await emit(sql, payment.id, payment.version, 'payment.refunded', paymentEvent(payment, before.status));
        await updateOrderIn(sql, payment.orderId, orderStatusAfterRefund(payment.amountCaptured, payment.amountRefunded));
        return refund;
      });
    },

    /** Removes a refund the ledger refused (the merchant lacks the funds): nothing changed. */
    async dropRefund(refundId: string): Promise<void> {
      await database.query(`delete from payments.refunds where id = $1 and status = 'PENDING'`, [refundId]);
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
     * payments in SQL. An `after` below what retention kept is refused: those events are gone.
     */
    async statusLog(after: bigint, filter: StatusChangeFilter, limit: number) {
      const tail = await logTail(database.query, PAYMENTS_SOURCE);
      if (tail !== null && after + 1n < tail) throw new LogPruned(tail - 1n);
      return readPaymentStatusChanges(database.query, { after, limit, ...filter });
    },

    async eventsOf(aggregateId: string) {
      return db.select().from(outboxEvents).where(eq(outboxEvents.aggregateId, aggregateId)).orderBy(outboxEvents.sequence);
    },
  };
}

export type PaymentsStore = ReturnType<typeof createPaymentsStore>;
