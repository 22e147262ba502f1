/**
 * Every state change of an order, payment or refund: a conditional update (it applies only from
 * the expected states, so a lost race is visible) under the row's lock, that bumps the object's
 * version and writes its event in the same transaction. Statements are hand-written and prepared
 * once per connection (drizzle's builder sends every statement unprepared: two round trips and a
 * re-plan each); their columns come from the drizzle tables (columns.ts).
 */
import type { AuditInTransaction } from '@paygraph/audit';
import { invariant } from '@paygraph/errors';
import { isUniqueViolation, newId, type RawTransaction, type SqlRunner } from '@paygraph/db';
import { orderStatusEventType, paymentStatusEventType } from '@paygraph/events';
import { LIVE, ORDER_TRANSITIONS, assertTransition, canMoveOrder, orderStatusAfterRefund, type OrderStatus } from '../domain/payment-state';
import type { OrderRow, PaymentRow, RefundRow } from '../db/schema';
import { insertPaymentFromOrderStatement, paymentAssignments, toOrder, toPayment, toRefund, type NewPayment, type PaymentChanges } from './columns';
import { emit, orderFacts, paymentFacts, refundFacts } from './events';

export type { NewPayment, PaymentChanges } from './columns';

export class PaymentConflict extends Error {
  constructor(
    readonly kind: 'idempotency-key' | 'order-has-live-payment' | 'order-not-payable' | 'no-such-order',
    /** For order-not-payable: where the order is. */
    readonly orderStatus: OrderRow['status'] | null = null,
  ) {
    super(kind);
  }
}

/** A payment attempt on an order: the rest (merchant, amount, currency) is the order's, read under its lock. */
export type PaymentAttempt = Omit<NewPayment, 'merchantId' | 'amount' | 'currency'>;

/** Which payments an update applies to: in one of these statuses (and at this step, when given). */
export interface PaymentGuard {
  statuses: readonly PaymentRow['status'][];
  step?: PaymentRow['step'];
}

/** The order to move with a payment; with `required`, an order that cannot move rolls the payment change back. */
export interface OrderMove {
  to: OrderRow['status'];
  required?: boolean;
  /** The payment's order, when the caller knows it: its move is then sent with the payment's change (one round trip less). */
  orderId?: string;
}

/** An order that had to move with a payment could not (the payment change is rolled back). */
class OrderDidNotMove extends Error {}
/** The payment's guard no longer held, after its order's move was sent with it: rolls that move back. */
class PaymentDidNotMove extends Error {}

/** The one row a statement that must return one returned. */
function only<T>(rows: readonly T[], what: string): T {
  const [row] = rows;
  invariant(row !== undefined, what);
  return row;
}

const LIVE_SQL = LIVE.map((status) => `'${status}'`).join(', ');

/** The statuses ORDER_TRANSITIONS lets an order leave for `to`. */
const orderStatusesMovableTo = (to: OrderStatus): OrderStatus[] => (Object.keys(ORDER_TRANSITIONS) as OrderStatus[]).filter((from) => canMoveOrder(from, to));
/** Orders a payment may start on: those that can move to PAID. */
const PAYABLE_ORDER_STATUSES = orderStatusesMovableTo('PAID');

export function createPaymentsWrites(database: { transaction: RawTransaction; query: SqlRunner['query'] }) {
  /**
   * Moves an order to `status` under its row lock when ORDER_TRANSITIONS allows it from where it
   * is (the table is the one authority: call sites pass no `from` lists); null when it does not.
   */
  async function updateOrderIn(sql: SqlRunner, id: string, status: OrderRow['status']): Promise<OrderRow | null> {
    const moved = await moveOrderIn(sql, id, status);
    if (!moved) return null;
    await emit(sql, id, moved.order.version, orderStatusEventType(status), orderFacts(moved.order, moved.previousStatus));
    return moved.order;
  }

  /** updateOrderIn without its event: the order moved and where it was, or null. */
  async function moveOrderIn(sql: SqlRunner, id: string, status: OrderRow['status']): Promise<{ order: OrderRow; previousStatus: OrderRow['status'] } | null> {
    // One statement: lock the order, move it only from a status the table allows, say where it was.
    const [row] = await sql.query<Record<string, unknown> & { previous_status: OrderRow['status'] }>(
      `with before as (select id, status from payments.orders where id = $1 for update)
       update payments.orders as moved set status = $2, version = moved.version + 1, updated_at = now()
       from before where moved.id = before.id and before.status = any(string_to_array($3, ','))
       returning moved.*, before.status as previous_status`,
      [id, status, orderStatusesMovableTo(status).join(',')],
    );
    return row ? { order: toOrder(row), previousStatus: row.previous_status } : null;
  }

  /** The status of an order under its row lock (null when there is no such order). */
  async function lockOrder(sql: SqlRunner, id: string): Promise<OrderRow['status'] | null> {
    const [order] = await sql.query<{ status: OrderRow['status'] }>(`select status from payments.orders where id = $1 for update`, [id]);
    return order?.status ?? null;
  }

  /** An order under its row lock, with what a payment of it copies (undefined when there is no such order). */
  async function lockOrderForPayment(sql: SqlRunner, id: string) {
    const [order] = await sql.query<{ buyer_id: string; merchant_id: string; amount: string; currency: string; status: OrderRow['status'] }>(
      `select buyer_id, merchant_id, amount::text as amount, currency, status from payments.orders where id = $1 for update`,
      [id],
    );
    return order;
  }

  async function updatePaymentOnce(id: string, guard: PaymentGuard, changes: PaymentChanges, order: OrderMove | undefined, audit: AuditInTransaction | undefined): Promise<PaymentRow | null> {
    // A change that sets no status, moves no order and is not audited writes nothing else: its one
    // statement is atomic on its own (a saga step recorded without a status change: one round trip instead of three).
    const run = changes.status === undefined && !order && !audit ? <T>(work: (sql: SqlRunner) => Promise<T>) => work({ query: database.query }) : database.transaction;
    return run(async (sql) => {
      // An order to move is locked before the payment, as insertPayment and cancelOrderWithoutPayment
      // lock it (one lock order: a payOrder with another key on the same order, holding the order's
      // lock and waiting on this payment's live row in the one-live-payment index, used to deadlock
      // with this change holding the payment and waiting for the order). A known order's move is
      // sent first, with the payment's change; otherwise the order is locked by the payment's
      // order id, sent with it too: no round trip more either way.
      const movedEarly = order?.orderId ? moveOrderIn(sql, order.orderId, order.to) : null;
      const orderLocked = order && !order.orderId ? sql.query(`select 1 from payments.orders where id = (select order_id from payments.payments where id = $1) for update`, [id]) : null;
      // One statement: lock the payment if the guard still holds, change it, say what its status
      // was (the version moves with the status). $1 id, $2 statuses, $3 step; changes from $4.
      const { assignments, parameters, statusPlaceholder } = paymentAssignments(changes, 4);
      if (statusPlaceholder) assignments.push(`version = payment.version + (case when before.status = ${statusPlaceholder} then 0 else 1 end)`);
      assignments.push('updated_at = now()');
      const changed = sql.query<Record<string, unknown> & { previous_status: PaymentRow['status'] }>(
        `with before as (select id, status from payments.payments where id = $1 and status = any(string_to_array($2, ','))${guard.step ? ' and step = $3' : ' and $3::text is null'} for update)
         update payments.payments as payment set ${assignments.join(', ')} from before where payment.id = before.id
         returning payment.*, before.status as previous_status`,
        [id, guard.statuses.join(','), guard.step ?? null, ...parameters],
      );
      // The order's move (or lock) ran first; its event is written once both answered.
      const [[row], early] = await Promise.all([changed, movedEarly, orderLocked]);
      if (!row) {
        if (movedEarly) throw new PaymentDidNotMove(); // rolls back the order's move
        return null;
      }
      const updated = toPayment(row);
      const statusChanges = updated.status !== row.previous_status;
      // The transition table is the one authority on status changes; a move it lacks is a bug (the transaction rolls back).
      if (statusChanges) assertTransition(row.previous_status, updated.status);
      if (statusChanges) await emit(sql, id, updated.version, paymentStatusEventType(updated.status), paymentFacts(updated, row.previous_status));
      if (order) {
        invariant(!order.orderId || order.orderId === updated.orderId, `payment ${id} belongs to order ${updated.orderId}, not ${order.orderId}`);
        const moved = movedEarly ? early : await moveOrderIn(sql, updated.orderId, order.to);
        if (moved) await emit(sql, moved.order.id, moved.order.version, orderStatusEventType(order.to), orderFacts(moved.order, moved.previousStatus));
        if (!moved && order.required) throw new OrderDidNotMove();
      }
      // The change's audit record commits with it (its failure rolls the change back).
      await audit?.(sql);
      return updated;
    });
  }

  return {
    async createOrder(order: Pick<OrderRow, 'buyerId' | 'merchantId' | 'amount' | 'currency' | 'description'>): Promise<OrderRow> {
      return database.transaction(async (sql) => {
        const created = await sql.query(
          `insert into payments.orders (id, buyer_id, merchant_id, amount, currency, description, status) values ($1, $2, $3, $4::bigint, $5, $6, 'PENDING') returning *`,
          [newId('ord'), order.buyerId, order.merchantId, order.amount.toString(), order.currency, order.description],
        );
        const row = toOrder(only(created, 'an inserted order is returned'));
        await emit(sql, row.id, row.version, 'order.created', orderFacts(row, null));
        return row;
      });
    },

    /**
     * Records a new payment attempt on the buyer's order, for the order's amount. No such order
     * (or another buyer's), an order that can no longer be paid, a key the buyer used before, or
     * an order that already has a payment in flight or succeeded, is a PaymentConflict (the caller
     * replays or refuses).
     */
    async insertPayment(attempt: PaymentAttempt): Promise<PaymentRow> {
      try {
        return await database.transaction(async (sql) => {
          // Under the order's row lock, so a payment never starts on an order a cancel just closed
          // (cancelOrderWithoutPayment takes the same lock and looks for live payments). The lock
          // and the insert are sent together (one round trip); the insert is a statement of its
          // own, run once the lock is held, and copies the order only if it is the buyer's and
          // payable, so the order read under the lock says why when it inserted nothing.
          const statement = insertPaymentFromOrderStatement(attempt, PAYABLE_ORDER_STATUSES);
          const [order, inserted] = await Promise.all([lockOrderForPayment(sql, attempt.orderId), sql.query(statement.text, statement.parameters)]);
          if (!order || order.buyer_id !== attempt.buyerId) throw new PaymentConflict('no-such-order');
          if (!canMoveOrder(order.status, 'PAID')) throw new PaymentConflict('order-not-payable', order.status);
          const row = toPayment(only(inserted, 'a payment of a payable order is inserted'));
          await emit(sql, row.id, row.version, 'payment.created', paymentFacts(row, null));
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
     * Moves a payment on: applies `changes` only if it is still in one of the guard's statuses
     * (and step, when given), under its row lock (so of two actors claiming it, one wins). Writes
     * the payment event when the status changes, and moves the order along in the same
     * transaction when asked (as ORDER_TRANSITIONS allows; with `required`, an order that cannot
     * move rolls the payment change back). Null when another actor moved it first. `audit` records
     * the change in its transaction (a record that cannot be written fails the change).
     */
    async updatePayment(id: string, guard: PaymentGuard, changes: PaymentChanges, order?: OrderMove, audit?: AuditInTransaction): Promise<PaymentRow | null> {
      try {
        return await updatePaymentOnce(id, guard, changes, order, audit);
      } catch (error) {
        if (error instanceof OrderDidNotMove || error instanceof PaymentDidNotMove) return null;
        throw error;
      }
    },

    /**
     * Cancels an order that has no payment in flight or succeeded, under the order's row lock
     * (insertPayment takes it too): a payOrder and a cancel on one order never both win.
     */
    async cancelOrderWithoutPayment(orderId: string): Promise<{ kind: 'canceled' | 'has-live-payment' | 'not-pending' }> {
      return database.transaction(async (sql) => {
        const status = await lockOrder(sql, orderId);
        if (status === null || !canMoveOrder(status, 'CANCELED')) return { kind: 'not-pending' };
        const live = await sql.query(`select 1 from payments.payments where order_id = $1 and status in (${LIVE_SQL}) limit 1`, [orderId]);
        if (live.length > 0) return { kind: 'has-live-payment' };
        await updateOrderIn(sql, orderId, 'CANCELED');
        return { kind: 'canceled' };
      });
    },

    /**
     * Opens a refund under the payment's row lock: what is left to refund counts pending refunds,
     * so concurrent refunds never exceed captured minus refunded. A key already used on the
     * payment answers with the refund that holds it.
     */
    async openRefund(input: { paymentId: string; amount: bigint | null; reason: string | null; idempotencyKey: string; requestHash: string }): Promise<
      { kind: 'opened'; refund: RefundRow; payment: PaymentRow } | { kind: 'keyed'; refund: RefundRow } | { kind: 'not-refundable'; payment: PaymentRow | undefined } | { kind: 'too-much'; left: bigint }
    > {
      return database.transaction(async (sql) => {
        const [locked] = await sql.query(`select * from payments.payments where id = $1 for update`, [input.paymentId]);
        // Read the key under the payment's lock: a concurrent request with the same key that opened
        // its refund first has committed by now, so this one replays it instead of inserting a
        // second row (the unique index refused that with an internal error).
        const [existing] = await sql.query(`select * from payments.refunds where payment_id = $1 and idempotency_key = $2`, [input.paymentId, input.idempotencyKey]);
        // The key is the payment's already: the command replays or refuses it (replayOrRefuse).
        if (existing) return { kind: 'keyed', refund: toRefund(existing) };
        const payment = locked ? toPayment(locked) : undefined;
        if (!payment || payment.status !== 'SUCCEEDED') return { kind: 'not-refundable', payment };
        const pending = only(await sql.query<{ total: string }>(`select coalesce(sum(amount), 0)::text as total from payments.refunds where payment_id = $1 and status = 'PENDING'`, [payment.id]), 'a sum returns one row');
        const left = payment.amountCaptured - payment.amountRefunded - BigInt(pending.total);
        const amount = input.amount ?? left;
        if (amount <= 0n || amount > left) return { kind: 'too-much', left };
        const created = await sql.query(
          `insert into payments.refunds (id, payment_id, amount, currency, reason, status, idempotency_key, request_hash) values ($1, $2, $3::bigint, $4, $5, 'PENDING', $6, $7) returning *`,
          [newId('ref'), payment.id, amount.toString(), payment.currency, input.reason, input.idempotencyKey, input.requestHash],
        );
        return { kind: 'opened', refund: toRefund(only(created, 'an inserted refund is returned')), payment };
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
        const before = toPayment(only(await sql.query(`select * from payments.payments where id = $1 for update`, [refund.paymentId]), `refund ${refund.id}'s payment exists`));
        const payment = toPayment(
          only(
            await sql.query(`update payments.payments set amount_refunded = amount_refunded + $2::bigint, version = version + 1, updated_at = now() where id = $1 returning *`, [
              refund.paymentId,
              refund.amount.toString(),
            ]),
            `payment ${refund.paymentId} locked is updated`,
          ),
        );
        await emit(sql, refund.id, refund.version, 'refund.succeeded', refundFacts(refund, payment));
        await emit(sql, payment.id, payment.version, 'payment.refunded', paymentFacts(payment, before.status));
        await updateOrderIn(sql, payment.orderId, orderStatusAfterRefund(payment.amountCaptured, payment.amountRefunded));
        return refund;
      });
    },

    /** Removes a refund the ledger refused (the merchant lacks the funds): nothing changed. */
    async dropRefund(refundId: string): Promise<void> {
      await database.query(`delete from payments.refunds where id = $1 and status = 'PENDING'`, [refundId]);
    },
  };
}

export type PaymentsWrites = ReturnType<typeof createPaymentsWrites>;
