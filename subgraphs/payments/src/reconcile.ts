/**
 * Reconciliation: for every payment, what payments recorded (captured minus refunded) against the
 * ledger's net movement for it (its capture transaction minus its refund transactions).
 */
import type { FlowDeps } from './flow';
import * as services from './services';

/** Payments checked per page; their ledger transactions are looked up in one call per page. */
const RECONCILE_PAGE_SIZE = 200;
const MISMATCHES_REPORTED_MAX = 100;

export async function reconcilePayments(deps: FlowDeps): Promise<{ ok: boolean; checkedPayments: number; mismatches: string[] }> {
  const mismatches: string[] = [];
  let checked = 0;
  let after = 0n;
  for (;;) {
    const page = await deps.store.paymentsAfter(after, RECONCILE_PAGE_SIZE);
    if (page.length === 0) break;
    after = page.at(-1)!.position;
    const refunds = (await deps.store.refundsByPaymentIds(page.map((payment) => payment.id))).filter((refund) => refund.status === 'SUCCEEDED');
    const keys = [...page.map((payment) => `payment:${payment.id}:capture`), ...refunds.map((refund) => `refund:${refund.id}`)];
    const movements = new Map((await services.ledgerMovements(deps.services, keys)).map((movement) => [movement.idempotencyKey, movement]));
    const amountTo = (key: string, accountId: string | null, direction: 'DEBIT' | 'CREDIT') =>
      (movements.get(key)?.entries ?? []).filter((entry) => entry.accountId === accountId && entry.direction === direction).reduce((sum, entry) => sum + BigInt(entry.amount.amount), 0n);

    for (const payment of page) {
      checked += 1;
      const ledgerCaptured = amountTo(`payment:${payment.id}:capture`, payment.merchantAccountId, 'CREDIT');
      const ledgerRefunded = refunds.filter((refund) => refund.paymentId === payment.id).reduce((sum, refund) => sum + amountTo(`refund:${refund.id}`, payment.merchantAccountId, 'DEBIT'), 0n);
      const recorded = payment.amountCaptured - payment.amountRefunded;
      const moved = ledgerCaptured - ledgerRefunded;
      const report = (message: string) => {
        if (mismatches.length < MISMATCHES_REPORTED_MAX) mismatches.push(`payment ${payment.id}: ${message}`);
      };
      if (recorded !== moved) report(`captured minus refunded is ${recorded}, the ledger moved ${moved}`);
      if (payment.status === 'SUCCEEDED' && ledgerCaptured === 0n) report('succeeded without a capture in the ledger');
      if (payment.status !== 'SUCCEEDED' && ledgerCaptured !== 0n) report(`${payment.status.toLowerCase()} but captured in the ledger`);
    }
  }
  return { ok: mismatches.length === 0, checkedPayments: checked, mismatches };
}
