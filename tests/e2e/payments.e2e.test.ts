// Proves the payment flows end to end through the gateway started by `npm start`: automatic,
// manual, review, decline, unfunded, cancel, partial capture, partial and multiple refunds,
// over-refund, idempotent replays, concurrent payOrder on one order, who may do what, bad input,
// and reconciliation against the ledger.
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { errorCode, gql, loginAs, registerAndLogin, type TestUser } from '@paygraph/testing';

const gatewayUrl = inject('gatewayUrl');
const urls = { register: gatewayUrl, login: gatewayUrl };
const key = () => `k-${randomBytes(6).toString('hex')}`;
const usd = (amount: string) => ({ amount, currency: 'USD' });

const PAYMENT_FIELDS = `id status failureCode captureMethod amount { amount currency } amountCaptured { amount } amountRefunded { amount }
  riskAssessment { decision reasons } order { id status buyer { id name } merchant { id name } } refunds { id amount { amount } status reason }`;
const CREATE_ORDER = `mutation CreateOrder($input: CreateOrderInput!) { createOrder(input: $input) { id status amount { amount currency } buyer { id } merchant { id name } } }`;
const PAY = `mutation Pay($input: PayOrderInput!) { payOrder(input: $input) { ${PAYMENT_FIELDS} } }`;
const CAPTURE = `mutation Capture($id: ID!, $amount: MoneyInput) { capturePayment(id: $id, amount: $amount) { ${PAYMENT_FIELDS} } }`;
const REFUND = `mutation Refund($input: RefundPaymentInput!) { refundPayment(input: $input) { id status amount { amount } reason payment { id amountRefunded { amount } order { status } } } }`;
const CANCEL = `mutation Cancel($id: ID!) { cancelOrder(id: $id) { id status payments { id status } } }`;
const PAYMENT = `query Payment($id: ID!) { payment(id: $id) { ${PAYMENT_FIELDS} } }`;
const WALLET = `query Wallet { wallet(currency: "USD") { balance { amount } available { amount } } }`;

let admin: TestUser;
let merchant: TestUser;

beforeAll(async () => {
  admin = await loginAs(gatewayUrl, inject('adminEmail'), inject('adminPassword'));
  merchant = await registerAndLogin(urls, 'MERCHANT', { name: 'Corner Shop' });
});

async function fundedBuyer(amount = '100000'): Promise<TestUser> {
  const buyer = await registerAndLogin(urls);
  if (amount !== '0') await gql(gatewayUrl, `mutation($input: CreditWalletInput!) { creditWallet(input: $input) { id } }`, { input: { amount: usd(amount), idempotencyKey: key() } }, buyer.accessToken);
  return buyer;
}

async function order(buyer: TestUser, amount: string, to: TestUser = merchant): Promise<string> {
  const created = await gql(gatewayUrl, CREATE_ORDER, { input: { merchantId: to.id, amount: usd(amount), description: 'Coffee beans' } }, buyer.accessToken);
  if (created.errors) throw new Error(JSON.stringify(created.errors));
  return created.data!.createOrder.id;
}

const pay = (buyer: TestUser, orderId: string, captureMethod = 'AUTOMATIC', idempotencyKey = key()) => gql(gatewayUrl, PAY, { input: { orderId, idempotencyKey, captureMethod } }, buyer.accessToken);
const balances = async (user: TestUser) => (await gql(gatewayUrl, WALLET, {}, user.accessToken)).data!.wallet as { balance: { amount: string }; available: { amount: string } } | null;

describe('payOrder', () => {
  it('pays automatically: risk approves, the buyer is charged, the merchant credited, the order paid', async () => {
    const buyer = await fundedBuyer('10000');
    const merchantBefore = BigInt((await balances(merchant))?.balance.amount ?? '0');
    const result = await pay(buyer, await order(buyer, '2500'));
    expect(result.errors).toBeUndefined();
    expect(result.data!.payOrder).toMatchObject({
      status: 'SUCCEEDED',
      failureCode: null,
      amount: usd('2500'),
      amountCaptured: { amount: '2500' },
      amountRefunded: { amount: '0' },
      riskAssessment: { decision: 'APPROVE', reasons: [] },
      order: { status: 'PAID', buyer: { id: buyer.id }, merchant: { id: merchant.id, name: 'Corner Shop' } },
    });
    expect(await balances(buyer)).toEqual({ balance: { amount: '7500' }, available: { amount: '7500' } });
    expect(BigInt((await balances(merchant))!.balance.amount) - merchantBefore).toBe(2500n);
  });

  it('authorizes with MANUAL capture: funds held, then the merchant captures part and the rest is released', async () => {
    const buyer = await fundedBuyer('10000');
    const authorized = (await pay(buyer, await order(buyer, '4000'), 'MANUAL')).data!.payOrder;
    expect(authorized).toMatchObject({ status: 'AUTHORIZED', captureMethod: 'MANUAL', order: { status: 'PENDING' } });
    expect(await balances(buyer)).toEqual({ balance: { amount: '10000' }, available: { amount: '6000' } });
    expect(errorCode(await gql(gatewayUrl, CAPTURE, { id: authorized.id }, buyer.accessToken))).toBe('FORBIDDEN');
    expect(errorCode(await gql(gatewayUrl, CAPTURE, { id: authorized.id, amount: usd('4001') }, merchant.accessToken))).toBe('BAD_USER_INPUT');
    const captured = await gql(gatewayUrl, CAPTURE, { id: authorized.id, amount: usd('3000') }, merchant.accessToken);
    expect(captured.data!.capturePayment).toMatchObject({ status: 'SUCCEEDED', amountCaptured: { amount: '3000' }, order: { status: 'PAID' } });
    expect(await balances(buyer)).toEqual({ balance: { amount: '7000' }, available: { amount: '7000' } });
    expect(errorCode(await gql(gatewayUrl, CAPTURE, { id: authorized.id }, merchant.accessToken))).toBe('INVALID_STATE');
  });

  it('holds a payment for review when risk asks for it, until an admin approves it with reviewPayment (a capture does not)', async () => {
    const buyer = await fundedBuyer('500000');
    const held = (await pay(buyer, await order(buyer, '100001'))).data!.payOrder;
    expect(held).toMatchObject({ status: 'REQUIRES_REVIEW', riskAssessment: { decision: 'REVIEW', reasons: ['NEW_ACCOUNT'] } });
    expect((await balances(buyer))!.available.amount).toBe(String(500000 - 100001));
    expect(errorCode(await gql(gatewayUrl, CAPTURE, { id: held.id }, merchant.accessToken))).toBe('INVALID_STATE');
    expect(errorCode(await gql(gatewayUrl, CAPTURE, { id: held.id }, admin.accessToken))).toBe('INVALID_STATE');
    const approved = await gql(gatewayUrl, `mutation($input: ReviewPaymentInput!) { reviewPayment(input: $input) { status amountCaptured { amount } } }`, { input: { paymentId: held.id, decision: 'APPROVE' } }, admin.accessToken);
    expect(approved.data!.reviewPayment).toMatchObject({ status: 'SUCCEEDED', amountCaptured: { amount: '100001' } });
  });

  it('records a declined attempt as a FAILED payment, not an error, and moves no money', async () => {
    const buyer = await fundedBuyer('9000000');
    const declined = await pay(buyer, await order(buyer, '5000001'));
    expect(declined.errors).toBeUndefined();
    expect(declined.data!.payOrder).toMatchObject({ status: 'FAILED', failureCode: 'RISK_DECLINED', riskAssessment: { decision: 'DECLINE' }, order: { status: 'PENDING' } });
    expect(await balances(buyer)).toEqual({ balance: { amount: '9000000' }, available: { amount: '9000000' } });
  });

  it('fails an unfunded attempt with INSUFFICIENT_FUNDS; the order can be paid later with a new key', async () => {
    const buyer = await fundedBuyer('100');
    const orderId = await order(buyer, '2500');
    const unfunded = await pay(buyer, orderId);
    expect(unfunded.data!.payOrder).toMatchObject({ status: 'FAILED', failureCode: 'INSUFFICIENT_FUNDS' });
    expect((await balances(buyer))!.balance.amount).toBe('100');
    await gql(gatewayUrl, `mutation($input: CreditWalletInput!) { creditWallet(input: $input) { id } }`, { input: { amount: usd('5000'), idempotencyKey: key() } }, buyer.accessToken);
    expect((await pay(buyer, orderId)).data!.payOrder.status).toBe('SUCCEEDED');
    const orderView = await gql(gatewayUrl, `query($id: ID!) { order(id: $id) { status payments { status failureCode } } }`, { id: orderId }, buyer.accessToken);
    expect(orderView.data!.order).toEqual({ status: 'PAID', payments: [{ status: 'FAILED', failureCode: 'INSUFFICIENT_FUNDS' }, { status: 'SUCCEEDED', failureCode: null }] });
  });

  it('replays a key with the same parameters and refuses it with different ones', async () => {
    const buyer = await fundedBuyer('10000');
    const orderId = await order(buyer, '1000');
    const idempotencyKey = key();
    const first = await pay(buyer, orderId, 'AUTOMATIC', idempotencyKey);
    const again = await pay(buyer, orderId, 'AUTOMATIC', idempotencyKey);
    expect(again.data!.payOrder.id).toBe(first.data!.payOrder.id);
    expect((await balances(buyer))!.balance.amount).toBe('9000');
    const reused = await pay(buyer, orderId, 'MANUAL', idempotencyKey);
    expect(reused.errors![0]!.extensions).toEqual({ code: 'IDEMPOTENCY_KEY_REUSED', field: 'input.idempotencyKey' });
  });

  it('charges once when payOrder runs 10 times at once on one order', async () => {
    const buyer = await fundedBuyer('10000');
    const orderId = await order(buyer, '700');
    const results = await Promise.all(Array.from({ length: 10 }, () => pay(buyer, orderId)));
    const succeeded = results.filter((result) => result.data?.payOrder?.status === 'SUCCEEDED');
    expect(succeeded).toHaveLength(1);
    for (const result of results.filter((r) => !succeeded.includes(r))) expect(errorCode(result)).toBe('INVALID_STATE');
    expect((await balances(buyer))!.balance.amount).toBe('9300');
  });

  it('answers 10 concurrent payOrder calls with one key with the one payment’s result, not a PENDING snapshot of it', async () => {
    const buyer = await fundedBuyer('10000');
    const orderId = await order(buyer, '600');
    const idempotencyKey = key();
    const results = await Promise.all(Array.from({ length: 10 }, () => pay(buyer, orderId, 'AUTOMATIC', idempotencyKey)));
    for (const result of results) expect(result.errors).toBeUndefined();
    expect(new Set(results.map((result) => result.data!.payOrder.id)).size).toBe(1);
    expect(results.map((result) => result.data!.payOrder.status)).toEqual(Array(10).fill('SUCCEEDED'));
    expect((await balances(buyer))!.balance.amount).toBe('9400');
  });

  it('refuses a paid order, someone else’s order, and bad input', async () => {
    const buyer = await fundedBuyer('10000');
    const stranger = await fundedBuyer('10000');
    const orderId = await order(buyer, '100');
    expect(errorCode(await pay(stranger, orderId))).toBe('NOT_FOUND');
    await pay(buyer, orderId);
    expect(errorCode(await pay(buyer, orderId))).toBe('INVALID_STATE');
    expect(errorCode(await pay(buyer, orderId, 'AUTOMATIC', ' spaced '))).toBe('BAD_USER_INPUT');
    const notMerchant = await gql(gatewayUrl, CREATE_ORDER, { input: { merchantId: stranger.id, amount: usd('100') } }, buyer.accessToken);
    expect(notMerchant.errors![0]!.extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'input.merchantId' });
    for (const amount of ['0', '1000000000000000']) {
      expect(errorCode(await gql(gatewayUrl, CREATE_ORDER, { input: { merchantId: merchant.id, amount: usd(amount) } }, buyer.accessToken))).toBe('BAD_USER_INPUT');
    }
    expect(errorCode(await gql(gatewayUrl, CREATE_ORDER, { input: { merchantId: merchant.id, amount: usd('1'), description: 'x'.repeat(501) } }, buyer.accessToken))).toBe('BAD_USER_INPUT');
    expect(errorCode(await gql(gatewayUrl, CREATE_ORDER, { input: { merchantId: merchant.id, amount: usd('1') } }))).toBe('UNAUTHENTICATED');
  });
});

describe('cancelOrder', () => {
  it('voids an authorized payment and releases the funds; canceling again is harmless; a paid order cannot be canceled', async () => {
    const buyer = await fundedBuyer('10000');
    const orderId = await order(buyer, '3000');
    const authorized = (await pay(buyer, orderId, 'MANUAL')).data!.payOrder;
    const canceled = await gql(gatewayUrl, CANCEL, { id: orderId }, buyer.accessToken);
    expect(canceled.data!.cancelOrder).toEqual({ id: orderId, status: 'CANCELED', payments: [{ id: authorized.id, status: 'CANCELED' }] });
    expect(await balances(buyer)).toEqual({ balance: { amount: '10000' }, available: { amount: '10000' } });
    expect((await gql(gatewayUrl, CANCEL, { id: orderId }, buyer.accessToken)).data!.cancelOrder.status).toBe('CANCELED');
    expect(errorCode(await gql(gatewayUrl, CAPTURE, { id: authorized.id }, merchant.accessToken))).toBe('INVALID_STATE');
    expect(errorCode(await pay(buyer, orderId))).toBe('INVALID_STATE');

    const paid = await order(buyer, '100');
    await pay(buyer, paid);
    expect(errorCode(await gql(gatewayUrl, CANCEL, { id: paid }, buyer.accessToken))).toBe('INVALID_STATE');
    expect(errorCode(await gql(gatewayUrl, CANCEL, { id: paid }, merchant.accessToken))).toBe('FORBIDDEN');
  });
});

describe('refundPayment', () => {
  it('refunds partially and then the rest; never more than captured minus refunded', async () => {
    const buyer = await fundedBuyer('10000');
    const payment = (await pay(buyer, await order(buyer, '2500'))).data!.payOrder;
    const refund = (input: Record<string, unknown>, token = merchant.accessToken) => gql(gatewayUrl, REFUND, { input: { paymentId: payment.id, idempotencyKey: key(), ...input } }, token);

    const first = await refund({ amount: usd('1000'), reason: 'damaged' });
    expect(first.data!.refundPayment).toMatchObject({ status: 'SUCCEEDED', amount: { amount: '1000' }, reason: 'damaged', payment: { amountRefunded: { amount: '1000' }, order: { status: 'PARTIALLY_REFUNDED' } } });
    const tooMuch = await refund({ amount: usd('1501') });
    expect(tooMuch.errors![0]).toMatchObject({ message: 'At most 1500 can still be refunded', extensions: { code: 'BAD_USER_INPUT', field: 'input.amount.amount' } });
    const rest = await refund({});
    expect(rest.data!.refundPayment).toMatchObject({ amount: { amount: '1500' }, payment: { amountRefunded: { amount: '2500' }, order: { status: 'REFUNDED' } } });
    expect(errorCode(await refund({ amount: usd('1') }))).toBe('BAD_USER_INPUT');
    expect((await balances(buyer))!.balance.amount).toBe('10000');
    const view = await gql(gatewayUrl, PAYMENT, { id: payment.id }, buyer.accessToken);
    expect(view.data!.payment.refunds.map((r: { amount: { amount: string } }) => r.amount.amount)).toEqual(['1000', '1500']);
  });

  it('replays a refund key, refuses it with other parameters, and refuses refunds of failed payments', async () => {
    const buyer = await fundedBuyer('10000');
    const payment = (await pay(buyer, await order(buyer, '2000'))).data!.payOrder;
    const idempotencyKey = key();
    const first = await gql(gatewayUrl, REFUND, { input: { paymentId: payment.id, idempotencyKey, amount: usd('500') } }, merchant.accessToken);
    const again = await gql(gatewayUrl, REFUND, { input: { paymentId: payment.id, idempotencyKey, amount: usd('500') } }, merchant.accessToken);
    expect(again.data!.refundPayment.id).toBe(first.data!.refundPayment.id);
    expect(again.data!.refundPayment.payment.amountRefunded.amount).toBe('500');
    expect(errorCode(await gql(gatewayUrl, REFUND, { input: { paymentId: payment.id, idempotencyKey, amount: usd('501') } }, merchant.accessToken))).toBe('IDEMPOTENCY_KEY_REUSED');

    const poor = await fundedBuyer('1');
    const failed = (await pay(poor, await order(poor, '2000'))).data!.payOrder;
    expect(failed.status).toBe('FAILED');
    expect(errorCode(await gql(gatewayUrl, REFUND, { input: { paymentId: failed.id, idempotencyKey: key() } }, merchant.accessToken))).toBe('INVALID_STATE');
  });

  it('gives 10 concurrent refunds with one key one refund and the same answer (on PostgreSQL the losers were internal errors)', async () => {
    const buyer = await fundedBuyer('10000');
    const payment = (await pay(buyer, await order(buyer, '1000'))).data!.payOrder;
    const idempotencyKey = key();
    const results = await Promise.all(Array.from({ length: 10 }, () => gql(gatewayUrl, REFUND, { input: { paymentId: payment.id, idempotencyKey, amount: usd('400') } }, merchant.accessToken)));
    for (const result of results) expect(result.errors).toBeUndefined();
    expect(new Set(results.map((result) => result.data!.refundPayment.id)).size).toBe(1);
    for (const result of results) expect(result.data!.refundPayment).toMatchObject({ status: 'SUCCEEDED', payment: { amountRefunded: { amount: '400' } } });
    const view = await gql(gatewayUrl, PAYMENT, { id: payment.id }, merchant.accessToken);
    expect(view.data!.payment).toMatchObject({ amountRefunded: { amount: '400' }, refunds: [{ id: results[0]!.data!.refundPayment.id }] });
  });

  it('is for the payment’s merchant or an admin', async () => {
    const buyer = await fundedBuyer('10000');
    const otherMerchant = await registerAndLogin(urls, 'MERCHANT');
    const payment = (await pay(buyer, await order(buyer, '100'))).data!.payOrder;
    expect(errorCode(await gql(gatewayUrl, REFUND, { input: { paymentId: payment.id, idempotencyKey: key() } }, buyer.accessToken))).toBe('FORBIDDEN');
    expect(errorCode(await gql(gatewayUrl, REFUND, { input: { paymentId: payment.id, idempotencyKey: key() } }, otherMerchant.accessToken))).toBe('NOT_FOUND');
    expect((await gql(gatewayUrl, REFUND, { input: { paymentId: payment.id, idempotencyKey: key(), amount: usd('40') } }, admin.accessToken)).data!.refundPayment.status).toBe('SUCCEEDED');
  });

  it('fails with INSUFFICIENT_FUNDS when the merchant has spent the money, changing nothing', async () => {
    const shop = await registerAndLogin(urls, 'MERCHANT');
    const buyer = await fundedBuyer('10000');
    const payment = (await pay(buyer, await order(buyer, '3000', shop))).data!.payOrder;
    await gql(gatewayUrl, `mutation($input: DebitWalletInput!) { debitWallet(input: $input) { id } }`, { input: { amount: usd('2900'), idempotencyKey: key() } }, shop.accessToken);
    const refusedKey = key();
    const refused = await gql(gatewayUrl, REFUND, { input: { paymentId: payment.id, idempotencyKey: refusedKey, amount: usd('500') } }, shop.accessToken);
    expect(errorCode(refused)).toBe('INSUFFICIENT_FUNDS');
    const view = await gql(gatewayUrl, PAYMENT, { id: payment.id }, shop.accessToken);
    expect(view.data!.payment).toMatchObject({ amountRefunded: { amount: '0' }, refunds: [], order: { status: 'PAID' } });
    expect((await gql(gatewayUrl, REFUND, { input: { paymentId: payment.id, idempotencyKey: key(), amount: usd('100') } }, shop.accessToken)).data!.refundPayment.status).toBe('SUCCEEDED');
    // The refusal left its key unused (README): once the merchant has the funds, the same request goes through.
    await gql(gatewayUrl, `mutation($input: CreditWalletInput!) { creditWallet(input: $input) { id } }`, { input: { amount: usd('500'), idempotencyKey: key() } }, shop.accessToken);
    const retried = await gql(gatewayUrl, REFUND, { input: { paymentId: payment.id, idempotencyKey: refusedKey, amount: usd('500') } }, shop.accessToken);
    expect(retried.errors).toBeUndefined();
    expect(retried.data!.refundPayment).toMatchObject({ status: 'SUCCEEDED', payment: { amountRefunded: { amount: '600' } } });
  });
});

describe('reads', () => {
  it('shows a payment to its buyer, its merchant and admins; to anyone else it does not exist', async () => {
    const buyer = await fundedBuyer('10000');
    const stranger = await fundedBuyer('0');
    const payment = (await pay(buyer, await order(buyer, '100'))).data!.payOrder;
    for (const viewer of [buyer, merchant, admin]) expect((await gql(gatewayUrl, PAYMENT, { id: payment.id }, viewer.accessToken)).data!.payment.id).toBe(payment.id);
    expect((await gql(gatewayUrl, PAYMENT, { id: payment.id }, stranger.accessToken)).data).toEqual({ payment: null });
    expect(errorCode(await gql(gatewayUrl, PAYMENT, { id: payment.id }))).toBe('UNAUTHENTICATED');
    const orderView = await gql(gatewayUrl, `query($id: ID!) { order(id: $id) { id } }`, { id: payment.order.id }, stranger.accessToken);
    expect(orderView.data).toEqual({ order: null });
  });

  it('lists a buyer’s own payments newest first, filtered by status, with cursors', async () => {
    const buyer = await fundedBuyer('10000');
    const ids: string[] = [];
    for (const amount of ['100', '200', '300']) ids.push((await pay(buyer, await order(buyer, amount))).data!.payOrder.id);
    await pay(buyer, await order(buyer, '999999'));
    const list = `query($first: Int, $after: String, $status: PaymentStatus) { payments(first: $first, after: $after, status: $status) { edges { node { id status } } pageInfo { hasNextPage endCursor } } }`;
    const first = (await gql(gatewayUrl, list, { first: 2, status: 'SUCCEEDED' }, buyer.accessToken)).data!.payments;
    expect(first.edges.map((edge: { node: { id: string } }) => edge.node.id)).toEqual([ids[2], ids[1]]);
    expect(first.pageInfo.hasNextPage).toBe(true);
    const second = (await gql(gatewayUrl, list, { first: 2, status: 'SUCCEEDED', after: first.pageInfo.endCursor }, buyer.accessToken)).data!.payments;
    expect(second.edges.map((edge: { node: { id: string } }) => edge.node.id)).toEqual([ids[0]]);
    const failed = (await gql(gatewayUrl, list, { status: 'FAILED' }, buyer.accessToken)).data!.payments;
    expect(failed.edges).toHaveLength(1);
  });
});

describe('reconcilePayments', () => {
  it('finds every payment’s captured minus refunded in the ledger (admin only)', async () => {
    const buyer = await fundedBuyer('10000');
    expect(errorCode(await gql(gatewayUrl, `{ reconcilePayments { ok } }`, {}, buyer.accessToken))).toBe('FORBIDDEN');
    const result = await gql(gatewayUrl, `{ reconcilePayments { ok checkedPayments mismatches } }`, {}, admin.accessToken);
    expect(result.data!.reconcilePayments.mismatches).toEqual([]);
    expect(result.data!.reconcilePayments.ok).toBe(true);
    expect(result.data!.reconcilePayments.checkedPayments).toBeGreaterThan(0);
    const verify = await gql(gatewayUrl, `{ verifyLedger { ok mismatches } }`, {}, admin.accessToken);
    expect(verify.data!.verifyLedger).toEqual({ ok: true, mismatches: [] });
  });
});
