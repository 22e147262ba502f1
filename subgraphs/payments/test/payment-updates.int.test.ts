// Proves which payment updates need a transaction: a change that sets no status and moves no order
// (a saga step recorded on the way) is one statement on its own, still under its guard; a status
// change runs in a transaction with its event (and an order move with the order's event).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openServiceDatabase, type ServiceDatabase } from '@paygraph/db';
import { schema } from '../src/db/schema';
import { migrationsFolder } from '../src/server';
import { createPaymentsStore, type PaymentsStore } from '../src/store/payments-store';

let database: ServiceDatabase<typeof schema>;
let store: PaymentsStore;
let transactions = 0;

beforeAll(async () => {
  database = await openServiceDatabase({ service: 'payments', target: { kind: 'pglite', dataDir: 'memory://payment-updates' }, schema, migrationsFolder });
  store = createPaymentsStore({
    ...database,
    transaction: (work) => {
      transactions += 1;
      return database.transaction(work);
    },
  });
});

afterAll(async () => {
  await database?.close();
});

async function pendingPayment() {
  const order = await store.createOrder({ buyerId: 'usr_buyer', merchantId: 'usr_merchant', amount: 700n, currency: 'USD', description: null });
  return store.insertPayment({ id: `pay_${order.id}`, orderId: order.id, buyerId: order.buyerId, status: 'PENDING', step: 'CREATED', captureMethod: 'AUTOMATIC', idempotencyKey: order.id, requestHash: 'h' });
}

const eventsOf = async (paymentId: string) => (await database.query<{ type: string }>(`select type from payments.outbox_events where aggregate_id = $1 order by sequence`, [paymentId])).map((row) => row.type);

it('records a step without a status change in one statement, outside a transaction, under its guard', async () => {
  const payment = await pendingPayment();
  transactions = 0;
  const moved = await store.updatePayment(payment.id, { statuses: ['PENDING'], step: 'CREATED' }, { step: 'RISK_ASSESSED', riskDecision: 'APPROVE' });
  expect(transactions).toBe(0);
  expect(moved).toMatchObject({ step: 'RISK_ASSESSED', status: 'PENDING', riskDecision: 'APPROVE', version: payment.version });
  // The guard still holds: a step that moved on is not recorded again.
  expect(await store.updatePayment(payment.id, { statuses: ['PENDING'], step: 'CREATED' }, { step: 'RISK_ASSESSED' })).toBeNull();
  expect(await eventsOf(payment.id)).toEqual(['payment.created']);
});

it('records a status change in a transaction with its event, and the order move with the order’s', async () => {
  const payment = await pendingPayment();
  transactions = 0;
  const succeeded = await store.updatePayment(payment.id, { statuses: ['PENDING'], step: 'CREATED' }, { step: 'CAPTURED', status: 'SUCCEEDED', amountCaptured: 700n }, { to: 'PAID' });
  expect(transactions).toBe(1);
  expect(succeeded).toMatchObject({ status: 'SUCCEEDED', version: payment.version + 1 });
  expect(await eventsOf(payment.id)).toEqual(['payment.created', 'payment.succeeded']);
  expect((await store.ordersByIds([payment.orderId]))[0]?.status).toBe('PAID');
});

it('sends a known order’s move with the payment’s change, and rolls it back when the payment’s guard no longer holds', async () => {
  const payment = await pendingPayment();
  // The guard fails (the payment is not at this step): the order's move, sent with it, is undone.
  expect(await store.updatePayment(payment.id, { statuses: ['PENDING'], step: 'HOLD_PLACED' }, { step: 'CAPTURED', status: 'SUCCEEDED', amountCaptured: 700n }, { to: 'PAID', orderId: payment.orderId })).toBeNull();
  expect((await store.ordersByIds([payment.orderId]))[0]?.status).toBe('PENDING');
  expect(await eventsOf(payment.orderId)).toEqual(['order.created']);
  // The guard holds: both move, each with its event.
  const succeeded = await store.updatePayment(payment.id, { statuses: ['PENDING'], step: 'CREATED' }, { step: 'CAPTURED', status: 'SUCCEEDED', amountCaptured: 700n }, { to: 'PAID', orderId: payment.orderId });
  expect(succeeded).toMatchObject({ status: 'SUCCEEDED' });
  expect((await store.ordersByIds([payment.orderId]))[0]?.status).toBe('PAID');
  expect(await eventsOf(payment.orderId)).toEqual(['order.created', 'order.paid']);
});
