/**
 * refundPayment: opens a refund under the payment's row lock and its idempotency key (never more
 * than captured minus refunded, pending refunds counted), then moves the money back in the ledger
 * (saga/refund.ts). Merchant or admin.
 */
import { badUserInput, invalidState } from '@paygraph/errors';
import type { Viewer } from '@paygraph/identity';
import { assertMovableAmount, type Money } from '@paygraph/money';
import { assertIdempotencyKey, replayOrRefuse, requestHash } from '@paygraph/server';
import type { RefundRow } from '../db/schema';
import type { FlowDeps } from '../deps';
import { assertMerchantOrAdmin } from '../domain/access';
import { checkpoint } from '../faults';
import { completeRefund } from '../saga/refund';
import { DESCRIPTION_LENGTH_MAX } from './create-order';

export async function refundPayment(deps: FlowDeps, viewer: Viewer, input: { paymentId: string; amount?: Money | null; reason?: string | null; idempotencyKey: string }): Promise<RefundRow> {
  const payment = assertMerchantOrAdmin(viewer, (await deps.store.paymentsByIds([input.paymentId]))[0]);
  const idempotencyKey = assertIdempotencyKey(input.idempotencyKey);
  let amount: bigint | null = null;
  if (input.amount) {
    const money = assertMovableAmount(input.amount, 'input.amount');
    if (money.currency !== payment.currency) throw badUserInput(`The payment is in ${payment.currency}`, 'input.amount.currency');
    amount = money.amount;
  }
  const reason = input.reason ?? null;
  if (reason !== null && reason.length > DESCRIPTION_LENGTH_MAX) throw badUserInput(`Reason must be at most ${DESCRIPTION_LENGTH_MAX} characters`, 'input.reason');
  const hash = requestHash('refundPayment', { amount, reason });
  const opened = await deps.store.openRefund({ paymentId: payment.id, amount, reason, idempotencyKey, requestHash: hash });
  switch (opened.kind) {
    case 'keyed': {
      // The key holds a refund already: this same request replayed (finished if it was interrupted), or refused.
      const refund = replayOrRefuse(opened.refund, hash);
      return refund.status === 'PENDING' ? completeRefund(deps, refund, payment) : refund;
    }
    case 'not-refundable':
      throw invalidState(`The payment is ${opened.payment?.status.toLowerCase() ?? 'gone'}; only a succeeded payment can be refunded.`);
    case 'too-much':
      throw badUserInput(`At most ${opened.left} can still be refunded`, 'input.amount.amount');
    case 'opened':
      checkpoint(deps.faults, 'refund-opened');
      return completeRefund(deps, opened.refund, opened.payment);
  }
}
