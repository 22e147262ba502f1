/**
 * The one column list of the hand-written statements: the drizzle tables themselves. Raw rows are
 * mapped to the row types through each table's columns, and a payment update or insert names the
 * fields it may set; the SQL column names and casts come from the same columns.
 */
import { getTableColumns, type Column } from 'drizzle-orm';
import type { PgTable } from 'drizzle-orm/pg-core';
import { orders, payments, refunds, type OrderRow, type PaymentRow, type RefundRow } from '../db/schema';

type Raw = Record<string, unknown>;

/** A mapper from a raw row (snake_case, driver values) to the table's row type. */
function rowMapper<Row>(table: PgTable): (raw: Raw) => Row {
  const columns = Object.entries(getTableColumns(table)) as [string, Column][];
  return (raw) => {
    const row: Raw = {};
    for (const [field, column] of columns) {
      const value = raw[column.name];
      row[field] = value === null || value === undefined ? null : column.mapFromDriverValue(value);
    }
    return row as Row;
  };
}

export const toOrder = rowMapper<OrderRow>(orders);
export const toPayment = rowMapper<PaymentRow>(payments);
export const toRefund = rowMapper<RefundRow>(refunds);

const paymentColumns = getTableColumns(payments);
type PaymentField = keyof typeof paymentColumns & keyof PaymentRow;

/** Fields a payment update may set (identity, amounts asked, keys and bookkeeping never change). */
export const PAYMENT_UPDATABLE = [
  'status',
  'step',
  'failureCode',
  'riskAssessmentId',
  'riskDecision',
  'buyerAccountId',
  'merchantAccountId',
  'holdId',
  'holdExpiresAt',
  'amountCaptured',
  'amountRefunded',
  'captureRequestedAmount',
  'stalledAt',
  'reviewDecision',
  'reviewNote',
  'reviewedBy',
  'reviewedAt',
] as const satisfies readonly PaymentField[];

/** Fields a new payment is inserted with; the others take their defaults. */
export const PAYMENT_INSERTED = ['id', 'orderId', 'buyerId', 'merchantId', 'amount', 'currency', 'status', 'step', 'captureMethod', 'idempotencyKey', 'requestHash'] as const satisfies readonly PaymentField[];

export type PaymentChanges = Partial<Pick<PaymentRow, (typeof PAYMENT_UPDATABLE)[number]>>;
export type NewPayment = Pick<PaymentRow, (typeof PAYMENT_INSERTED)[number]>;

/** The SQL column of a payment field and the cast its text parameter needs (amounts and dates travel as text). */
export function paymentColumn(field: PaymentField): { column: string; cast: string } {
  const column = paymentColumns[field];
  const type = column.getSQLType();
  return { column: column.name, cast: type === 'text' ? '' : type === 'integer' ? '::integer' : type === 'bigint' ? '::bigint' : '::timestamptz' };
}

/** A value as a text parameter: amounts and dates travel as text and are cast in the SQL. */
export function parameter(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return value.toISOString();
  return String(value);
}

/**
 * `set` assignments for a payment update, their parameters numbered from `firstParameter` (the
 * ones before are the statement's own), and the placeholder of the new status when it is set.
 */
export function paymentAssignments(changes: PaymentChanges, firstParameter: number): { assignments: string[]; parameters: (string | null)[]; statusPlaceholder: string | null } {
  const fields = PAYMENT_UPDATABLE.filter((field) => changes[field] !== undefined);
  const placeholder = (index: number) => `$${index + firstParameter}`;
  const statusIndex = fields.indexOf('status');
  return {
    assignments: fields.map((field, index) => {
      const { column, cast } = paymentColumn(field);
      return `${column} = ${placeholder(index)}${cast}`;
    }),
    parameters: fields.map((field) => parameter(changes[field])),
    statusPlaceholder: statusIndex === -1 ? null : placeholder(statusIndex),
  };
}

/** What a payment copies from its order (read in the insert itself). */
const FROM_ORDER: Partial<Record<(typeof PAYMENT_INSERTED)[number], string>> = { orderId: 'o.id', buyerId: 'o.buyer_id', merchantId: 'o.merchant_id', amount: 'o.amount', currency: 'o.currency' };

/**
 * `insert into payments.payments (...) select ... from payments.orders ... returning *`: a new
 * payment of the buyer's order, for the order's merchant, amount and currency, inserted only if
 * the order is the buyer's and in one of `payableStatuses` (no row otherwise).
 */
export function insertPaymentFromOrderStatement(attempt: Omit<NewPayment, 'merchantId' | 'amount' | 'currency'>, payableStatuses: readonly string[]): { text: string; parameters: (string | null)[] } {
  const parameters: (string | null)[] = [attempt.orderId, attempt.buyerId, payableStatuses.join(',')];
  const values = PAYMENT_INSERTED.map((field) => {
    const fromOrder = FROM_ORDER[field];
    if (fromOrder) return fromOrder;
    parameters.push(parameter(attempt[field as keyof typeof attempt]));
    return `$${parameters.length}${paymentColumn(field).cast}`;
  });
  return {
    text: `insert into payments.payments (${PAYMENT_INSERTED.map((field) => paymentColumn(field).column).join(', ')})
     select ${values.join(', ')} from payments.orders as o where o.id = $1 and o.buyer_id = $2 and o.status = any(string_to_array($3, ','))
     returning *`,
    parameters,
  };
}
