/**
 * The recovery pass: resumes every payment at a step PAYMENT_STEPS marks resumedByRecovery and
 * every PENDING refund, settles held payments on captures only the ledger recorded, and expires
 * holds and reviews. Each step's remote call is keyed, so what the ledger did before an
 * interruption is found, not repeated.
 */
import { ErrorCode } from '@paygraph/errors';
import { KEYS_PER_LOOKUP_MAX } from '@paygraph/ledger/limits';
import { ledgerKeys } from '@paygraph/server';
import { codeOf, reload, type FlowDeps } from '../deps';
import type { PaymentsStore } from '../store/payments-store';
import * as services from '../services';
import { advance, claim } from './advance';
import { expireHeldPayments } from './expiry';
import { completeRefund } from './refund';

export const RECOVERY_BATCH_MAX = 100;
/** Held payments whose capture key is looked up in the ledger per pass (one lookup, under its limit). */
export const HELD_CHECKED_PER_PASS_MAX = Math.min(500, KEYS_PER_LOOKUP_MAX);

/** Where each store's walk through held payments resumes on the next pass (it wraps around). */
const heldWalks = new WeakMap<PaymentsStore, { afterPosition: bigint }>();

/**
 * Held payments (no claim) whose hold the ledger has captured: left by an older version that asked
 * the ledger before recording anything. Settled on the ledger's facts, one page per pass.
 */
async function settleCapturesOnlyTheLedgerHas(deps: FlowDeps, untouchedSince: Date): Promise<number> {
  const walk = heldWalks.get(deps.store) ?? { afterPosition: 0n };
  heldWalks.set(deps.store, walk);
  const held = await deps.store.unclaimedHeldPaymentsAfter(walk.afterPosition, untouchedSince, HELD_CHECKED_PER_PASS_MAX);
  const last = held.at(-1);
  walk.afterPosition = held.length < HELD_CHECKED_PER_PASS_MAX || last === undefined ? 0n : last.position;
  if (held.length === 0) return 0;
  const captured = new Map<string, bigint>();
  for (const movement of await services.ledgerMovements(deps.services, held.map((payment) => ledgerKeys.capture(payment.id)))) {
    const credit = movement.entries.find((entry) => entry.direction === 'CREDIT');
    if (credit) captured.set(movement.idempotencyKey, BigInt(credit.amount.amount));
  }
  let settled = 0;
  for (const payment of held) {
    const amount = captured.get(ledgerKeys.capture(payment.id));
    if (amount === undefined) continue;
    if (await claim(deps, payment.id, 'captured-in-ledger', { amountCaptured: amount })) settled += 1;
  }
  return settled;
}

/**
 * Drives every unfinished payment and refund untouched since `untouchedSince` to a final or
 * waiting state, and cancels held payments whose hold or review expired. Unfinished means: PENDING
 * at any step, a claimed capture or cancel (RESUMABLE_SETTLED_STEPS), a PENDING refund. A capture
 * or refund the ledger posted is replayed and recorded, a void repeated is harmless, and a capture
 * it refuses is settled on what it holds under the payment's capture key. Returns what it touched.
 */
export async function recover(deps: FlowDeps, untouchedSince: Date): Promise<{ payments: number; refunds: number; expired: number; capturesOnlyInLedger: number }> {
  const touched = { payments: 0, refunds: 0, expired: 0, capturesOnlyInLedger: 0 };
  for (const payment of await deps.store.unfinishedPayments(untouchedSince, RECOVERY_BATCH_MAX)) {
    try {
      await advance(deps, payment);
      touched.payments += 1;
    } catch (error) {
      // Unavailable: already logged, and the next pass tries again.
      if (codeOf(error) !== ErrorCode.SERVICE_UNAVAILABLE) deps.logger.error({ err: error, paymentId: payment.id }, 'recovery could not advance a payment');
    }
  }
  for (const refund of await deps.store.pendingRefunds(untouchedSince, RECOVERY_BATCH_MAX)) {
    try {
      await completeRefund(deps, refund, await reload(deps, refund.paymentId));
      touched.refunds += 1;
    } catch (error) {
      // A transfer the merchant can no longer fund, or whose totals cannot be recorded, settles the refund too: it was dropped.
      if (codeOf(error) === ErrorCode.INSUFFICIENT_FUNDS || services.isOutOfRange(error)) touched.refunds += 1;
      else deps.logger.error({ err: error, refundId: refund.id }, 'recovery could not complete a refund');
    }
  }
  try {
    touched.capturesOnlyInLedger = await settleCapturesOnlyTheLedgerHas(deps, untouchedSince);
  } catch (error) {
    if (codeOf(error) !== ErrorCode.SERVICE_UNAVAILABLE && !services.isUnavailable(error)) deps.logger.error({ err: error }, 'recovery could not look for captures only the ledger recorded');
  }
  touched.expired = await expireHeldPayments(deps);
  return touched;
}
