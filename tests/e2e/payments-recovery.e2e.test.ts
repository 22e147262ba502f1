// Proves, on a platform started in this process, what needs a hand on its parts: the payment flow
// stopped after each step in turn (a test-only crash) and resumed by recovery gives exactly one
// ledger effect with the ledger balanced and reconciled; every state change left its outbox event
// in order; and listing 50 payments with their orders and buyers costs as many queries as 5.
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { queryCounts } from '@paygraph/db';
import { TEST_PASSWORD, errorCode, gql, loginAs, registerAndLogin, startTestPlatform, uniqueEmail, type Platform, type TestUser } from '@paygraph/testing';
import { FLOW_CHECKPOINTS, faultInjection } from '../../subgraphs/payments/src/faults';
import { recoveryHandle } from '../../subgraphs/payments/src/server';
import { createPaymentsStore } from '../../subgraphs/payments/src/store/payments-store';
import { schema as paymentsSchema } from '../../subgraphs/payments/src/db/schema';
import { openServiceDatabase, resolveDatabaseTarget } from '@paygraph/db';

const adminEmail = uniqueEmail('admin');
let platform: Platform;
let gatewayUrl: string;
let admin: TestUser;
let merchant: TestUser;
const key = () => `k-${randomBytes(6).toString('hex')}`;
const usd = (amount: string) => ({ amount, currency: 'USD' });

beforeAll(async () => {
  // Timers that issue queries of their own (recovery, outbox relay) stay quiet, so query counts measure requests only.
  platform = await startTestPlatform({ env: { ADMIN_EMAIL: adminEmail, ADMIN_PASSWORD: TEST_PASSWORD, PAYMENT_RECOVERY_INTERVAL_MS: '3600000', EVENT_RELAY_INTERVAL_MS: '60000' } });
  gatewayUrl = platform.gatewayUrl!;
  admin = await loginAs(gatewayUrl, adminEmail, TEST_PASSWORD);
  merchant = await registerAndLogin({ register: gatewayUrl, login: gatewayUrl }, 'MERCHANT');
});

afterEach(() => {
  faultInjection.crashAfter = null;
});

afterAll(async () => {
  await platform?.stop();
});

async function buyerWith(amount: string): Promise<TestUser> {
  const buyer = await registerAndLogin({ register: gatewayUrl, login: gatewayUrl });
  await gql(gatewayUrl, `mutation($input: CreditWalletInput!) { creditWallet(input: $input) { id } }`, { input: { amount: usd(amount), idempotencyKey: key() } }, buyer.accessToken);
  return buyer;
}

async function orderOf(buyer: TestUser, amount: string): Promise<string> {
  const created = await gql(gatewayUrl, `mutation($input: CreateOrderInput!) { createOrder(input: $input) { id } }`, { input: { merchantId: merchant.id, amount: usd(amount) } }, buyer.accessToken);
  return created.data!.createOrder.id;
}

const PAY = `mutation($input: PayOrderInput!) { payOrder(input: $input) { id status } }`;

describe('fault injection and recovery', () => {
  it.each(FLOW_CHECKPOINTS)('resumes a payment stopped after %s to exactly one charge', async (checkpoint) => {
    const buyer = await buyerWith('10000');
    const orderId = await orderOf(buyer, '1234');
    const idempotencyKey = key();
    faultInjection.crashAfter = checkpoint;
    const crashed = await gql(gatewayUrl, PAY, { input: { orderId, idempotencyKey } }, buyer.accessToken);
    expect(errorCode(crashed)).toBe('INTERNAL_SERVER_ERROR');
    faultInjection.crashAfter = null;

    // Before recovery a replay with the same key sees the interrupted payment, and charges nothing more.
    const interrupted = await gql(gatewayUrl, PAY, { input: { orderId, idempotencyKey } }, buyer.accessToken);
    expect(interrupted.data!.payOrder.status).toBe('PENDING');

    await recoveryHandle.run!(new Date(Date.now() + 1_000));
    const payment = await gql(gatewayUrl, `query($id: ID!) { payment(id: $id) { status amountCaptured { amount } order { status } } }`, { id: interrupted.data!.payOrder.id }, buyer.accessToken);
    expect(payment.data!.payment).toEqual({ status: 'SUCCEEDED', amountCaptured: { amount: '1234' }, order: { status: 'PAID' } });
    const wallet = await gql(gatewayUrl, `{ wallet(currency: "USD") { balance { amount } available { amount } } }`, {}, buyer.accessToken);
    expect(wallet.data!.wallet).toEqual({ balance: { amount: String(10000 - 1234) }, available: { amount: String(10000 - 1234) } });

    // A second pass changes nothing; the ledger balances and agrees with payments.
    await recoveryHandle.run!(new Date(Date.now() + 1_000));
    expect((await gql(gatewayUrl, `{ wallet(currency: "USD") { balance { amount } } }`, {}, buyer.accessToken)).data!.wallet.balance.amount).toBe(String(10000 - 1234));
    const checks = await gql(gatewayUrl, `{ verifyLedger { ok mismatches } reconcilePayments { ok mismatches } }`, {}, admin.accessToken);
    expect(checks.data).toEqual({ verifyLedger: { ok: true, mismatches: [] }, reconcilePayments: { ok: true, mismatches: [] } });
  });
});

describe('outbox', () => {
  it('writes an event for every state change, in the same transaction, with per-aggregate versions', async () => {
    const database = await openServiceDatabase({
      service: 'payments',
      target: resolveDatabaseTarget('payments', process.env, 'memory://'),
      schema: paymentsSchema,
      migrationsFolder: new URL('../../subgraphs/payments/drizzle', import.meta.url).pathname,
    });
    try {
      const store = createPaymentsStore(database);
      const buyer = await buyerWith('10000');
      const orderId = await orderOf(buyer, '2000');
      const paid = await gql(gatewayUrl, PAY, { input: { orderId, idempotencyKey: key(), captureMethod: 'MANUAL' } }, buyer.accessToken);
      const paymentId = paid.data!.payOrder.id;
      await gql(gatewayUrl, `mutation($id: ID!) { capturePayment(id: $id) { id } }`, { id: paymentId }, merchant.accessToken);
      await gql(gatewayUrl, `mutation($input: RefundPaymentInput!) { refundPayment(input: $input) { id } }`, { input: { paymentId, idempotencyKey: key(), amount: usd('500') } }, merchant.accessToken);

      const paymentEvents = await store.eventsOf(paymentId);
      expect(paymentEvents.map((event) => [event.type, event.aggregateVersion])).toEqual([
        ['payment.created', 1],
        ['payment.authorized', 2],
        ['payment.succeeded', 3],
        ['payment.refunded', 4],
      ]);
      expect(paymentEvents[2]!.payload).toMatchObject({ status: 'SUCCEEDED', previousStatus: 'AUTHORIZED', amountCaptured: '2000' });
      const orderEvents = await store.eventsOf(orderId);
      expect(orderEvents.map((event) => event.type)).toEqual(['order.created', 'order.paid', 'order.partially_refunded']);
      const sequences = [...paymentEvents, ...orderEvents].map((event) => event.sequence).sort((a, b) => (a < b ? -1 : 1));
      expect(new Set(sequences).size).toBe(sequences.length);
    } finally {
      await database.close();
    }
  });
});

describe('query count', () => {
  it('lists 50 payments with their orders and buyers in as many queries per subgraph as 5', async () => {
    const buyer = await buyerWith('1000000');
    for (let index = 0; index < 50; index += 1) await gql(gatewayUrl, PAY, { input: { orderId: await orderOf(buyer, '10'), idempotencyKey: key() } }, buyer.accessToken);
    const list = `query($first: Int) { payments(first: $first) { edges { node { id amount { amount } order { id status buyer { id name } merchant { name } } riskAssessment { decision } } } } }`;
    const measure = async (first: number) => {
      const before = new Map(queryCounts);
      const result = await gql(gatewayUrl, list, { first }, buyer.accessToken);
      expect(result.errors).toBeUndefined();
      expect(result.data!.payments.edges).toHaveLength(first);
      expect(result.data!.payments.edges[0].node.order.buyer.name).toBe('Test BUYER');
      return Object.fromEntries(['payments', 'users', 'risk'].map((service) => [service, (queryCounts.get(service) ?? 0) - (before.get(service) ?? 0)]));
    };
    await measure(5); // warm caches that are not per request (signing keys, prepared statements)
    const five = await measure(5);
    const fifty = await measure(50);
    expect(fifty).toEqual(five);
    expect(fifty.payments).toBeLessThanOrEqual(2);
    // The gateway fetches buyers and merchants from users in one or two entity requests, each one query.
    expect(fifty.users).toBeLessThanOrEqual(2);
    expect(fifty.risk).toBeLessThanOrEqual(1);
  });
});
