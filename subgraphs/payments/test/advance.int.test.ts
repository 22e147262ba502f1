// Proves that `advance` runs the step table: for every outcome of every step's call in
// PAYMENT_STEPS, a payment at that step whose callee answers with that outcome is recorded at the
// outcome's target (step, status, failure code, order move) on a real database (embedded), and
// stops there when the next call cannot run; an outcome the table gains without a scenario here
// fails the test. The callees are a fake service client answering by operation, as the real ones
// answer or refuse (refusalError).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openServiceDatabase, type ServiceDatabase } from '@paygraph/db';
import { OUT_OF_RANGE_MESSAGE, serviceUnavailable } from '@paygraph/errors';
import { createLogger } from '@paygraph/logging';
import { refusalError, type ServiceClient } from '@paygraph/service-client';
import { ledgerKeys } from '@paygraph/server';
import { schema, type PaymentRow } from '../src/db/schema';
import type { FlowDeps } from '../src/deps';
import { PAYMENT_STEPS, stepRow, type CallingStep, type PaymentStep } from '../src/domain/payment-state';
import { advance } from '../src/saga/advance';
import { migrationsFolder } from '../src/server';
import { createServiceCaches } from '../src/services';
import { createPaymentsStore, type PaymentChanges, type PaymentsStore } from '../src/store/payments-store';

let database: ServiceDatabase<typeof schema>;
let store: PaymentsStore;

beforeAll(async () => {
  database = await openServiceDatabase({ service: 'payments', target: { kind: 'pglite', dataDir: 'memory://advance' }, schema, migrationsFolder });
  store = createPaymentsStore(database);
});

afterAll(async () => {
  await database?.close();
});

/** What a callee answers to one operation: data, a refusal with its code, or no answer at all. */
type Answer = { data: unknown } | { refuse: 'INSUFFICIENT_FUNDS' | 'INVALID_STATE' | 'BAD_USER_INPUT'; message?: string } | 'unavailable';

/** A service client answering each operation (by name) as told, and every other call as unavailable. */
function clientAnswering(answers: Record<string, Answer>): ServiceClient {
  return {
    async request<TData>(target: string, query: string) {
      const operation = /^\s*(?:query|mutation)\s+(\w+)/.exec(query)?.[1] ?? '';
      const answer = answers[operation] ?? 'unavailable';
      if (answer === 'unavailable') throw serviceUnavailable();
      if ('refuse' in answer) throw refusalError({ service: target, code: answer.refuse, message: answer.message ?? `${operation} refused`, field: null, details: {} });
      return answer.data as TData;
    },
  };
}

const HOLD_EXPIRY_MS = 60_000;
const amount = 1500n;
const accounts: Record<string, Answer> = { OpenWallet: { data: { openWallet: { id: 'acc_1' } } } };
const held = { data: { authorizeHold: { id: 'hld_1', expiresAt: new Date(Date.now() + HOLD_EXPIRY_MS).toISOString() } } };
const heldAndCaptured = { data: { authorizeHold: { id: 'hld_1', expiresAt: new Date(Date.now() + HOLD_EXPIRY_MS).toISOString(), capturedAmount: { amount: amount.toString() } } } };
const captured = { data: { captureHold: { id: 'hld_1', capturedAmount: { amount: amount.toString() } } } };
const capturedInLedger = (paymentId: string) => ({
  data: { ledgerTransactionsByKeys: [{ idempotencyKey: ledgerKeys.capture(paymentId), entries: [{ accountId: 'acc_1', direction: 'CREDIT', amount: { amount: amount.toString() } }] }] },
});
const noCapture = { data: { ledgerTransactionsByKeys: [] } };
/** The ledger's refusal of a movement whose totals it cannot record (a wallet's credits near bigint's maximum). */
const outOfRange: Answer = { refuse: 'BAD_USER_INPUT', message: OUT_OF_RANGE_MESSAGE };
const risk = (decision: string): Answer => ({ data: { assessRisk: { id: 'rsk_1', decision } } });

/** Each outcome of the table: where the payment starts (beyond its step) and how the callees answer. */
type Scenario = {
  start?: PaymentChanges;
  answers: (paymentId: string) => Record<string, Answer>;
  /** What advance answers, when not null or SERVICE_UNAVAILABLE. */
  answer?: string;
  /** PAYMENT_HOLD_EXPIRY_SECONDS in ms, when not HOLD_EXPIRY_MS (0: the payment's hold lifetime has passed). */
  holdExpiryMs?: number;
};
const scenarios: { [S in CallingStep]: Record<keyof (typeof PAYMENT_STEPS)[S]['next'], Scenario> } = {
  CREATED: {
    APPROVE: { answers: () => ({ AssessRisk: risk('APPROVE') }) },
    REVIEW: { answers: () => ({ AssessRisk: risk('REVIEW') }) },
    DECLINE: { answers: () => ({ AssessRisk: risk('DECLINE') }) },
    refused: { answers: () => ({ AssessRisk: { refuse: 'BAD_USER_INPUT' } }) },
    unavailable: { answers: () => ({}) },
  },
  RISK_ASSESSED: {
    'held-and-captured': { start: { riskDecision: 'APPROVE' }, answers: () => ({ ...accounts, AuthorizeAndCaptureHold: heldAndCaptured }) },
    'held-authorized': { start: { riskDecision: 'APPROVE' }, answers: () => ({ ...accounts, AuthorizeHold: held }) },
    'held-for-review': { start: { riskDecision: 'REVIEW' }, answers: () => ({ ...accounts, AuthorizeHold: held }) },
    INSUFFICIENT_FUNDS: { start: { riskDecision: 'APPROVE' }, answers: () => ({ ...accounts, AuthorizeAndCaptureHold: { refuse: 'INSUFFICIENT_FUNDS' } }) },
    AMOUNT_TOO_LARGE: { start: { riskDecision: 'APPROVE' }, answers: () => ({ ...accounts, AuthorizeAndCaptureHold: outOfRange }) },
    // Reached after the hold's lifetime (an outage that long): the ledger refuses to hold and capture.
    expired: { start: { riskDecision: 'APPROVE' }, holdExpiryMs: 0, answers: () => ({ ...accounts, AuthorizeAndCaptureHold: { refuse: 'INVALID_STATE', message: 'The hold would have expired before its capture.' } }) },
    unavailable: { start: { riskDecision: 'APPROVE' }, answers: () => ({}) },
  },
  HOLD_PLACED: {
    captured: { start: { riskDecision: 'APPROVE', holdId: 'hld_1' }, answers: () => ({ CaptureHold: captured }) },
    refused: { start: { riskDecision: 'APPROVE', holdId: 'hld_1' }, answers: () => ({ CaptureHold: { refuse: 'INVALID_STATE' }, LedgerMovements: noCapture }) },
    unavailable: { start: { riskDecision: 'APPROVE', holdId: 'hld_1' }, answers: () => ({}) },
  },
  CAPTURE_REQUESTED: {
    captured: { start: { status: 'AUTHORIZED', holdId: 'hld_1', captureRequestedAmount: amount }, answers: () => ({ CaptureHold: captured }) },
    refused: { start: { status: 'AUTHORIZED', holdId: 'hld_1', captureRequestedAmount: amount }, answers: () => ({ CaptureHold: { refuse: 'INVALID_STATE' }, LedgerMovements: noCapture }) },
    // The claim is given back (AUTHORIZED at HOLD_PLACED, no amount requested) and the caller told why.
    'too-large': { start: { status: 'AUTHORIZED', holdId: 'hld_1', captureRequestedAmount: amount }, answers: () => ({ CaptureHold: outOfRange }), answer: 'BAD_USER_INPUT' },
    unavailable: { start: { status: 'AUTHORIZED', holdId: 'hld_1', captureRequestedAmount: amount }, answers: () => ({}) },
  },
  CANCEL_REQUESTED: {
    voided: { start: { status: 'AUTHORIZED', holdId: 'hld_1' }, answers: () => ({ VoidHold: { data: { voidHold: { id: 'hld_1' } } } }) },
    'captured-in-ledger': { start: { status: 'AUTHORIZED', holdId: 'hld_1' }, answers: (paymentId) => ({ VoidHold: { refuse: 'INVALID_STATE' }, LedgerMovements: capturedInLedger(paymentId) }) },
    unavailable: { start: { status: 'AUTHORIZED', holdId: 'hld_1' }, answers: () => ({}) },
  },
};

/** A payment of a fresh order, moved straight to `step` with the facts it has there. */
async function paymentAt(step: PaymentStep, start: PaymentChanges, captureMethod: PaymentRow['captureMethod']): Promise<PaymentRow> {
  const order = await store.createOrder({ buyerId: 'usr_buyer', merchantId: 'usr_merchant', amount, currency: 'USD', description: null });
  const payment = await store.insertPayment({ id: `pay_${order.id}`, orderId: order.id, buyerId: order.buyerId, status: 'PENDING', step: 'CREATED', captureMethod, idempotencyKey: order.id, requestHash: 'h' });
  const moved = await store.updatePayment(payment.id, { statuses: ['PENDING'] }, { ...start, step });
  if (!moved) throw new Error('the test payment could not be moved to its step');
  return moved;
}

const callingSteps = (Object.keys(PAYMENT_STEPS) as PaymentStep[]).filter((step): step is CallingStep => stepRow(step).call !== null);

describe('advance runs PAYMENT_STEPS', () => {
  it('has a scenario here for every outcome of every step, and none the table lacks', () => {
    for (const step of callingSteps) expect(Object.keys(scenarios[step]).sort(), step).toEqual(Object.keys(stepRow(step).next).sort());
  });

  const cases = callingSteps.flatMap((step) => Object.keys(stepRow(step).next).map((outcome) => [step, outcome] as const));
  it.each(cases)('records %s -> %s at the outcome’s target', async (step, outcome) => {
    const scenario = (scenarios[step] as Record<string, Scenario>)[outcome]!;
    const target = stepRow(step).next[outcome]!;
    const payment = await paymentAt(step, scenario.start ?? {}, outcome === 'held-authorized' ? 'MANUAL' : 'AUTOMATIC');
    const deps: FlowDeps = {
      store,
      services: { client: clientAnswering(scenario.answers(payment.id)), caches: createServiceCaches() },
      settings: { holdExpiryMs: scenario.holdExpiryMs ?? HOLD_EXPIRY_MS, reviewExpiryMs: HOLD_EXPIRY_MS },
      logger: createLogger({ level: 'silent' }),
    };
    // The next step's call (if any) finds its service unavailable: advance stops at the target.
    const answered = await advance(deps, payment).then(
      () => null,
      (error: { extensions?: { code?: string } }) => error.extensions?.code ?? String(error),
    );
    const [after] = await store.paymentsByIds([payment.id]);
    const [order] = await store.ordersByIds([payment.orderId]);
    expect(after).toMatchObject({ step: target.step, status: target.status ?? payment.status, failureCode: target.failureCode ?? null });
    expect(order?.status).toBe(target.order ?? 'PENDING');
    const waitsThere = stepRow(target.step).call === null || !stepRow(target.step).runsWhile.includes(after!.status);
    expect(answered).toBe(scenario.answer ?? (waitsThere && !target.stalled ? null : 'SERVICE_UNAVAILABLE'));
    if (outcome === 'too-large') expect(after!.captureRequestedAmount).toBeNull();
    if (target.stalled) expect(after!.stalledAt !== null).toBe(payment.status === 'PENDING');
  });

  it('fails a manual payment whose hold lifetime passed before the ledger was reached, without asking it to hold', async () => {
    const payment = await paymentAt('RISK_ASSESSED', { riskDecision: 'APPROVE' }, 'MANUAL');
    // An AuthorizeHold would answer with a hold; the payment must not be AUTHORIZED on one that expired already.
    const deps: FlowDeps = {
      store,
      services: { client: clientAnswering({ ...accounts, AuthorizeHold: held }), caches: createServiceCaches() },
      settings: { holdExpiryMs: 0, reviewExpiryMs: HOLD_EXPIRY_MS },
      logger: createLogger({ level: 'silent' }),
    };
    expect(await advance(deps, payment)).toMatchObject({ status: 'FAILED', step: 'DONE', failureCode: 'AUTHORIZATION_EXPIRED', holdId: null });
  });
});
