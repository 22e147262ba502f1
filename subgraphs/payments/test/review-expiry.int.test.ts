// Proves that reviewPayment never decides a review past its expiry or its hold's, even before the
// expiry pass came (it runs every PAYMENT_RECOVERY_INTERVAL_MS, 30 s by default): the payment is
// expired at once (canceled, the hold released) and the decision refused with INVALID_STATE. Before,
// an admin's APPROVE in that window captured the money (the API says undecided reviews expire to
// CANCELED), and one after the hold's expiry answered CANCELED with APPROVE recorded. On a real
// database (embedded); the ledger is a fake client answering as the real one does.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openServiceDatabase, type ServiceDatabase } from '@paygraph/db';
import { serviceUnavailable } from '@paygraph/errors';
import type { Viewer } from '@paygraph/identity';
import { createLogger } from '@paygraph/logging';
import type { ServiceClient } from '@paygraph/service-client';
import { reviewPayment } from '../src/commands/review-payment';
import { schema, type PaymentRow } from '../src/db/schema';
import type { FlowDeps } from '../src/deps';
import { migrationsFolder } from '../src/server';
import { createServiceCaches } from '../src/services';
import { createPaymentsStore, type PaymentsStore } from '../src/store/payments-store';

let database: ServiceDatabase<typeof schema>;
let store: PaymentsStore;

beforeAll(async () => {
  database = await openServiceDatabase({ service: 'payments', target: { kind: 'pglite', dataDir: 'memory://review-expiry' }, schema, migrationsFolder });
  store = createPaymentsStore(database);
});

afterAll(async () => {
  await database?.close();
});

const REVIEW_EXPIRY_MS = 60_000;
const admin: Viewer = { kind: 'user', userId: 'usr_admin', role: 'ADMIN' } as Viewer;

/** The ledger's calls this test makes, counted: a void releases the hold, a capture posts it. */
function ledger() {
  const calls: string[] = [];
  const client: ServiceClient = {
    async request<TData>(_target: string, query: string) {
      const operation = /^\s*(?:query|mutation)\s+(\w+)/.exec(query)?.[1] ?? '';
      calls.push(operation);
      if (operation === 'VoidHold') return { voidHold: { id: 'hld_1' } } as TData;
      if (operation === 'CaptureHold') return { captureHold: { id: 'hld_1', capturedAmount: { amount: '1500' } } } as TData;
      throw serviceUnavailable();
    },
  };
  return { calls, client };
}

/** A payment held for review since `enteredAgoMs`, its hold expiring `holdLeftMs` from now. */
async function underReview(enteredAgoMs: number, holdLeftMs: number): Promise<PaymentRow> {
  const order = await store.createOrder({ buyerId: 'usr_buyer', merchantId: 'usr_merchant', amount: 1500n, currency: 'USD', description: null });
  const payment = await store.insertPayment({ id: `pay_${order.id}`, orderId: order.id, buyerId: order.buyerId, status: 'PENDING', step: 'CREATED', captureMethod: 'AUTOMATIC', idempotencyKey: order.id, requestHash: 'h' });
  await store.updatePayment(payment.id, { statuses: ['PENDING'] }, { step: 'HOLD_PLACED', status: 'REQUIRES_REVIEW', riskDecision: 'REVIEW', holdId: 'hld_1', holdExpiresAt: new Date(Date.now() + holdLeftMs) });
  await database.query(`update payments.payments set updated_at = now() - ($2::text || ' milliseconds')::interval where id = $1`, [payment.id, String(enteredAgoMs)]);
  return (await store.paymentsByIds([payment.id]))[0]!;
}

function depsWith(client: ServiceClient): FlowDeps {
  return { store, services: { client, caches: createServiceCaches() }, settings: { holdExpiryMs: 10 * REVIEW_EXPIRY_MS, reviewExpiryMs: REVIEW_EXPIRY_MS }, logger: createLogger({ level: 'silent' }) };
}

const refusal = (promise: Promise<unknown>) => promise.then(() => null, (error: { message: string; extensions?: { code?: string } }) => ({ code: error.extensions?.code, message: error.message }));

describe('reviewPayment past an expiry', () => {
  it('refuses an APPROVE after the review expired, cancels the payment and releases its hold, captures nothing', async () => {
    const payment = await underReview(REVIEW_EXPIRY_MS + 1_000, 60_000);
    const { calls, client } = ledger();
    expect(await refusal(reviewPayment(depsWith(client), admin, { paymentId: payment.id, decision: 'APPROVE' }))).toEqual({
      code: 'INVALID_STATE',
      message: 'The review expired before it was decided; the payment is canceled and its hold released.',
    });
    expect(calls).toEqual(['VoidHold']);
    const [after] = await store.paymentsByIds([payment.id]);
    expect(after).toMatchObject({ status: 'CANCELED', reviewDecision: null, amountCaptured: 0n });
  });

  it('refuses an APPROVE after the hold expired (the review itself still in time) the same way', async () => {
    const payment = await underReview(1_000, -1_000);
    const { calls, client } = ledger();
    expect((await refusal(reviewPayment(depsWith(client), admin, { paymentId: payment.id, decision: 'APPROVE' })))?.code).toBe('INVALID_STATE');
    expect(calls).toEqual(['VoidHold']);
    expect((await store.paymentsByIds([payment.id]))[0]).toMatchObject({ status: 'CANCELED', reviewDecision: null });
  });

  it('decides a review in time as before: APPROVE captures an automatic payment', async () => {
    const payment = await underReview(1_000, 60_000);
    const { calls, client } = ledger();
    const approved = await reviewPayment(depsWith(client), admin, { paymentId: payment.id, decision: 'APPROVE' });
    expect(approved).toMatchObject({ status: 'SUCCEEDED', reviewDecision: 'APPROVE', amountCaptured: 1500n });
    expect(calls).toEqual(['CaptureHold']);
  });
});
