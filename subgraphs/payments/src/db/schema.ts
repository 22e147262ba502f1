import { auditOutboxTable } from '@paygraph/audit';
import { outboxTable } from '@paygraph/events';
import { sql } from 'drizzle-orm';
import { bigint, bigserial, index, integer, pgSchema, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';

/** The payments service's own Postgres schema; no other service reads it. */
export const paymentsSchema = pgSchema('payments');

const money = (name: string) => bigint(name, { mode: 'bigint' });
const timestamps = {
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
};

export const orders = paymentsSchema.table(
  'orders',
  {
    id: text('id').primaryKey(),
    buyerId: text('buyer_id').notNull(),
    merchantId: text('merchant_id').notNull(),
    amount: money('amount').notNull(),
    currency: text('currency').notNull(),
    description: text('description'),
    status: text('status', { enum: ['PENDING', 'PAID', 'CANCELED', 'PARTIALLY_REFUNDED', 'REFUNDED'] }).notNull(),
    /** Per-aggregate event version: +1 with every state change. */
    version: integer('version').notNull().default(1),
    ...timestamps,
  },
  (table) => [index('orders_buyer_idx').on(table.buyerId), index('orders_merchant_idx').on(table.merchantId)],
);

/**
 * Payments. `step` records how far the flow got (each step idempotent, keyed by the payment id),
 * so recovery can resume a payment interrupted anywhere.
 */
export const payments = paymentsSchema.table(
  'payments',
  {
    id: text('id').primaryKey(),
    /** Insertion order, for stable newest-first pagination. */
    position: bigserial('position', { mode: 'bigint' }).notNull(),
    orderId: text('order_id').notNull(),
    buyerId: text('buyer_id').notNull(),
    merchantId: text('merchant_id').notNull(),
    amount: money('amount').notNull(),
    currency: text('currency').notNull(),
    status: text('status', { enum: ['PENDING', 'REQUIRES_REVIEW', 'AUTHORIZED', 'SUCCEEDED', 'FAILED', 'CANCELED'] }).notNull(),
    step: text('step', { enum: ['CREATED', 'RISK_ASSESSED', 'HOLD_PLACED', 'CAPTURE_REQUESTED', 'CAPTURED', 'CANCEL_REQUESTED', 'DONE'] }).notNull(),
    captureMethod: text('capture_method', { enum: ['AUTOMATIC', 'MANUAL'] }).notNull(),
    failureCode: text('failure_code'),
    idempotencyKey: text('idempotency_key').notNull(),
    requestHash: text('request_hash').notNull(),
    riskAssessmentId: text('risk_assessment_id'),
    riskDecision: text('risk_decision', { enum: ['APPROVE', 'REVIEW', 'DECLINE'] }),
    buyerAccountId: text('buyer_account_id'),
    merchantAccountId: text('merchant_account_id'),
    holdId: text('hold_id'),
    holdExpiresAt: timestamp('hold_expires_at', { withTimezone: true }),
    /**
     * The amount a capture decided to take (recorded with step CAPTURE_REQUESTED before the ledger
     * is asked): a retry or recovery posts this amount, whatever a retry asks for.
     */
    captureRequestedAmount: money('capture_requested_amount'),
    /**
     * When the current step last could not run because a service it needs was unavailable. A replay
     * of the payment's idempotency key resumes such a payment at once (others wait for recovery).
     */
    stalledAt: timestamp('stalled_at', { withTimezone: true }),
    /**
     * A risk review's decision (reviewPayment), by an admin or a service with risk:review, never the
     * payment's merchant or buyer; null until decided. Who, when and the note are kept with it.
     */
    reviewDecision: text('review_decision', { enum: ['APPROVE', 'REJECT'] }),
    reviewNote: text('review_note'),
    reviewedBy: text('reviewed_by'),
    reviewedAt: timestamp('reviewed_at', { withTimezone: true }),
    amountCaptured: money('amount_captured').notNull().default(sql`0`),
    amountRefunded: money('amount_refunded').notNull().default(sql`0`),
    version: integer('version').notNull().default(1),
    ...timestamps,
  },
  (table) => [
    uniqueIndex('payments_buyer_key_unique').on(table.buyerId, table.idempotencyKey),
    // At most one payment per order may be in flight or successful: concurrent payOrder calls charge once.
    uniqueIndex('payments_one_live_per_order').on(table.orderId).where(sql`${table.status} in ('PENDING', 'REQUIRES_REVIEW', 'AUTHORIZED', 'SUCCEEDED')`),
    index('payments_order_idx').on(table.orderId),
    index('payments_buyer_position_idx').on(table.buyerId, table.position),
    index('payments_merchant_position_idx').on(table.merchantId, table.position),
    // Held payments by position: recovery walks them to find captures only the ledger recorded.
    index('payments_held_position_idx').on(table.position).where(sql`${table.status} in ('AUTHORIZED', 'REQUIRES_REVIEW')`),
    index('payments_unfinished_idx').on(table.updatedAt).where(sql`${table.status} = 'PENDING' or ${table.step} in ('CANCEL_REQUESTED', 'CAPTURE_REQUESTED')`),
  ],
);

export const refunds = paymentsSchema.table(
  'refunds',
  {
    id: text('id').primaryKey(),
    paymentId: text('payment_id').notNull(),
    amount: money('amount').notNull(),
    currency: text('currency').notNull(),
    reason: text('reason'),
    status: text('status', { enum: ['PENDING', 'SUCCEEDED', 'FAILED'] }).notNull(),
    idempotencyKey: text('idempotency_key').notNull(),
    requestHash: text('request_hash').notNull(),
    version: integer('version').notNull().default(1),
    ...timestamps,
  },
  (table) => [uniqueIndex('refunds_payment_key_unique').on(table.paymentId, table.idempotencyKey), index('refunds_payment_idx').on(table.paymentId)],
);

/**
 * The transactional outbox (packages/events): every state change of an order, payment or refund
 * writes its event here in the same transaction; the relay gives it its place in the log.
 */
export const outboxEvents = outboxTable<'payments', 'Order' | 'Payment' | 'Refund'>(paymentsSchema, (table) => [
  // A subscriber's replay reads only its own payments' events (as buyer or as merchant), so its
  // cost follows that viewer's history, not the platform's.
  index('outbox_payment_buyer_position_idx').on(sql`(${table.payload}->>'buyerId')`, table.position).where(sql`${table.aggregateType} = 'Payment'`),
  index('outbox_payment_merchant_position_idx').on(sql`(${table.payload}->>'merchantId')`, table.position).where(sql`${table.aggregateType} = 'Payment'`),
]);

export type OrderRow = typeof orders.$inferSelect;
export type PaymentRow = typeof payments.$inferSelect;
export type RefundRow = typeof refunds.$inferSelect;
export type OutboxEventRow = typeof outboxEvents.$inferSelect;
/** Audit records waiting to be relayed to users' trail (packages/audit outbox.ts). */
export const auditOutbox = auditOutboxTable(paymentsSchema);

export const schema = { orders, payments, refunds, outboxEvents, auditOutbox };
