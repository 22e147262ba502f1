/**
 * The payment flow over risk and the ledger (the steps are tabled in PAYMENT_STEPS). Each step is
 * idempotent and keyed by the payment id (risk: one assessment per payment; ledger: the keys of
 * `services.ledgerKeys`), and each step's outcome, or a capture's or cancel's claim, is recorded
 * before the next remote call, so `advance` can resume a payment interrupted anywhere: the request
 * that started it, a replay, or the recovery pass. A step whose service is unavailable leaves the
 * state where it was and answers SERVICE_UNAVAILABLE.
 */
import { newId } from '@paygraph/db';
import type { GraphQLError } from 'graphql';
import { ErrorCode, apiError, badUserInput, forbidden, idempotencyKeyReused, invalidState, notFound, serviceUnavailable, unauthenticated } from '@paygraph/errors';
import { hasScope, isAdmin, requireUser, type Viewer } from '@paygraph/identity';
import type { AuditRecorder } from '@paygraph/audit';
import type { Logger } from '@paygraph/logging';
import { assertMovableAmount, type Money } from '@paygraph/money';
import { KEYS_PER_LOOKUP_MAX } from '@paygraph/ledger/limits';
import { assertIdempotencyKey, requestHash } from '@paygraph/server';
import type { OrderRow, PaymentRow, RefundRow } from './db/schema';
import { CAPTURABLE, FAILURE_CODES, must, statusAfterHold } from './domain/payment-state';
import { checkpoint } from './faults';
import * as services from './services';
import { PaymentConflict, type PaymentsStore } from './store/payments-store';

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
}

/** The service scope that may decide reviews besides admins (a risk operations service). */
export const REVIEW_SCOPE = 'risk:review';
export const REVIEW_NOTE_LENGTH_MAX = 1_000;

export const DESCRIPTION_LENGTH_MAX = 500;

const codeOf = (error: unknown) => (error as { extensions?: { code?: unknown } }).extensions?.code;

/** Who may see an order or payment: its buyer, its merchant, admins and services. */
export function canSee(viewer: Viewer, row: { buyerId: string; merchantId: string }): boolean {
  if (viewer.kind === 'service' || isAdmin(viewer)) return true;
  return viewer.kind === 'user' && (viewer.userId === row.buyerId || viewer.userId === row.merchantId);
}

/** Merchant-side operations (capture, refund): the payment's merchant or an admin. */
function assertMerchantOrAdmin(viewer: Viewer, payment: PaymentRow | undefined): PaymentRow {
  const user = requireUser(viewer);
  if (!payment || !canSee(viewer, payment)) throw notFound('No such payment.');
  if (user.role !== 'ADMIN' && user.userId !== payment.merchantId) throw forbidden('Only the merchant of this payment or an admin may do this.');
  return payment;
}

async function reload(deps: FlowDeps, id: string): Promise<PaymentRow> {
  const [payment] = await deps.store.paymentsByIds([id]);
  return must(payment, `payment ${id} exists once it was read or written`);
}

/**
 * A call the step needs failed because a service could not answer: the step did not run (or its
 * keyed effect is found by the retry). The caller gets SERVICE_UNAVAILABLE; the state stays where
 * it was, so the same request retried, or the recovery pass, completes it.
 */
function unavailable(deps: FlowDeps, error: unknown, context: Record<string, unknown>): GraphQLError {
  deps.logger.warn({ err: error, ...context }, 'a service this step needs is unavailable; the step is resumable');
  return serviceUnavailable();
}

// ---------------------------------------------------------------- orders

export async function createOrder(deps: FlowDeps, viewer: Viewer, input: { merchantId: string; amount: Money; description?: string | null }): Promise<OrderRow> {
  const buyer = requireUser(viewer);
  const amount = assertMovableAmount(input.amount, 'input.amount');
  const description = input.description ?? null;
  if (description !== null && description.length > DESCRIPTION_LENGTH_MAX) throw badUserInput(`Description must be at most ${DESCRIPTION_LENGTH_MAX} characters`, 'input.description');
  if ((await services.userRole(deps.services, input.merchantId)) !== 'MERCHANT') throw badUserInput('merchantId must name a user with the MERCHANT role', 'input.merchantId');
  return deps.store.createOrder({ buyerId: buyer.userId, merchantId: input.merchantId, amount: amount.amount, currency: amount.currency, description });
}

async function orderOf(deps: FlowDeps, orderId: string): Promise<OrderRow> {
  const [order] = await deps.store.ordersByIds([orderId]);
  return must(order, `order ${orderId} exists once it was read`);
}

/**
 * Cancels a pending order. With a held payment, the cancel claims it under the payment's row lock
 * (step HOLD_PLACED -> CANCEL_REQUESTED, order PENDING -> CANCELED in one transaction): a capture
 * that claimed it first wins and the cancel answers INVALID_STATE; otherwise the hold is voided
 * next (resumed by recovery, or by this call repeated, if interrupted).
 */
export async function cancelOrder(deps: FlowDeps, viewer: Viewer, orderId: string): Promise<OrderRow> {
  const user = requireUser(viewer);
  const [order] = await deps.store.ordersByIds([orderId]);
  if (!order || !canSee(viewer, order)) throw notFound('No such order.');
  if (user.role !== 'ADMIN' && user.userId !== order.buyerId) throw forbidden('Only the buyer of this order or an admin may cancel it.');
  const payments = await deps.store.paymentsByOrderIds([orderId]);
  if (order.status === 'CANCELED') {
    // Repeating a cancel finishes a void that was interrupted.
    for (const payment of payments) if (payment.step === 'CANCEL_REQUESTED') await finishCancel(deps, payment);
    return order;
  }
  if (order.status !== 'PENDING') throw invalidState(`The order is ${order.status.toLowerCase()}; only a pending order can be canceled.`);
  const live = payments.find((payment) => ['PENDING', ...CAPTURABLE].includes(payment.status));
  if (live?.status === 'PENDING') throw invalidState('A payment of this order is being processed; try again in a moment.');
  if (live) {
    const claimed = await deps.store.updatePayment(live.id, { statuses: CAPTURABLE, step: 'HOLD_PLACED' }, { step: 'CANCEL_REQUESTED' }, { to: 'CANCELED', required: true });
    if (!claimed) {
      // Another actor claimed it first: a cancel (finish it, or it is finished) or a capture.
      const now = await reload(deps, live.id);
      if (now.step === 'CANCEL_REQUESTED') {
        await finishCancel(deps, now);
        return orderOf(deps, orderId);
      }
      if (now.status !== 'CANCELED') throw invalidState('The payment of this order was captured; the order is paid.');
      // Canceled meanwhile (by another cancel, or its hold expired): no longer live, so this
      // second look either finds the order canceled or cancels it without a payment.
      return cancelOrder(deps, viewer, orderId);
    }
    checkpoint('cancel-requested');
    await finishCancel(deps, claimed);
    return orderOf(deps, orderId);
  }
  const outcome = await deps.store.cancelOrderWithoutPayment(orderId);
  if (outcome.kind === 'has-live-payment') throw invalidState('A payment of this order is being processed; try again in a moment.');
  const after = await orderOf(deps, orderId);
  if (outcome.kind === 'not-pending' && after.status !== 'CANCELED') throw invalidState(`The order is ${after.status.toLowerCase()}; only a pending order can be canceled.`);
  return after;
}

/**
 * Voids the hold of a payment asked to cancel (order canceled, hold expired, or a capture the
 * ledger refused), then records it; safe to repeat. The order is not touched here: cancelOrder
 * already canceled it, and after an expiry the order stays payable.
 */
async function finishCancel(deps: FlowDeps, payment: PaymentRow): Promise<PaymentRow> {
  try {
    if (payment.holdId) await services.voidHold(deps.services, payment.holdId);
  } catch (error) {
    if (services.isUnavailable(error)) throw unavailable(deps, error, { paymentId: payment.id, step: 'CANCEL_REQUESTED' });
    // The ledger refuses to void only a captured hold: record what it captured.
    if (codeOf(error) === ErrorCode.INVALID_STATE) return settleCapturedElsewhere(deps, payment);
    throw error;
  }
  checkpoint('void-posted');
  const canceled = await deps.store.updatePayment(payment.id, { statuses: CAPTURABLE, step: 'CANCEL_REQUESTED' }, { status: 'CANCELED', step: 'DONE' });
  return canceled ?? reload(deps, payment.id);
}

/**
 * The ledger refused to release a hold because it is captured (a capture recorded by an older
 * version only in the ledger): record the capture the ledger has, as the ledger has it. Under the
 * claim protocol a hold claimed by a cancel is never captured, so the order is moved only from
 * PENDING (after an expiry); a canceled order with a captured hold is reported, never hidden.
 */
async function settleCapturedElsewhere(deps: FlowDeps, payment: PaymentRow): Promise<PaymentRow> {
  const captured = await services.capturedInLedger(deps.services, payment.id);
  if (captured === null) throw new Error(`Invariant broken: the ledger refused to void hold ${payment.holdId} of payment ${payment.id} but holds no capture for it`);
  const succeeded = await deps.store.updatePayment(payment.id, { statuses: CAPTURABLE }, { status: 'SUCCEEDED', step: 'CAPTURED', amountCaptured: captured }, { to: 'PAID' });
  const recorded = succeeded ?? (await reload(deps, payment.id));
  const order = await orderOf(deps, recorded.orderId);
  if (order.status === 'CANCELED') deps.logger.error({ paymentId: payment.id, orderId: order.id }, 'a captured payment on a canceled order: reconcile by hand');
  return recorded;
}

// ---------------------------------------------------------------- payOrder

export async function payOrder(deps: FlowDeps, viewer: Viewer, input: { orderId: string; idempotencyKey: string; captureMethod?: 'AUTOMATIC' | 'MANUAL' | null }): Promise<PaymentRow> {
  const buyer = requireUser(viewer);
  const idempotencyKey = assertIdempotencyKey(input.idempotencyKey);
  const captureMethod = input.captureMethod ?? 'AUTOMATIC';
  const hash = requestHash('payOrder', { orderId: input.orderId, captureMethod });
  const replay = async () => {
    const existing = await deps.store.paymentByKey(buyer.userId, idempotencyKey);
    if (!existing) return null;
    if (existing.requestHash !== hash) throw idempotencyKeyReused();
    return existing;
  };
  const previous = await replay();
  // A payment whose step could not run for want of a service resumes with its key; one that is
  // in flight elsewhere (or was interrupted by a crash) is returned as it is, and recovery takes it.
  if (previous) return previous.status === 'PENDING' && previous.stalledAt !== null ? advance(deps, previous) : previous;

  const order = await deps.store.orderById(input.orderId);
  if (!order || order.buyerId !== buyer.userId) throw notFound('No such order.');
  if (order.status !== 'PENDING') throw invalidState(`The order is ${order.status.toLowerCase()}; only a pending order can be paid.`);
  let payment: PaymentRow;
  try {
    payment = await deps.store.insertPayment({
      id: newId('pay'),
      orderId: order.id,
      buyerId: order.buyerId,
      merchantId: order.merchantId,
      amount: order.amount,
      currency: order.currency,
      status: 'PENDING',
      step: 'CREATED',
      captureMethod,
      idempotencyKey,
      requestHash: hash,
    });
  } catch (error) {
    if (error instanceof PaymentConflict && error.kind === 'idempotency-key') return must(await replay(), 'a payment exists under a key whose insert conflicted');
    if (error instanceof PaymentConflict && error.kind === 'order-not-payable') throw invalidState('The order is no longer pending; only a pending order can be paid.');
    if (error instanceof PaymentConflict) throw invalidState('This order already has a payment in progress or paid.');
    throw error;
  }
  checkpoint('payment-created');
  return advance(deps, payment);
}

/** Records that a PENDING payment's step could not run, then answers SERVICE_UNAVAILABLE. */
async function stall(deps: FlowDeps, payment: PaymentRow, error: unknown): Promise<never> {
  await deps.store.updatePayment(payment.id, { statuses: ['PENDING'], step: payment.step }, { stalledAt: new Date() });
  throw unavailable(deps, error, { paymentId: payment.id, step: payment.step });
}

/** Drives a payment through its remaining steps (PAYMENT_STEPS); returns it in a final or waiting state. */
export async function advance(deps: FlowDeps, start: PaymentRow): Promise<PaymentRow> {
  let payment = start;
  const moved = async (next: PaymentRow | null) => next ?? reload(deps, payment.id);
  for (let stepsTaken = 0; stepsTaken < ADVANCE_STEPS_MAX; stepsTaken += 1) {
    if (payment.step === 'CANCEL_REQUESTED') return finishCancel(deps, payment);
    if (payment.step === 'CAPTURE_REQUESTED') return finishCapture(deps, payment);
    if (payment.status !== 'PENDING') return payment;

    if (payment.step === 'CREATED') {
      let assessment: { id: string; decision: 'APPROVE' | 'REVIEW' | 'DECLINE' };
      try {
        assessment = await services.assessRisk(deps.services, { userId: payment.buyerId, merchantId: payment.merchantId, amount: payment.amount, currency: payment.currency, paymentId: payment.id });
      } catch (error) {
        // Fail closed: no decision from risk is never an approval. Unreachable: the payment waits
        // at this step (its key or recovery resumes it) until the hold it would place could no
        // longer last; a refusal, or a wait that long, fails it.
        const waitedTooLong = Date.now() >= payment.createdAt.getTime() + deps.settings.holdExpiryMs;
        if (services.isUnavailable(error) && !waitedTooLong) return stall(deps, payment, error);
        deps.logger.warn({ err: error, paymentId: payment.id }, 'risk could not decide: payment fails');
        payment = await moved(await deps.store.updatePayment(payment.id, { statuses: ['PENDING'], step: 'CREATED' }, { status: 'FAILED', step: 'DONE', failureCode: FAILURE_CODES.RISK_UNAVAILABLE, stalledAt: null }));
        continue;
      }
      checkpoint('risk-called');
      const declined = assessment.decision === 'DECLINE';
      payment = await moved(
        await deps.store.updatePayment(
          payment.id,
          { statuses: ['PENDING'], step: 'CREATED' },
          declined
            ? { status: 'FAILED', step: 'DONE', failureCode: FAILURE_CODES.RISK_DECLINED, riskAssessmentId: assessment.id, riskDecision: assessment.decision, stalledAt: null }
            : { step: 'RISK_ASSESSED', riskAssessmentId: assessment.id, riskDecision: assessment.decision, stalledAt: null },
        ),
      );
      checkpoint('risk-recorded');
      continue;
    }

    if (payment.step === 'RISK_ASSESSED') {
      let hold: { id: string; expiresAt: Date };
      let buyerAccountId: string;
      let merchantAccountId: string;
      try {
        [buyerAccountId, merchantAccountId] = await Promise.all([
          services.walletAccount(deps.services, payment.buyerId, payment.currency),
          services.walletAccount(deps.services, payment.merchantId, payment.currency),
        ]);
        hold = await services.authorizeHold(deps.services, {
          paymentId: payment.id,
          debitAccountId: buyerAccountId,
          creditAccountId: merchantAccountId,
          amount: payment.amount,
          currency: payment.currency,
          expiresAt: new Date(payment.createdAt.getTime() + deps.settings.holdExpiryMs),
        });
      } catch (error) {
        if (services.isUnavailable(error)) return stall(deps, payment, error);
        if (codeOf(error) !== ErrorCode.INSUFFICIENT_FUNDS) throw error;
        payment = await moved(await deps.store.updatePayment(payment.id, { statuses: ['PENDING'], step: 'RISK_ASSESSED' }, { status: 'FAILED', step: 'DONE', failureCode: FAILURE_CODES.INSUFFICIENT_FUNDS, stalledAt: null }));
        continue;
      }
      checkpoint('hold-placed');
      const next = statusAfterHold(must(payment.riskDecision, 'a payment past RISK_ASSESSED has a risk decision'), payment.captureMethod);
      const held = { step: 'HOLD_PLACED' as const, holdId: hold.id, holdExpiresAt: hold.expiresAt, buyerAccountId, merchantAccountId, stalledAt: null };
      payment = await moved(await deps.store.updatePayment(payment.id, { statuses: ['PENDING'], step: 'RISK_ASSESSED' }, next === 'CAPTURE' ? held : { ...held, status: next }));
      checkpoint('hold-recorded');
      continue;
    }

    if (payment.step === 'HOLD_PLACED') {
      let captured: bigint | null;
      try {
        captured = await postCapture(deps, payment, payment.amount);
      } catch (error) {
        if (services.isUnavailable(error)) return stall(deps, payment, error);
        throw error;
      }
      if (captured === null) throw new Error(`Payment ${payment.id}: the ledger refused its automatic capture and holds no capture for it (hold ${payment.holdId} released or expired)`);
      payment = await moved(
        await deps.store.updatePayment(payment.id, { statuses: ['PENDING'], step: 'HOLD_PLACED' }, { status: 'SUCCEEDED', step: 'CAPTURED', amountCaptured: captured, stalledAt: null }, { to: 'PAID' }),
      );
      continue;
    }
    throw new Error(`Payment ${payment.id} is PENDING at step ${payment.step}: no rule moves it`);
  }
  throw new Error(`Payment ${payment.id} did not settle within ${ADVANCE_STEPS_MAX} steps (at ${payment.step})`);
}

/** Steps `advance` takes at most in one call (the saga has four; more means a loop). */
const ADVANCE_STEPS_MAX = 8;

// ---------------------------------------------------------------- capture

/**
 * Asks the ledger to capture `amount` of the payment's hold under the payment's capture key and
 * returns what the ledger captured. A refusal (the hold is no longer pending, or the key was used
 * with another amount) is settled on the facts: what the ledger holds under the capture key, or
 * null when it holds no capture (the hold was released or expired). Unavailability is thrown.
 */
async function postCapture(deps: FlowDeps, payment: PaymentRow, amount: bigint): Promise<bigint | null> {
  const holdId = must(payment.holdId, `payment ${payment.id} at ${payment.step} has a hold`);
  let captured: bigint;
  try {
    captured = await services.captureHold(deps.services, { paymentId: payment.id, holdId, amount });
  } catch (error) {
    const code = codeOf(error);
    if (code !== ErrorCode.INVALID_STATE && code !== ErrorCode.IDEMPOTENCY_KEY_REUSED) throw error;
    return services.capturedInLedger(deps.services, payment.id);
  }
  checkpoint('capture-posted');
  return captured;
}

/**
 * Finishes a capture claimed with step CAPTURE_REQUESTED: posts the recorded amount (a replay
 * in the ledger when it was posted before) and records what the ledger captured, moving the order
 * to PAID. When the ledger holds no capture and refuses one (the hold expired), the payment is
 * canceled instead. Safe to repeat; recovery resumes it.
 */
async function finishCapture(deps: FlowDeps, payment: PaymentRow): Promise<PaymentRow> {
  const amount = must(payment.captureRequestedAmount, `payment ${payment.id} at CAPTURE_REQUESTED has the amount it requested`);
  let captured: bigint | null;
  try {
    captured = await postCapture(deps, payment, amount);
  } catch (error) {
    if (services.isUnavailable(error)) throw unavailable(deps, error, { paymentId: payment.id, step: 'CAPTURE_REQUESTED' });
    throw error;
  }
  if (captured === null) {
    const canceling = await deps.store.updatePayment(payment.id, { statuses: CAPTURABLE, step: 'CAPTURE_REQUESTED' }, { step: 'CANCEL_REQUESTED' });
    const now = canceling ?? (await reload(deps, payment.id));
    return now.step === 'CANCEL_REQUESTED' ? finishCancel(deps, now) : now;
  }
  const succeeded = await deps.store.updatePayment(payment.id, { statuses: CAPTURABLE, step: 'CAPTURE_REQUESTED' }, { status: 'SUCCEEDED', step: 'CAPTURED', amountCaptured: captured }, { to: 'PAID' });
  return succeeded ?? reload(deps, payment.id);
}

/** A capture's answer: the succeeded payment, or INVALID_STATE when the hold could not be captured. */
function capturedOrRefused(payment: PaymentRow): PaymentRow {
  if (payment.status === 'SUCCEEDED') return payment;
  throw invalidState(`The authorization could not be captured (it expired or was released); the payment is ${payment.status.toLowerCase()}.`);
}

/**
 * Captures all or part of a held payment. The capture claims the payment under its row lock
 * (step HOLD_PLACED -> CAPTURE_REQUESTED with the amount), so it and a cancel never both win; the
 * claimed amount is what gets posted, by this call, a retry or recovery. A retry while a capture
 * is claimed (whatever amount it asks) gets that capture's outcome.
 */
export async function capturePayment(deps: FlowDeps, viewer: Viewer, paymentId: string, requested: Money | null): Promise<PaymentRow> {
  const payment = assertMerchantOrAdmin(viewer, (await deps.store.paymentsByIds([paymentId]))[0]);
  if (payment.step === 'CAPTURE_REQUESTED') return capturedOrRefused(await finishCapture(deps, payment));
  // A payment under review is decided by reviewPayment (an admin or risk operations), never by
  // the merchant who receives the money.
  if (payment.status === 'REQUIRES_REVIEW') throw invalidState('The payment is under risk review; it is approved or rejected with reviewPayment, not captured.');
  if (payment.status !== 'AUTHORIZED' || payment.step !== 'HOLD_PLACED') {
    throw invalidState(`The payment is ${payment.status.toLowerCase()}; only an authorized payment can be captured.`);
  }
  let amount = payment.amount;
  if (requested) {
    const money = assertMovableAmount(requested, 'amount');
    if (money.currency !== payment.currency) throw badUserInput(`The payment is in ${payment.currency}`, 'amount.currency');
    if (money.amount > payment.amount) throw badUserInput(`At most the authorized ${payment.amount} can be captured`, 'amount.amount');
    amount = money.amount;
  }
  if (payment.holdExpiresAt && payment.holdExpiresAt.getTime() <= Date.now()) throw invalidState('The authorization has expired; the payment can no longer be captured.');
  const claimed = await deps.store.updatePayment(payment.id, { statuses: CAPTURABLE, step: 'HOLD_PLACED' }, { step: 'CAPTURE_REQUESTED', captureRequestedAmount: amount });
  if (!claimed) {
    const now = await reload(deps, payment.id);
    if (now.step === 'CAPTURE_REQUESTED') return capturedOrRefused(await finishCapture(deps, now));
    throw invalidState(`The payment is ${now.status.toLowerCase()}${now.step === 'CANCEL_REQUESTED' ? ' and being canceled' : ''}; it can no longer be captured.`);
  }
  checkpoint('capture-requested');
  return capturedOrRefused(await finishCapture(deps, claimed));
}

// ---------------------------------------------------------------- reviews

/**
 * Decides a payment held for review: an admin or a service with risk:review, never the payment's
 * merchant or buyer. The decision is recorded with who, when and the note under the payment's row
 * lock (step HOLD_PLACED, status REQUIRES_REVIEW), so it and a cancel, an expiry or another review
 * never both win. APPROVE continues the payment: AUTOMATIC is captured in full (claimed as a
 * capture, finished like one), MANUAL becomes AUTHORIZED for the merchant to capture. REJECT
 * cancels it and releases the hold; the order stays payable, as after an expired hold. Asking
 * again for the decision already taken returns the payment; the other decision is INVALID_STATE.
 */
export async function reviewPayment(
  deps: FlowDeps,
  viewer: Viewer,
  input: { paymentId: string; decision: 'APPROVE' | 'REJECT'; note?: string | null },
  request: { requestId?: string } = {},
): Promise<PaymentRow> {
  if (viewer.kind === 'anonymous') throw unauthenticated();
  const reviewer = viewer.kind === 'service' ? `service:${viewer.service}` : viewer.userId;
  if (!(isAdmin(viewer) || hasScope(viewer, REVIEW_SCOPE))) throw forbidden('Only an admin or risk operations may decide a review.');
  const note = input.note ?? null;
  if (note !== null && note.length > REVIEW_NOTE_LENGTH_MAX) throw badUserInput(`A note is at most ${REVIEW_NOTE_LENGTH_MAX} characters`, 'input.note');
  const [payment] = await deps.store.paymentsByIds([input.paymentId]);
  if (!payment) throw notFound('No such payment.');
  if (viewer.kind === 'user' && (viewer.userId === payment.merchantId || viewer.userId === payment.buyerId)) {
    throw forbidden('The merchant or buyer of a payment may not decide its review.');
  }
  if (payment.reviewDecision !== null) return repeatedReview(deps, payment, input.decision);
  if (payment.status !== 'REQUIRES_REVIEW' || payment.step !== 'HOLD_PLACED') {
    throw invalidState(`The payment is ${payment.status.toLowerCase()}; only a payment under review can be reviewed.`);
  }
  const review = { reviewDecision: input.decision, reviewNote: note, reviewedBy: reviewer, reviewedAt: new Date() } as const;
  const next =
    input.decision === 'REJECT'
      ? { step: 'CANCEL_REQUESTED' as const }
      : payment.captureMethod === 'MANUAL'
        ? { status: 'AUTHORIZED' as const }
        : { step: 'CAPTURE_REQUESTED' as const, captureRequestedAmount: payment.amount };
  const claimed = await deps.store.updatePayment(payment.id, { statuses: ['REQUIRES_REVIEW'], step: 'HOLD_PLACED' }, { ...review, ...next });
  if (!claimed) {
    const now = await reload(deps, payment.id);
    if (now.reviewDecision !== null) return repeatedReview(deps, now, input.decision);
    throw invalidState(`The payment is ${now.status.toLowerCase()}${now.step === 'CANCEL_REQUESTED' ? ' and being canceled' : ''}; it can no longer be reviewed.`);
  }
  await deps.audit?.record(
    { ...request, logger: deps.logger },
    { type: 'payment.review_decided', actorId: reviewer, subjectId: payment.id, outcome: 'SUCCESS', details: { decision: input.decision, captureMethod: payment.captureMethod } },
  );
  return finishReview(deps, claimed);
}

/** Carries a recorded decision to its end (a capture or a void still to post); safe to repeat. */
async function finishReview(deps: FlowDeps, payment: PaymentRow): Promise<PaymentRow> {
  if (payment.step === 'CAPTURE_REQUESTED') return finishCapture(deps, payment);
  if (payment.step === 'CANCEL_REQUESTED') return finishCancel(deps, payment);
  return payment;
}

async function repeatedReview(deps: FlowDeps, payment: PaymentRow, decision: 'APPROVE' | 'REJECT'): Promise<PaymentRow> {
  if (payment.reviewDecision !== decision) throw invalidState(`This payment's review was already decided: ${payment.reviewDecision}.`);
  return finishReview(deps, payment);
}

// ---------------------------------------------------------------- refunds

export async function refundPayment(
  deps: FlowDeps,
  viewer: Viewer,
  input: { paymentId: string; amount?: Money | null; reason?: string | null; idempotencyKey: string },
): Promise<RefundRow> {
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
  const opened = await deps.store.openRefund({ paymentId: payment.id, amount, reason, idempotencyKey, requestHash: requestHash('refundPayment', { amount, reason }) });
  switch (opened.kind) {
    case 'key-reused':
      throw idempotencyKeyReused();
    case 'not-refundable':
      throw invalidState(`The payment is ${opened.payment?.status.toLowerCase() ?? 'gone'}; only a succeeded payment can be refunded.`);
    case 'too-much':
      throw badUserInput(`At most ${opened.left} can still be refunded`, 'input.amount.amount');
    case 'replay':
      return opened.refund.status === 'PENDING' ? completeRefund(deps, opened.refund, payment) : opened.refund;
    case 'opened':
      checkpoint('refund-opened');
      return completeRefund(deps, opened.refund, opened.payment);
  }
}

/**
 * Moves a refund's money back in the ledger (keyed by the refund id: a repeat finds the first
 * transfer), then records it; safe to repeat. Unavailable: the refund stays PENDING and the same
 * key, or recovery, completes it.
 */
async function completeRefund(deps: FlowDeps, refund: RefundRow, payment: PaymentRow): Promise<RefundRow> {
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
    if (services.isUnavailable(error)) throw unavailable(deps, error, { refundId: refund.id });
    throw error;
  }
  checkpoint('refund-posted');
  const completed = await deps.store.completeRefund(refund.id);
  return completed ?? must((await deps.store.refundsByIds([refund.id]))[0], `refund ${refund.id} exists once completed`);
}

// ---------------------------------------------------------------- recovery

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
  walk.afterPosition = held.length < HELD_CHECKED_PER_PASS_MAX ? 0n : must(held.at(-1), 'a full page has a last row').position;
  if (held.length === 0) return 0;
  const captured = new Map<string, bigint>();
  for (const movement of await services.ledgerMovements(deps.services, held.map((payment) => services.ledgerKeys.capture(payment.id)))) {
    const credit = movement.entries.find((entry) => entry.direction === 'CREDIT');
    if (credit) captured.set(movement.idempotencyKey, BigInt(credit.amount.amount));
  }
  let settled = 0;
  for (const payment of held) {
    const amount = captured.get(services.ledgerKeys.capture(payment.id));
    if (amount === undefined) continue;
    const succeeded = await deps.store.updatePayment(payment.id, { statuses: CAPTURABLE, step: 'HOLD_PLACED' }, { status: 'SUCCEEDED', step: 'CAPTURED', amountCaptured: amount }, { to: 'PAID' });
    if (succeeded) settled += 1;
  }
  return settled;
}

/**
 * Drives every unfinished payment and refund untouched since `untouchedSince` to a final or
 * waiting state, and cancels held payments whose hold expired. Unfinished means: PENDING at any
 * step, a claimed capture or cancel (CAPTURE_REQUESTED, CANCEL_REQUESTED), a PENDING refund. Each
 * step's remote call is keyed, so what the ledger did before an interruption is found, not
 * repeated: a capture or refund it posted is replayed and recorded, a void repeated is harmless,
 * and a capture it refuses is settled on what it holds under the payment's capture key. Held
 * payments whose hold the ledger captured without a claim here are settled on the ledger's facts.
 * Returns what it touched.
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
      // A transfer the merchant can no longer fund settles the refund too: it was dropped.
      if (codeOf(error) === ErrorCode.INSUFFICIENT_FUNDS) touched.refunds += 1;
      else deps.logger.error({ err: error, refundId: refund.id }, 'recovery could not complete a refund');
    }
  }
  try {
    touched.capturesOnlyInLedger = await settleCapturesOnlyTheLedgerHas(deps, untouchedSince);
  } catch (error) {
    if (codeOf(error) !== ErrorCode.SERVICE_UNAVAILABLE && !services.isUnavailable(error)) deps.logger.error({ err: error }, 'recovery could not look for captures only the ledger recorded');
  }
  // Reviews nobody decided in time: canceled like an expired hold, the funds released.
  for (const payment of await deps.store.undecidedReviews(new Date(Date.now() - deps.settings.reviewExpiryMs), RECOVERY_BATCH_MAX)) {
    try {
      const requested = await deps.store.updatePayment(payment.id, { statuses: ['REQUIRES_REVIEW'], step: 'HOLD_PLACED' }, { step: 'CANCEL_REQUESTED' });
      if (requested) await finishCancel(deps, requested);
      touched.expired += 1;
    } catch (error) {
      deps.logger.error({ err: error, paymentId: payment.id }, 'could not cancel a payment whose review expired');
    }
  }
  for (const payment of await deps.store.expiredHolds(new Date(), RECOVERY_BATCH_MAX)) {
    try {
      const requested = await deps.store.updatePayment(payment.id, { statuses: CAPTURABLE, step: 'HOLD_PLACED' }, { step: 'CANCEL_REQUESTED' });
      if (requested) await finishCancel(deps, requested);
      touched.expired += 1;
    } catch (error) {
      deps.logger.error({ err: error, paymentId: payment.id }, 'could not cancel a payment whose hold expired');
    }
  }
  return touched;
}
