/**
 * The payment status change: what dashboards subscribe to, read from the payments log. The rule
 * that makes a payments event a status change lives here once, in its two forms side by side (on
 * a decoded event, and as SQL over the outbox row), and so does the one reader of such changes
 * used by live fan-out and replays alike.
 */
import type { SqlRunner } from '@paygraph/db';
import { readLog, type BindParameter } from '../outbox';
import type { DomainEvent } from '../types';

/** The payments service's log (its schema). */
export const PAYMENTS_SOURCE = 'payments';
const PAYMENT_AGGREGATE = 'Payment';

/**
 * Status changes one read of the payments log returns at most (`paymentStatusLog(first:)`, which
 * payments clamps to it). Readers that page take a shorter page for the end of the log, so they
 * page with this constant, never a number of their own.
 */
export const STATUS_LOG_PAGE_MAX = 500;

/** A payment's status change, from the payments log (live event or replay). */
export interface PaymentStatusChange {
  /** The event's position in the payments log. */
  sequence: bigint;
  paymentId: string;
  buyerId: string;
  merchantId: string;
  status: string;
  previousStatus: string | null;
  occurredAt: string;
}

interface PaymentEventFields {
  buyerId?: unknown;
  merchantId?: unknown;
  status?: unknown;
  previousStatus?: unknown;
}

/**
 * A payments event is a status change when it is about a Payment, carries its buyer and merchant,
 * and its status differs from the one before (a refund that keeps SUCCEEDED is not one).
 * `STATUS_CHANGE_SQL` is the same rule over an outbox row.
 */
export function toPaymentStatusChange(event: DomainEvent): PaymentStatusChange | null {
  if (event.source !== PAYMENTS_SOURCE || event.aggregateType !== PAYMENT_AGGREGATE) return null;
  const payload = event.payload as PaymentEventFields;
  if (typeof payload.status !== 'string' || payload.status === payload.previousStatus) return null;
  if (typeof payload.buyerId !== 'string' || typeof payload.merchantId !== 'string') return null;
  return {
    sequence: BigInt(event.sequence),
    paymentId: event.aggregateId,
    buyerId: payload.buyerId,
    merchantId: payload.merchantId,
    status: payload.status,
    previousStatus: typeof payload.previousStatus === 'string' ? payload.previousStatus : null,
    occurredAt: event.occurredAt,
  };
}

// The aggregate type is a literal, not a parameter: the buyer and merchant indexes are partial on it.
const STATUS_CHANGE_SQL = `aggregate_type = '${PAYMENT_AGGREGATE}' and jsonb_typeof(payload->'status') = 'string' and (payload->>'status') is distinct from (payload->>'previousStatus')
  and jsonb_typeof(payload->'buyerId') = 'string' and jsonb_typeof(payload->'merchantId') = 'string'`;

export interface StatusChangeFilter {
  /** One payment only. */
  paymentId?: string | null;
  /** Only payments this user is the buyer or the merchant of (indexed: the cost follows that user's history). */
  partyId?: string | null;
}

function statusChangeCondition(filter: StatusChangeFilter) {
  return (bind: BindParameter) => {
    if (!filter.partyId) return STATUS_CHANGE_SQL;
    const party = bind(filter.partyId);
    return `${STATUS_CHANGE_SQL} and ((payload->>'buyerId') = ${party} or (payload->>'merchantId') = ${party})`;
  };
}

/** Status changes after a position, in log order, narrowed in SQL. */
export async function readPaymentStatusChanges(
  query: SqlRunner['query'],
  options: { after: bigint; limit: number } & StatusChangeFilter,
): Promise<PaymentStatusChange[]> {
  const events = await readLog(query, PAYMENTS_SOURCE, {
    after: options.after,
    limit: options.limit,
    aggregateId: options.paymentId ?? null,
    condition: statusChangeCondition(options),
  });
  return events.map((event) => {
    const change = toPaymentStatusChange(event);
    // The SQL and the function state one rule; a row one accepts and the other refuses is a bug.
    if (!change) throw new Error(`payments event ${event.id} matched the status-change SQL but not the rule`);
    return change;
  });
}
