// Proves one lock order, order before payment, between a payment change that moves its order and a
// new payment attempt on the same order (payOrder with another key): the attempt holds the order's
// lock and inserts into the one-live-payment-per-order index, which waits on the live payment's row.
// A change that locked the payment first and then waited for the order deadlocked with it, and
// PostgreSQL aborted one of the two (40P01). Concurrent transactions need a server: PostgreSQL only
// (DATABASE_URL); PGlite runs one transaction at a time.
import postgres from 'postgres';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openServiceDatabase, type ServiceDatabase } from '@paygraph/db';
import { createOwnDatabase, type OwnDatabase } from '@paygraph/db/testing';
import { schema } from '../src/db/schema';
import { migrationsFolder } from '../src/server';
import { insertPaymentFromOrderStatement } from '../src/store/columns';
import { createPaymentsStore, type PaymentsStore } from '../src/store/payments-store';

const url = process.env.DATABASE_URL;
// A database of its own: the succeeded payments written here have no ledger postings, and the e2e
// suites reconcile the payments schema of DATABASE_URL.
let own: OwnDatabase | undefined;
let database: ServiceDatabase<typeof schema>;
let store: PaymentsStore;
let other: postgres.Sql;

beforeAll(async () => {
  if (!url) return;
  own = await createOwnDatabase(url, 'lock_order');
  database = await openServiceDatabase({ service: 'payments', target: { kind: 'postgres', url: own.url, poolMax: 4 }, schema, migrationsFolder });
  store = createPaymentsStore(database);
  other = postgres(own.url, { max: 1, onnotice: () => {} });
});

afterAll(async () => {
  await other?.end();
  await database?.close();
  await own?.drop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A pending payment on a new order, then, while another transaction holds the order's lock, the
 * payment's change with its order's move; that transaction then inserts a second attempt on the
 * order. The attempt must be refused by the index at once (the change has not touched the payment
 * yet) and the change must then go through: no deadlock either way.
 */
async function raceAnAttempt(knownOrder: boolean) {
  const order = await store.createOrder({ buyerId: 'usr_lock_buyer', merchantId: 'usr_lock_merchant', amount: 900n, currency: 'USD', description: null });
  const payment = await store.insertPayment({ id: `pay_${order.id}_a`, orderId: order.id, buyerId: order.buyerId, status: 'PENDING', step: 'CREATED', captureMethod: 'AUTOMATIC', idempotencyKey: `${order.id}-a`, requestHash: 'h' });
  let change: Promise<unknown> | undefined;
  const attempt = other
    .begin(async (tx) => {
      await tx.unsafe(`select 1 from payments.orders where id = $1 for update`, [order.id]);
      change = store
        .updatePayment(payment.id, { statuses: ['PENDING'], step: 'CREATED' }, { step: 'CAPTURED', status: 'SUCCEEDED', amountCaptured: 900n }, { to: 'PAID', ...(knownOrder ? { orderId: order.id } : {}) })
        .then(
          (value) => ({ value }),
          (error: { code?: string }) => ({ error }),
        );
      await sleep(300); // the change reaches its first lock wait
      const second = insertPaymentFromOrderStatement(
        { id: `pay_${order.id}_b`, orderId: order.id, buyerId: order.buyerId, status: 'PENDING', step: 'CREATED', captureMethod: 'AUTOMATIC', idempotencyKey: `${order.id}-b`, requestHash: 'h' },
        ['PENDING'],
      );
      await tx.unsafe(second.text, second.parameters);
    })
    .then(
      () => ({ code: 'inserted' }),
      (error: { code?: string; constraint_name?: string }) => ({ code: error.code, constraint: error.constraint_name }),
    );
  // Refused by the one-live-payment index at once, not a deadlock victim.
  expect(await attempt).toEqual({ code: '23505', constraint: 'payments_one_live_per_order' });
  const changed = (await change) as { value?: { status: string } | null; error?: { code?: string } };
  expect(changed.error?.code).toBeUndefined();
  expect(changed.value).toMatchObject({ status: 'SUCCEEDED' });
  expect((await store.ordersByIds([order.id]))[0]?.status).toBe('PAID');
}

it.skipIf(!url)('a payment change that moves a known order takes the order’s lock before the payment’s', async () => {
  await raceAnAttempt(true);
});

it.skipIf(!url)('a payment change that moves its order by the payment’s order id takes the order’s lock before the payment’s', async () => {
  await raceAnAttempt(false);
});
