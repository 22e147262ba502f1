/**
 * Reconciliation: for every settled payment, what payments recorded (captured minus refunded)
 * against the ledger's net movement for it (its capture transaction minus its refund transactions).
 * Payments still in flight (PENDING, or being canceled) are counted, not judged; a difference seen
 * once is checked again after a moment, so a step between the ledger and its recording is not
 * reported as a mismatch.
 */
import { KEYS_PER_LOOKUP_MAX } from '@paygraph/ledger/limits';
import { ledgerKeys } from '@paygraph/server';
import type { PaymentRow } from '../db/schema';
import type { FlowDeps } from '../deps';
import { RESUMABLE_SETTLED_STEPS } from '../domain/payment-state';
import * as services from '../services';

/**
 * Payments checked per page. A page's ledger transactions (one capture per payment, one per
 * refund: any number) are looked up in calls of at most the ledger's KEYS_PER_LOOKUP_MAX keys.
 */
const RECONCILE_PAGE_SIZE = 200;
const MISMATCHES_REPORTED_MAX = 100;
/** How long a suspect payment is given to finish a step before it is checked again. */
const RECHECK_DELAY_MS = 250;

/** Unfinished as recovery sees it: PENDING, or a claimed capture or cancel still to post. */
const inFlight = (payment: PaymentRow) => payment.status === 'PENDING' || RESUMABLE_SETTLED_STEPS.includes(payment.step);

/** The ledger transactions of these keys, in calls under the ledger's per-lookup limit. */
async function movementsByKey(deps: FlowDeps, keys: readonly string[]): Promise<Map<string, services.LedgerMovement>> {
  const found = new Map<string, services.LedgerMovement>();
  for (let start = 0; start < keys.length; start += KEYS_PER_LOOKUP_MAX) {
    for (const movement of await services.ledgerMovements(deps.services, keys.slice(start, start + KEYS_PER_LOOKUP_MAX))) found.set(movement.idempotencyKey, movement);
  }
  return found;
}

/** The problems of each payment of the page, by payment id (none: settled and in agreement). */
async function judge(deps: FlowDeps, page: PaymentRow[]): Promise<Map<string, string[]>> {
  const refunds = (await deps.store.refundsByPaymentIds(page.map((payment) => payment.id))).filter((refund) => refund.status === 'SUCCEEDED');
  const keys = [...page.map((payment) => ledgerKeys.capture(payment.id)), ...refunds.map((refund) => ledgerKeys.refund(refund.id))];
  const movements = await movementsByKey(deps, keys);
  const amountTo = (key: string, accountId: string | null, direction: 'DEBIT' | 'CREDIT') =>
    (movements.get(key)?.entries ?? []).filter((entry) => entry.accountId === accountId && entry.direction === direction).reduce((sum, entry) => sum + BigInt(entry.amount.amount), 0n);
  const refundsOf = new Map<string, typeof refunds>();
  for (const refund of refunds) {
    const list = refundsOf.get(refund.paymentId);
    if (list) list.push(refund);
    else refundsOf.set(refund.paymentId, [refund]);
  }
  const problems = new Map<string, string[]>();
  for (const payment of page) {
    const ledgerCaptured = amountTo(ledgerKeys.capture(payment.id), payment.merchantAccountId, 'CREDIT');
    const ledgerRefunded = (refundsOf.get(payment.id) ?? []).reduce((sum, refund) => sum + amountTo(ledgerKeys.refund(refund.id), payment.merchantAccountId, 'DEBIT'), 0n);
    const recorded = payment.amountCaptured - payment.amountRefunded;
    const found: string[] = [];
    if (recorded !== ledgerCaptured - ledgerRefunded) found.push(`captured minus refunded is ${recorded}, the ledger moved ${ledgerCaptured - ledgerRefunded}`);
    if (payment.status === 'SUCCEEDED' && ledgerCaptured === 0n) found.push('succeeded without a capture in the ledger');
    if (payment.status !== 'SUCCEEDED' && ledgerCaptured !== 0n) found.push(`${payment.status.toLowerCase()} but captured in the ledger`);
    if (found.length > 0) problems.set(payment.id, found);
  }
  return problems;
}

export async function reconcilePayments(deps: FlowDeps): Promise<{ ok: boolean; checkedPayments: number; inFlightPayments: number; mismatches: string[] }> {
  const suspects: string[] = [];
  let checked = 0;
  let pending = 0;
  let after = 0n;
  for (;;) {
    const page = await deps.store.paymentsAfter(after, RECONCILE_PAGE_SIZE);
    const last = page.at(-1);
    if (last === undefined) break;
    after = last.position;
    const settled = page.filter((payment) => !inFlight(payment));
    pending += page.length - settled.length;
    checked += settled.length;
    suspects.push(...(await judge(deps, settled)).keys());
  }
  const mismatches: string[] = [];
  if (suspects.length > 0) {
    await new Promise((resolve) => setTimeout(resolve, RECHECK_DELAY_MS));
    for (let start = 0; start < suspects.length; start += RECONCILE_PAGE_SIZE) {
      const page = (await deps.store.paymentsByIds(suspects.slice(start, start + RECONCILE_PAGE_SIZE))).filter((payment) => !inFlight(payment));
      for (const [paymentId, found] of await judge(deps, page)) {
        for (const problem of found) if (mismatches.length < MISMATCHES_REPORTED_MAX) mismatches.push(`payment ${paymentId}: ${problem}`);
      }
    }
  }
  return { ok: mismatches.length === 0, checkedPayments: checked, inFlightPayments: pending, mismatches };
}
