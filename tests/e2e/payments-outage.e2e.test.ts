// Proves payments stay resumable through an outage of the service a step needs, on a platform
// started in this process whose risk or ledger HTTP server is stopped and restarted: payOrder,
// capture, refund and cancel answer SERVICE_UNAVAILABLE, move no money without a risk decision,
// leave the payment at its step, and the same request retried after the outage (or the recovery
// pass) completes it exactly once.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_PASSWORD, errorCode, gql, loginAs, registerAndLogin, uniqueEmail, type TestUser } from '@paygraph/testing';
import { startTestPlatform, type Platform } from '@paygraph/platform';
import { createPaymentsService, createRecoveryHandle } from '../../subgraphs/payments/src/server';

/** The payments service's test controls, handed to it where it is created. */
const recoveryHandle = createRecoveryHandle();

const adminEmail = uniqueEmail('admin');
let platform: Platform;
let gatewayUrl: string;
let admin: TestUser;
let merchant: TestUser;
const key = () => `k-${randomBytes(6).toString('hex')}`;
const usd = (amount: string) => ({ amount, currency: 'USD' });

const PAY = `mutation($input: PayOrderInput!) { payOrder(input: $input) { id status amountCaptured { amount } order { status } } }`;
const CAPTURE = `mutation($id: ID!, $amount: MoneyInput) { capturePayment(id: $id, amount: $amount) { id status amountCaptured { amount } order { status } } }`;
const REFUND = `mutation($input: RefundPaymentInput!) { refundPayment(input: $input) { id status amount { amount } } }`;
const CANCEL = `mutation($id: ID!) { cancelOrder(id: $id) { id status } }`;
const ORDER = `query($id: ID!) { order(id: $id) { status payments { id status amountCaptured { amount } amountRefunded { amount } refunds { status } } } }`;
const WALLET = `{ wallet(currency: "USD") { balance { amount } available { amount } } }`;

beforeAll(async () => {
  // Recovery only when a test asks for it, so what a retry does is the retry's doing.
  platform = await startTestPlatform({
    env: { ADMIN_EMAIL: adminEmail, ADMIN_PASSWORD: TEST_PASSWORD, PAYMENT_RECOVERY_INTERVAL_MS: '3600000' },
    services: { payments: createPaymentsService({ recovery: recoveryHandle }) },
  });
  gatewayUrl = platform.gatewayUrl!;
  admin = await loginAs(gatewayUrl, adminEmail, TEST_PASSWORD);
  merchant = await registerAndLogin({ register: gatewayUrl, login: gatewayUrl }, 'MERCHANT');
});

afterAll(async () => {
  await platform?.stop();
});

async function buyerWithOrder(amount: string): Promise<{ buyer: TestUser; orderId: string }> {
  const buyer = await registerAndLogin({ register: gatewayUrl, login: gatewayUrl });
  await gql(gatewayUrl, `mutation($input: CreditWalletInput!) { creditWallet(input: $input) { id } }`, { input: { amount: usd('10000'), idempotencyKey: key() } }, buyer.accessToken);
  const created = await gql(gatewayUrl, `mutation($input: CreateOrderInput!) { createOrder(input: $input) { id } }`, { input: { merchantId: merchant.id, amount: usd(amount) } }, buyer.accessToken);
  return { buyer, orderId: created.data!.createOrder.id };
}

/** Runs `during` with the subgraph's HTTP server stopped, and always starts it again. */
async function withOutage<T>(service: 'risk' | 'ledger', during: () => Promise<T>): Promise<T> {
  const subgraph = platform.subgraphs.get(service)!;
  await subgraph.stop();
  try {
    return await during();
  } finally {
    await subgraph.restart();
  }
}

const orderView = async (orderId: string, buyer: TestUser) => (await gql(gatewayUrl, ORDER, { id: orderId }, buyer.accessToken)).data!.order;
const walletOf = async (user: TestUser) => (await gql(gatewayUrl, WALLET, {}, user.accessToken)).data!.wallet;

async function expectBooksAgree() {
  const checks = await gql(gatewayUrl, `{ verifyLedger { ok mismatches } reconcilePayments { ok mismatches } }`, {}, admin.accessToken);
  expect(checks.data).toEqual({ verifyLedger: { ok: true, mismatches: [] }, reconcilePayments: { ok: true, mismatches: [] } });
}

describe('payOrder during an outage', () => {
  it.each(['risk', 'ledger'] as const)('answers SERVICE_UNAVAILABLE while %s is down, moves no money, and completes with the same key after', async (service) => {
    const { buyer, orderId } = await buyerWithOrder('2500');
    const idempotencyKey = key();
    const pay = () => gql(gatewayUrl, PAY, { input: { orderId, idempotencyKey } }, buyer.accessToken);
    // The answer's time only, not the subgraph's stop and restart around it.
    let answeredInMs = Infinity;
    const during = await withOutage(service, async () => {
      const started = Date.now();
      const answer = await pay();
      answeredInMs = Date.now() - started;
      return answer;
    });
    expect(errorCode(during)).toBe('SERVICE_UNAVAILABLE');
    expect(during.data?.payOrder ?? null).toBeNull();
    expect(answeredInMs).toBeLessThan(5_000);

    // Resumable, not failed: the payment waits at its step and no funds are held.
    const waiting = await orderView(orderId, buyer);
    expect(waiting).toMatchObject({ status: 'PENDING', payments: [{ status: 'PENDING' }] });
    expect(await walletOf(buyer)).toEqual({ balance: { amount: '10000' }, available: { amount: '10000' } });

    const after = await pay();
    expect(after.errors).toBeUndefined();
    expect(after.data!.payOrder).toMatchObject({ id: waiting.payments[0].id, status: 'SUCCEEDED', amountCaptured: { amount: '2500' }, order: { status: 'PAID' } });
    expect((await pay()).data!.payOrder).toMatchObject({ id: waiting.payments[0].id, status: 'SUCCEEDED' });
    expect(await walletOf(buyer)).toEqual({ balance: { amount: '7500' }, available: { amount: '7500' } });
    await expectBooksAgree();
  });

  it('is completed by the recovery pass once risk is back', async () => {
    const { buyer, orderId } = await buyerWithOrder('1200');
    expect(errorCode(await withOutage('risk', () => gql(gatewayUrl, PAY, { input: { orderId, idempotencyKey: key() } }, buyer.accessToken)))).toBe('SERVICE_UNAVAILABLE');
    await recoveryHandle.run!(new Date(Date.now() + 1_000));
    expect(await orderView(orderId, buyer)).toMatchObject({ status: 'PAID', payments: [{ status: 'SUCCEEDED', amountCaptured: { amount: '1200' } }] });
    expect(await walletOf(buyer)).toEqual({ balance: { amount: '8800' }, available: { amount: '8800' } });
  });
});

describe('held payments during a ledger outage', () => {
  async function held(amount: string) {
    const { buyer, orderId } = await buyerWithOrder(amount);
    const paid = await gql(gatewayUrl, PAY, { input: { orderId, idempotencyKey: key(), captureMethod: 'MANUAL' } }, buyer.accessToken);
    expect(paid.data!.payOrder.status).toBe('AUTHORIZED');
    return { buyer, orderId, paymentId: paid.data!.payOrder.id as string };
  }

  it('keeps a capture claimed through the outage; a retry with another amount completes it and is told so', async () => {
    const { buyer, orderId, paymentId } = await held('3000');
    expect(errorCode(await withOutage('ledger', () => gql(gatewayUrl, CAPTURE, { id: paymentId, amount: usd('2000') }, merchant.accessToken)))).toBe('SERVICE_UNAVAILABLE');
    // The capture won the payment: a cancel now loses.
    expect(errorCode(await gql(gatewayUrl, CANCEL, { id: orderId }, buyer.accessToken))).toBe('INVALID_STATE');
    const retried = await gql(gatewayUrl, CAPTURE, { id: paymentId, amount: usd('100') }, merchant.accessToken);
    expect(retried.errors![0]).toMatchObject({ message: 'A capture of 2000 was already requested for this payment; it is succeeded.', extensions: { code: 'INVALID_STATE' } });
    // It drove the claimed capture to its end.
    const payment = (await gql(gatewayUrl, `query($id: ID!) { payment(id: $id) { status amountCaptured { amount } order { status } } }`, { id: paymentId }, merchant.accessToken)).data!.payment;
    expect(payment).toMatchObject({ status: 'SUCCEEDED', amountCaptured: { amount: '2000' }, order: { status: 'PAID' } });
    expect(await walletOf(buyer)).toEqual({ balance: { amount: '8000' }, available: { amount: '8000' } });
    await expectBooksAgree();
  });

  it('completes a refund and a cancel asked during the outage when asked again after it', async () => {
    const paid = await buyerWithOrder('3000');
    const payment = (await gql(gatewayUrl, PAY, { input: { orderId: paid.orderId, idempotencyKey: key() } }, paid.buyer.accessToken)).data!.payOrder;
    const refundKey = key();
    const refund = () => gql(gatewayUrl, REFUND, { input: { paymentId: payment.id, idempotencyKey: refundKey, amount: usd('700') } }, merchant.accessToken);
    const canceled = await held('1500');
    const cancel = () => gql(gatewayUrl, CANCEL, { id: canceled.orderId }, canceled.buyer.accessToken);

    const [refundDuring, cancelDuring] = await withOutage('ledger', async () => [await refund(), await cancel()]);
    expect(errorCode(refundDuring!)).toBe('SERVICE_UNAVAILABLE');
    expect(errorCode(cancelDuring!)).toBe('SERVICE_UNAVAILABLE');
    // The cancel decided (the order is canceled, a capture loses); the void completes later.
    expect(await orderView(canceled.orderId, canceled.buyer)).toMatchObject({ status: 'CANCELED', payments: [{ status: 'AUTHORIZED' }] });
    expect(errorCode(await gql(gatewayUrl, CAPTURE, { id: canceled.paymentId }, merchant.accessToken))).toBe('INVALID_STATE');

    expect((await refund()).data!.refundPayment).toMatchObject({ status: 'SUCCEEDED', amount: { amount: '700' } });
    expect((await cancel()).data!.cancelOrder.status).toBe('CANCELED');
    expect(await orderView(paid.orderId, paid.buyer)).toMatchObject({ status: 'PARTIALLY_REFUNDED', payments: [{ amountRefunded: { amount: '700' }, refunds: [{ status: 'SUCCEEDED' }] }] });
    expect(await orderView(canceled.orderId, canceled.buyer)).toMatchObject({ status: 'CANCELED', payments: [{ status: 'CANCELED' }] });
    expect(await walletOf(paid.buyer)).toEqual({ balance: { amount: '7700' }, available: { amount: '7700' } });
    expect(await walletOf(canceled.buyer)).toEqual({ balance: { amount: '10000' }, available: { amount: '10000' } });
    await expectBooksAgree();
  });
});
