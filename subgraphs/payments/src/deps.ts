/**
 * What the commands and the saga run with: the store, the ports to other services, settings, the
 * logger, the audit trail and (tests only) fault injection; and the few helpers they share.
 */
import type { GraphQLError } from 'graphql';
import type { AuditRecorder } from '@paygraph/audit';
import { serviceUnavailable } from '@paygraph/errors';
import type { Logger } from '@paygraph/logging';
import type { OrderRow, PaymentRow } from './db/schema';
import { must } from './domain/payment-state';
import type { FaultInjection } from './faults';
import type * as services from './services';
import type { PaymentsStore } from './store/payments-store';

export interface FlowSettings {
  /** How long an authorization holds the buyer's funds (like a card authorization). */
  holdExpiryMs: number;
  /** How long a payment waits for a review decision before it is canceled and its hold released. */
  reviewExpiryMs: number;
}

export interface FlowDeps {
  store: PaymentsStore;
  services: services.Services;
  settings: FlowSettings;
  logger: Logger;
  /** Where security-relevant decisions (reviews) are recorded; absent in tests that do not read it. */
  audit?: AuditRecorder;
  /** Test-only: where the flow stops as if crashed (createPaymentsService({ faults })). */
  faults?: FaultInjection;
}

export const codeOf = (error: unknown) => (error as { extensions?: { code?: unknown } }).extensions?.code;

export async function reload(deps: FlowDeps, id: string): Promise<PaymentRow> {
  const [payment] = await deps.store.paymentsByIds([id]);
  return must(payment, `payment ${id} exists once it was read or written`);
}

export async function orderOf(deps: FlowDeps, orderId: string): Promise<OrderRow> {
  const [order] = await deps.store.ordersByIds([orderId]);
  return must(order, `order ${orderId} exists once it was read`);
}

/**
 * A call the step needs failed because a service could not answer: the step did not run (or its
 * keyed effect is found by the retry). The caller gets SERVICE_UNAVAILABLE; the state stays where
 * it was, so the same request retried, or the recovery pass, completes it.
 */
export function unavailable(deps: FlowDeps, error: unknown, context: Record<string, unknown>): GraphQLError {
  deps.logger.warn({ err: error, ...context }, 'a service this step needs is unavailable; the step is resumable');
  return serviceUnavailable();
}
