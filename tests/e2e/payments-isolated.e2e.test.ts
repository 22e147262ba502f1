// Proves, with the payments service on a PostgreSQL database of its own (so tampering here is seen
// by no other test): reconciliation reports a payment whose record disagrees with the ledger, and
// a hold that expires cancels its payment and releases the buyer's funds.
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createOwnDatabase, type OwnDatabase } from '@paygraph/db/testing';
import { TEST_PASSWORD, gql, loginAs, registerAndLogin, uniqueEmail, type TestUser } from '@paygraph/testing';
import { startTestPlatform, type Platform } from '@paygraph/platform';
import { createPaymentsService, createRecoveryHandle } from '../../subgraphs/payments/src/server';

/** The payments service's test controls, handed to it where it is created. */
const recoveryHandle = createRecoveryHandle();

const serverUrl = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
let database: OwnDatabase;
const adminEmail = uniqueEmail('admin');
// Long enough for an AUTOMATIC payment to reach the ledger before its hold lapses on a loaded machine.
const HOLD_EXPIRY_SECONDS = 4;
let platform: Platform;
let gatewayUrl: string;
let admin: TestUser;
let merchant: TestUser;
let paymentsDb: postgres.Sql;
const key = () => `k-${randomBytes(6).toString('hex')}`;
const usd = (amount: string) => ({ amount, currency: 'USD' });

beforeAll(async () => {
  database = await createOwnDatabase(serverUrl, 'payments');
  paymentsDb = postgres(database.url, { max: 1, onnotice: () => {} });
  platform = await startTestPlatform({
    services: { payments: createPaymentsService({ recovery: recoveryHandle }) },
    env: {
      PAYMENTS_DATABASE_URL: database.url,
      ADMIN_EMAIL: adminEmail,
      ADMIN_PASSWORD: TEST_PASSWORD,
      PAYMENT_HOLD_EXPIRY_SECONDS: String(HOLD_EXPIRY_SECONDS),
      PAYMENT_RECOVERY_INTERVAL_MS: '3600000',
    },
  });
  gatewayUrl = platform.gatewayUrl!;
  admin = await loginAs(gatewayUrl, adminEmail, TEST_PASSWORD);
  merchant = await registerAndLogin({ register: gatewayUrl, login: gatewayUrl }, 'MERCHANT');
});

afterAll(async () => {
  await platform?.stop();
  await paymentsDb?.end();
  await database?.drop();
});

async function payment(captureMethod: 'AUTOMATIC' | 'MANUAL') {
  const buyer = await registerAndLogin({ register: gatewayUrl, login: gatewayUrl });
  await gql(gatewayUrl, `mutation($input: CreditWalletInput!) { creditWallet(input: $input) { id } }`, { input: { amount: usd('10000'), idempotencyKey: key() } }, buyer.accessToken);
  const created = await gql(gatewayUrl, `mutation($input: CreateOrderInput!) { createOrder(input: $input) { id } }`, { input: { merchantId: merchant.id, amount: usd('3000') } }, buyer.accessToken);
  const paid = await gql(gatewayUrl, `mutation($input: PayOrderInput!) { payOrder(input: $input) { id status } }`, { input: { orderId: created.data!.createOrder.id, idempotencyKey: key(), captureMethod } }, buyer.accessToken);
  return { buyer, payment: paid.data!.payOrder as { id: string; status: string } };
}

const RECONCILE = `{ reconcilePayments { ok checkedPayments mismatches } }`;

it('reports a payment whose recorded capture disagrees with the ledger', async () => {
  const { payment: paid } = await payment('AUTOMATIC');
  expect((await gql(gatewayUrl, RECONCILE, {}, admin.accessToken)).data!.reconcilePayments).toMatchObject({ ok: true, mismatches: [] });
  await paymentsDb`update payments.payments set amount_captured = 2999 where id = ${paid.id}`;
  const result = (await gql(gatewayUrl, RECONCILE, {}, admin.accessToken)).data!.reconcilePayments;
  expect(result.ok).toBe(false);
  expect(result.mismatches).toEqual([`payment ${paid.id}: captured minus refunded is 2999, the ledger moved 3000`]);
  await paymentsDb`update payments.payments set amount_captured = 3000 where id = ${paid.id}`;
  expect((await gql(gatewayUrl, RECONCILE, {}, admin.accessToken)).data!.reconcilePayments.ok).toBe(true);
});

it('cancels a held payment whose hold expired and releases the funds; it can no longer be captured', async () => {
  const { buyer, payment: held } = await payment('MANUAL');
  expect(held.status).toBe('AUTHORIZED');
  const wallet = `{ wallet(currency: "USD") { balance { amount } available { amount } } }`;
  expect((await gql(gatewayUrl, wallet, {}, buyer.accessToken)).data!.wallet.available.amount).toBe('7000');
  await new Promise((resolve) => setTimeout(resolve, (HOLD_EXPIRY_SECONDS + 0.5) * 1000));
  const capture = await gql(gatewayUrl, `mutation($id: ID!) { capturePayment(id: $id) { status } }`, { id: held.id }, merchant.accessToken);
  expect(capture.errors?.[0]?.extensions?.code).toBe('INVALID_STATE');
  await recoveryHandle.run!();
  const after = await gql(gatewayUrl, `query($id: ID!) { payment(id: $id) { status order { status } } }`, { id: held.id }, buyer.accessToken);
  expect(after.data!.payment).toEqual({ status: 'CANCELED', order: { status: 'PENDING' } });
  expect((await gql(gatewayUrl, wallet, {}, buyer.accessToken)).data!.wallet).toEqual({ balance: { amount: '10000' }, available: { amount: '10000' } });
  expect((await gql(gatewayUrl, RECONCILE, {}, admin.accessToken)).data!.reconcilePayments.ok).toBe(true);
});
