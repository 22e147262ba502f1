/**
 * The payment flow over risk and the ledger. Each step is idempotent and keyed by the payment id
 * (risk: one assessment per payment; ledger: `payment:<id>:authorize` / `:capture` keys), and each
 * step's outcome is recorded before the next begins, so `advance` can resume a payment interrupted
 * anywhere: the request that started it, a replay, or the recovery pass.
 */
import { newId } from '@paygraph/db';
import { ErrorCode, apiError, badUserInput, forbidden, idempotencyKeyReused, invalidState, notFound } from '@paygraph/errors';
import { isAdmin, requireUser, type Viewer } from '@paygraph/identity';
import type { Logger } from '@paygraph/logging';
import { assertMovableAmount, type Money } from '@paygraph/money';
import { assertIdempotencyKey, requestHash } from '@paygraph/server';
import type { OrderRow, PaymentRow, RefundRow } from './db/schema';
import { CAPTURABLE, FAILURE_CODES, statusAfterHold } from './domain/payment-state';
import { checkpoint } from './faults';
import * as services from './services';
import { PaymentConflict, type PaymentsStore } from './store/payments-store';

export interface FlowSettings {
  /** How long an authorization holds the buyer's funds (like a card authorization). */
  holdExpiryMs: number;
}

export interface FlowDeps {
  store: PaymentsStore;
  services: services.Services;
  settings: FlowSettings;
  logger: Logger;
}

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
  return payment!;
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

export async function cancelOrder(deps: FlowDeps, viewer: Viewer, orderId: string): Promise<OrderRow> {
  const user = requireUser(viewer);
  const [order] = await deps.store.ordersByIds([orderId]);
  if (!order || !canSee(viewer, order)) throw notFound('No such order.');
  if (user.role !== 'ADMIN' && user.userId !== order.buyerId) throw forbidden('Only the buyer of this order or an admin may cancel it.');
  if (order.status === 'CANCELED') return order;
  if (order.status !== 'PENDING') throw invalidState(`The order is ${order.status.toLowerCase()}; only a pending order can be canceled.`);
  const live = (await deps.store.paymentsByOrderIds([orderId])).find((payment) => ['PENDING', ...CAPTURABLE].includes(payment.status));
  if (live?.status === 'PENDING') throw invalidState('A payment of this order is being processed; try again in a moment.');
  if (live) {
    // The order is canceled and the payment marked in one transaction; voiding the hold follows
    // (and is resumed by recovery if interrupted).
    const requested = await deps.store.updatePayment(live.id, { statuses: CAPTURABLE }, { step: 'CANCEL_REQUESTED' }, { from: ['PENDING'], to: 'CANCELED' });
    if (!requested) throw invalidState('The payment of this order changed meanwhile; look at it again.');
    const finished = await finishCancel(deps, requested);
    if (finished.status !== 'CANCELED') throw invalidState('The payment of this order was captured; the order is paid.');
  } else {
    await deps.store.updateOrder(orderId, ['PENDING'], 'CANCELED');
  }
  const [after] = await deps.store.ordersByIds([orderId]);
  return after!;
}

/**
 * Voids the hold of a payment asked to cancel (order canceled, or hold expired), then records it;
 * safe to repeat. The order is not touched here: cancelOrder already canceled it, and after an
 * expiry the order stays payable.
 */
async function finishCancel(deps: FlowDeps, payment: PaymentRow): Promise<PaymentRow> {
  try {
    if (payment.holdId) await services.voidHold(deps.services, payment.holdId);
  } catch (error) {
    if (codeOf(error) === ErrorCode.INVALID_STATE) return settleCapturedElsewhere(deps, payment);
    throw error;
  }
  const canceled = await deps.store.updatePayment(payment.id, { statuses: CAPTURABLE, step: 'CANCEL_REQUESTED' }, { status: 'CANCELED', step: 'DONE' });
  return canceled ?? reload(deps, payment.id);
}

/**
 * The ledger refused to release a hold because it was captured (a capture whose recording was
 * interrupted): record the capture the ledger has.
 */
async function settleCapturedElsewhere(deps: FlowDeps, payment: PaymentRow): Promise<PaymentRow> {
  const [movement] = await services.ledgerMovements(deps.services, [`payment:${payment.id}:capture`]);
  const captured = movement?.entries.find((entry) => entry.direction === 'CREDIT');
  if (!captured) {
    // Voided or expired in the ledger: the payment is canceled.
    const canceled = await deps.store.updatePayment(payment.id, { statuses: CAPTURABLE }, { status: 'CANCELED', step: 'DONE' });
    return canceled ?? reload(deps, payment.id);
  }
  const succeeded = await deps.store.updatePayment(
    payment.id,
    { statuses: [...CAPTURABLE, 'PENDING'] },
    { status: 'SUCCEEDED', step: 'CAPTURED', amountCaptured: BigInt(captured.amount.amount) },
    { from: ['PENDING', 'CANCELED'], to: 'PAID' },
  );
  return succeeded ?? reload(deps, payment.id);
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
  if (previous) return previous;

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
    if (error instanceof PaymentConflict && error.kind === 'idempotency-key') return (await replay())!;
    if (error instanceof PaymentConflict) throw invalidState('This order already has a payment in progress or paid.');
    throw error;
  }
  checkpoint('payment-created');
  return advance(deps, payment);
}

/** Drives a payment through its remaining steps; returns it in a final or waiting state. */
export async function advance(deps: FlowDeps, start: PaymentRow): Promise<PaymentRow> {
  let payment = start;
  const moved = async (next: PaymentRow | null) => next ?? reload(deps, payment.id);
  for (;;) {
    if (payment.step === 'CANCEL_REQUESTED') return finishCancel(deps, payment);
    if (payment.status !== 'PENDING') return payment;

    if (payment.step === 'CREATED') {
      let assessment: { id: string; decision: 'APPROVE' | 'REVIEW' | 'DECLINE' };
      try {
        assessment = await services.assessRisk(deps.services, { userId: payment.buyerId, merchantId: payment.merchantId, amount: payment.amount, currency: payment.currency, paymentId: payment.id });
      } catch (error) {
        // Fail closed: no decision from risk is never an approval.
        deps.logger.warn({ err: error, paymentId: payment.id }, 'risk could not decide: payment fails');
        payment = await moved(await deps.store.updatePayment(payment.id, { statuses: ['PENDING'], step: 'CREATED' }, { status: 'FAILED', step: 'DONE', failureCode: FAILURE_CODES.RISK_UNAVAILABLE }));
        continue;
      }
      checkpoint('risk-called');
      const declined = assessment.decision === 'DECLINE';
      payment = await moved(
        await deps.store.updatePayment(
          payment.id,
          { statuses: ['PENDING'], step: 'CREATED' },
          declined
            ? { status: 'FAILED', step: 'DONE', failureCode: FAILURE_CODES.RISK_DECLINED, riskAssessmentId: assessment.id, riskDecision: assessment.decision }
            : { step: 'RISK_ASSESSED', riskAssessmentId: assessment.id, riskDecision: assessment.decision },
        ),
      );
      checkpoint('risk-recorded');
      continue;
    }

    if (payment.step === 'RISK_ASSESSED') {
      const [buyerAccountId, merchantAccountId] = await Promise.all([
        services.walletAccount(deps.services, payment.buyerId, payment.currency),
        services.walletAccount(deps.services, payment.merchantId, payment.currency),
      ]);
      let hold: { id: string; expiresAt: Date };
      try {
        hold = await services.authorizeHold(deps.services, {
          paymentId: payment.id,
          debitAccountId: buyerAccountId,
          creditAccountId: merchantAccountId,
          amount: payment.amount,
          currency: payment.currency,
          expiresAt: new Date(payment.createdAt.getTime() + deps.settings.holdExpiryMs),
        });
      } catch (error) {
        if (codeOf(error) !== ErrorCode.INSUFFICIENT_FUNDS) throw error;
        payment = await moved(await deps.store.updatePayment(payment.id, { statuses: ['PENDING'], step: 'RISK_ASSESSED' }, { status: 'FAILED', step: 'DONE', failureCode: FAILURE_CODES.INSUFFICIENT_FUNDS }));
        continue;
      }
      checkpoint('hold-placed');
      const next = statusAfterHold(payment.riskDecision!, payment.captureMethod);
      const held = { step: 'HOLD_PLACED' as const, holdId: hold.id, holdExpiresAt: hold.expiresAt, buyerAccountId, merchantAccountId };
      payment = await moved(await deps.store.updatePayment(payment.id, { statuses: ['PENDING'], step: 'RISK_ASSESSED' }, next === 'CAPTURE' ? held : { ...held, status: next }));
      checkpoint('hold-recorded');
      continue;
    }

    if (payment.step === 'HOLD_PLACED') {
      await services.captureHold(deps.services, { paymentId: payment.id, holdId: payment.holdId!, amount: payment.amount });
      checkpoint('capture-posted');
      payment = await moved(
        await deps.store.updatePayment(payment.id, { statuses: ['PENDING'], step: 'HOLD_PLACED' }, { status: 'SUCCEEDED', step: 'CAPTURED', amountCaptured: payment.amount }, { from: ['PENDING'], to: 'PAID' }),
      );
      continue;
    }
    throw new Error(`Payment ${payment.id} is PENDING at step ${payment.step}: no rule moves it`);
  }
}

// ---------------------------------------------------------------- capture

export async function capturePayment(deps: FlowDeps, viewer: Viewer, paymentId: string, requested: Money | null): Promise<PaymentRow> {
  const payment = assertMerchantOrAdmin(viewer, (await deps.store.paymentsByIds([paymentId]))[0]);
  if (!CAPTURABLE.includes(payment.status) || payment.step === 'CANCEL_REQUESTED') {
    throw invalidState(`The payment is ${payment.status.toLowerCase()}; only an authorized payment or one under review can be captured.`);
  }
  let amount = payment.amount;
  if (requested) {
    const money = assertMovableAmount(requested, 'amount');
    if (money.currency !== payment.currency) throw badUserInput(`The payment is in ${payment.currency}`, 'amount.currency');
    if (money.amount > payment.amount) throw badUserInput(`At most the authorized ${payment.amount} can be captured`, 'amount.amount');
    amount = money.amount;
  }
  try {
    await services.captureHold(deps.services, { paymentId: payment.id, holdId: payment.holdId!, amount });
  } catch (error) {
    if (codeOf(error) === ErrorCode.IDEMPOTENCY_KEY_REUSED) throw invalidState('The payment was already captured.');
    throw error;
  }
  const succeeded = await deps.store.updatePayment(payment.id, { statuses: CAPTURABLE }, { status: 'SUCCEEDED', step: 'CAPTURED', amountCaptured: amount }, { from: ['PENDING'], to: 'PAID' });
  return succeeded ?? reload(deps, payment.id);
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
      return completeRefund(deps, opened.refund, opened.payment);
  }
}

/** Moves a refund's money back in the ledger, then records it; safe to repeat. */
async function completeRefund(deps: FlowDeps, refund: RefundRow, payment: PaymentRow): Promise<RefundRow> {
  try {
    await services.refundTransfer(deps.services, {
      refundId: refund.id,
      merchantAccountId: payment.merchantAccountId!,
      buyerAccountId: payment.buyerAccountId!,
      amount: refund.amount,
      currency: refund.currency,
    });
  } catch (error) {
    if (codeOf(error) === ErrorCode.INSUFFICIENT_FUNDS) {
      await deps.store.dropRefund(refund.id);
      throw apiError(ErrorCode.INSUFFICIENT_FUNDS, 'The merchant no longer has the funds to refund this amount.');
    }
    throw error;
  }
  const completed = await deps.store.completeRefund(refund.id);
  return completed ?? (await deps.store.refundsByIds([refund.id]))[0]!;
}

// ---------------------------------------------------------------- recovery

export const RECOVERY_BATCH_MAX = 100;

/**
 * Drives every unfinished payment and refund untouched since `untouchedSince` to a final or
 * waiting state, and cancels held payments whose hold expired. Returns what it touched.
 */
export async function recover(deps: FlowDeps, untouchedSince: Date): Promise<{ payments: number; refunds: number; expired: number }> {
  const touched = { payments: 0, refunds: 0, expired: 0 };
  for (const payment of await deps.store.unfinishedPayments(untouchedSince, RECOVERY_BATCH_MAX)) {
    try {
      await advance(deps, payment);
      touched.payments += 1;
    } catch (error) {
      deps.logger.error({ err: error, paymentId: payment.id }, 'recovery could not advance a payment');
    }
  }
  for (const refund of await deps.store.pendingRefunds(untouchedSince, RECOVERY_BATCH_MAX)) {
    try {
      const [payment] = await deps.store.paymentsByIds([refund.paymentId]);
      await completeRefund(deps, refund, payment!);
      touched.refunds += 1;
    } catch (error) {
      deps.logger.error({ err: error, refundId: refund.id }, 'recovery could not complete a refund');
    }
  }
  for (const payment of await deps.store.expiredHolds(new Date(), RECOVERY_BATCH_MAX)) {
    try {
      const requested = await deps.store.updatePayment(payment.id, { statuses: CAPTURABLE }, { step: 'CANCEL_REQUESTED' });
      if (requested) await finishCancel(deps, requested);
      touched.expired += 1;
    } catch (error) {
      deps.logger.error({ err: error, paymentId: payment.id }, 'could not cancel a payment whose hold expired');
    }
  }
  return touched;
}
