/**
 * payOrder: records a payment attempt under the buyer's idempotency key, then drives it through
 * the saga (risk, hold, capture when automatic). A replay with the same key returns the payment
 * (once a concurrent first request has finished it; resuming one whose step waited for a service);
 * with other parameters it is refused.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { invalidState, notFound } from '@paygraph/errors';
import { requireUser, type Viewer } from '@paygraph/identity';
import { newId } from '@paygraph/db';
import { assertIdempotencyKey, claimOrReplay, requestHash } from '@paygraph/server';
import type { PaymentRow } from '../db/schema';
import { reload, type FlowDeps } from '../deps';
import { checkpoint } from '../faults';
import { advance } from '../saga/advance';
import { PaymentConflict } from '../store/payments-store';

export async function payOrder(deps: FlowDeps, viewer: Viewer, input: { orderId: string; idempotencyKey: string; captureMethod?: 'AUTOMATIC' | 'MANUAL' | null }): Promise<PaymentRow> {
  const buyer = requireUser(viewer);
  const idempotencyKey = assertIdempotencyKey(input.idempotencyKey);
  const captureMethod = input.captureMethod ?? 'AUTOMATIC';
  const hash = requestHash('payOrder', { orderId: input.orderId, captureMethod });
  const find = () => deps.store.paymentByKey(buyer.userId, idempotencyKey);
  // The claim goes first (one transaction on the usual path: the order is read under its lock
  // there); a refusal is checked against the key, since a replay finds its order paid by then.
  const keyed = await claimOrReplay({
    hash,
    find,
    claim: async (): Promise<PaymentRow | undefined> => {
      try {
        return await deps.store.insertPayment({ id: newId('pay'), orderId: input.orderId, buyerId: buyer.userId, status: 'PENDING', step: 'CREATED', captureMethod, idempotencyKey, requestHash: hash });
      } catch (error) {
        if (!(error instanceof PaymentConflict)) throw error;
        // The key is taken (by this request earlier, or a concurrent duplicate): replayed from what holds it.
        if (error.kind === 'idempotency-key' || (await find())) return undefined;
        if (error.kind === 'no-such-order') throw notFound('No such order.');
        if (error.kind === 'order-not-payable') throw invalidState(`The order is ${(error.orderStatus ?? 'gone').toLowerCase()}; only a pending order can be paid.`);
        throw invalidState('This order already has a payment in progress or paid.');
      }
    },
  });
  if (keyed.replayed) return replayed(deps, keyed.existing);
  checkpoint(deps.faults, 'payment-created');
  return advance(deps, keyed.claimed);
}

/** How long a replay waits for the request that holds its key to finish the payment. */
export const IN_FLIGHT_WAIT_MS = 2_000;
/** The first look after 20 ms, then each wait twice the last (at most 8 looks in 2 s). */
const IN_FLIGHT_POLL_FIRST_MS = 20;

/** One wait per payment in this process: concurrent replays of one payment share its reads. */
const waits = new Map<string, Promise<PaymentRow>>();

/**
 * A replay's answer. A payment whose step could not run for want of a service resumes with its
 * key. One in flight elsewhere (a concurrent duplicate) is waited for, up to IN_FLIGHT_WAIT_MS,
 * with reads backing off and shared by every replay of it in this process (a burst of replays is
 * not a burst of reads), so every caller gets the first request's result, not a PENDING snapshot; one still
 * PENDING after that (interrupted by a crash, or a slow service) is returned as it is, and the
 * recovery pass or a later replay takes it on.
 */
async function replayed(deps: FlowDeps, previous: PaymentRow): Promise<PaymentRow> {
  let payment = previous;
  if (payment.status === 'PENDING' && payment.stalledAt === null) {
    let wait = waits.get(payment.id);
    if (!wait) {
      wait = untilSettled(deps, payment).finally(() => waits.delete(previous.id));
      waits.set(payment.id, wait);
    }
    payment = await wait;
  }
  return payment.status === 'PENDING' && payment.stalledAt !== null ? advance(deps, payment) : payment;
}

/** Reads the payment (backing off) until it leaves PENDING, is stalled, or IN_FLIGHT_WAIT_MS pass. */
async function untilSettled(deps: FlowDeps, previous: PaymentRow): Promise<PaymentRow> {
  let payment = previous;
  const until = Date.now() + IN_FLIGHT_WAIT_MS;
  for (let pause = IN_FLIGHT_POLL_FIRST_MS; payment.status === 'PENDING' && payment.stalledAt === null && Date.now() < until; pause *= 2) {
    await sleep(Math.min(pause, Math.max(0, until - Date.now())));
    try {
      payment = await reload(deps, payment.id);
    } catch {
      // The database went away while waiting: answer what was read (PENDING, as a replay answered
      // before it waited), not a failure that would come later than an outage's answer should.
      return payment;
    }
  }
  return payment;
}
