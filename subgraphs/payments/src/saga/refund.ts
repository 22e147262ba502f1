/**
 * The refund saga's one remote step: the reverse transfer in the ledger, keyed by the refund id
 * (a repeat finds the first transfer), then recorded. Unavailable: the refund stays PENDING and the
 * same key, or recovery, completes it. Refused (the merchant lacks the funds, or a total would pass
 * what the ledger can record): the refund is dropped and its key left unused.
 */
import { ErrorCode, OUT_OF_RANGE_MESSAGE, apiError, badUserInput } from '@paygraph/errors';
import type { PaymentRow, RefundRow } from '../db/schema';
import { codeOf, unavailable, type FlowDeps } from '../deps';
import { must } from '../domain/payment-state';
import { checkpoint } from '../faults';
import * as services from '../services';

export async function completeRefund(deps: FlowDeps, refund: RefundRow, payment: PaymentRow): Promise<RefundRow> {
  try {
    await services.refundTransfer(deps.services, {
      refundId: refund.id,
      merchantAccountId: must(payment.merchantAccountId, `refunded payment ${payment.id} has the merchant's account`),
      buyerAccountId: must(payment.buyerAccountId, `refunded payment ${payment.id} has the buyer's account`),
      amount: refund.amount,
      currency: refund.currency,
    });
  } catch (error) {
    if (codeOf(error) === ErrorCode.INSUFFICIENT_FUNDS) {
      await deps.store.dropRefund(refund.id);
      throw apiError(ErrorCode.INSUFFICIENT_FUNDS, 'The merchant no longer has the funds to refund this amount.');
    }
    // A total the transfer would make (the buyer's credits, the merchant's debits) cannot be recorded: nothing moved.
    if (services.isOutOfRange(error)) {
      await deps.store.dropRefund(refund.id);
      throw badUserInput(OUT_OF_RANGE_MESSAGE, 'input.amount');
    }
    if (services.isUnavailable(error)) throw unavailable(deps, error, { refundId: refund.id });
    throw error;
  }
  checkpoint(deps.faults, 'refund-posted');
  const completed = await deps.store.completeRefund(refund.id);
  return completed ?? must((await deps.store.refundsByIds([refund.id]))[0], `refund ${refund.id} exists once completed`);
}
