// Proves the README's edge promise on the payment path: a total the ledger cannot record (an
// account's credits or debits pushed near PostgreSQL's bigint of minor units) is a refusal that
// changes nothing, never an internal error or a payment stuck in flight. payOrder answers a FAILED
// payment with failureCode AMOUNT_TOO_LARGE; capturePayment and refundPayment answer BAD_USER_INPUT
// and leave the payment as it was (its capture claim given back, the refund dropped).
//
// The totals are pushed by an admin's balanced postings that debit and credit the same wallet by
// the largest movable amount (16 pairs a posting), so the balance does not move while both totals
// grow; about 580 postings per account.
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { errorCode, gql, loginAs, registerAndLogin, type TestUser } from '@paygraph/testing';

const gatewayUrl = inject('gatewayUrl');
const urls = { register: gatewayUrl, login: gatewayUrl };
const key = () => `k-${randomBytes(6).toString('hex')}`;
const CURRENCY = 'OMR';
const money = (amount: string | bigint) => ({ amount: String(amount), currency: CURRENCY });

const BIGINT_MAX = 9_223_372_036_854_775_807n;
const MOVABLE_MAX = 999_999_999_999_999n;
const PAIRS_PER_POSTING = 16;

const PAYMENT_FIELDS = 'id status failureCode amountCaptured { amount } amountRefunded { amount } refunds { id } order { id status }';
const PAY = `mutation Pay($input: PayOrderInput!) { payOrder(input: $input) { ${PAYMENT_FIELDS} } }`;
const CAPTURE = `mutation Capture($id: ID!) { capturePayment(id: $id) { ${PAYMENT_FIELDS} } }`;
const REFUND = `mutation Refund($input: RefundPaymentInput!) { refundPayment(input: $input) { id status } }`;
const PAYMENT = `query Payment($id: ID!) { payment(id: $id) { ${PAYMENT_FIELDS} } }`;
const WALLET = `query Wallet($currency: Currency!) { wallet(currency: $currency) { id balance { amount } available { amount } } }`;
const POST = `mutation Post($input: PostLedgerTransactionInput!) { postLedgerTransaction(input: $input) { id } }`;

let admin: TestUser;

beforeAll(async () => {
  admin = await loginAs(gatewayUrl, inject('adminEmail'), inject('adminPassword'));
});

async function wallet(user: TestUser): Promise<{ id: string; balance: string; available: string }> {
  const view = (await gql(gatewayUrl, WALLET, { currency: CURRENCY }, user.accessToken)).data!.wallet;
  return { id: view.id, balance: view.balance.amount, available: view.available.amount };
}

async function order(buyer: TestUser, merchant: TestUser, amount: string): Promise<string> {
  const created = await gql(gatewayUrl, `mutation($input: CreateOrderInput!) { createOrder(input: $input) { id } }`, { input: { merchantId: merchant.id, amount: money(amount) } }, buyer.accessToken);
  if (created.errors) throw new Error(JSON.stringify(created.errors));
  return created.data!.createOrder.id;
}

const pay = (buyer: TestUser, orderId: string, captureMethod: 'AUTOMATIC' | 'MANUAL', idempotencyKey = key()) => gql(gatewayUrl, PAY, { input: { orderId, idempotencyKey, captureMethod } }, buyer.accessToken);

/** Adds `total` to both the posted credits and the posted debits of an account, in balanced postings of at most 16 pairs. */
async function growTotals(accountId: string, total: bigint): Promise<void> {
  const amounts: bigint[] = [];
  for (let left = total; left > 0n; left -= MOVABLE_MAX < left ? MOVABLE_MAX : left) amounts.push(MOVABLE_MAX < left ? MOVABLE_MAX : left);
  const postings: bigint[][] = [];
  for (let index = 0; index < amounts.length; index += PAIRS_PER_POSTING) postings.push(amounts.slice(index, index + PAIRS_PER_POSTING));
  const post = async (pairs: bigint[]) => {
    const entries = pairs.flatMap((amount) => [
      { accountId, direction: 'DEBIT', amount: money(amount) },
      { accountId, direction: 'CREDIT', amount: money(amount) },
    ]);
    const posted = await gql(gatewayUrl, POST, { input: { idempotencyKey: key(), entries } }, admin.accessToken);
    if (posted.errors) throw new Error(JSON.stringify(posted.errors));
  };
  // A few at a time: they queue on the one account anyway.
  for (let index = 0; index < postings.length; index += 8) await Promise.all(postings.slice(index, index + 8).map(post));
}

describe('a total the ledger cannot record, on the payment path', () => {
  it("pushed on the merchant's credits: payOrder is FAILED with AMOUNT_TOO_LARGE, capturePayment is BAD_USER_INPUT and the payment stays authorized", async () => {
    const merchant = await registerAndLogin(urls, 'MERCHANT');
    const buyer = await registerAndLogin(urls);
    await gql(gatewayUrl, `mutation($input: CreditWalletInput!) { creditWallet(input: $input) { id } }`, { input: { amount: money('10000'), idempotencyKey: key() } }, buyer.accessToken);
    // Authorized before the merchant's totals grow; it is captured after.
    const authorized = (await pay(buyer, await order(buyer, merchant, '1000'), 'MANUAL')).data!.payOrder;
    expect(authorized.status).toBe('AUTHORIZED');
    const shop = await wallet(merchant);
    expect(shop.balance).toBe('0');
    // The merchant's credits and debits now both stand 500 below bigint's maximum.
    await growTotals(shop.id, BIGINT_MAX - 500n);
    const buyerBefore = await wallet(buyer);
    expect(buyerBefore).toMatchObject({ balance: '10000', available: '9000' });

    const paymentKey = key();
    const orderId = await order(buyer, merchant, '1000');
    const failed = await pay(buyer, orderId, 'AUTOMATIC', paymentKey);
    expect(failed.errors).toBeUndefined();
    expect(failed.data!.payOrder).toMatchObject({ status: 'FAILED', failureCode: 'AMOUNT_TOO_LARGE', amountCaptured: { amount: '0' }, order: { status: 'PENDING' } });
    expect((await pay(buyer, orderId, 'AUTOMATIC', paymentKey)).data!.payOrder).toMatchObject({ id: failed.data!.payOrder.id, status: 'FAILED', failureCode: 'AMOUNT_TOO_LARGE' });

    const refused = await gql(gatewayUrl, CAPTURE, { id: authorized.id }, merchant.accessToken);
    expect(refused.errors![0]).toMatchObject({ message: expect.stringMatching(/larger than the platform can record\. Nothing changed\./), extensions: { code: 'BAD_USER_INPUT', field: 'amount' } });
    // A retry gets the same answer: the claim was given back, nothing is left in flight.
    expect(errorCode(await gql(gatewayUrl, CAPTURE, { id: authorized.id }, merchant.accessToken))).toBe('BAD_USER_INPUT');
    expect((await gql(gatewayUrl, PAYMENT, { id: authorized.id }, merchant.accessToken)).data!.payment).toMatchObject({ status: 'AUTHORIZED', amountCaptured: { amount: '0' }, order: { status: 'PENDING' } });
    expect(await wallet(buyer)).toMatchObject({ balance: '10000', available: '9000' });
    expect((await wallet(merchant)).balance).toBe('0');

    // The authorization can still be canceled, and its hold is released.
    const canceled = await gql(gatewayUrl, `mutation($id: ID!) { cancelOrder(id: $id) { status payments { id status } } }`, { id: authorized.order.id }, buyer.accessToken);
    expect(canceled.data!.cancelOrder).toMatchObject({ status: 'CANCELED', payments: [{ id: authorized.id, status: 'CANCELED' }] });
    expect(await wallet(buyer)).toMatchObject({ balance: '10000', available: '10000' });
    const verified = await gql(gatewayUrl, `query { verifyLedger { ok } reconcilePayments { ok } }`, {}, admin.accessToken);
    expect(verified.data).toEqual({ verifyLedger: { ok: true }, reconcilePayments: { ok: true } });
  });

  it("pushed on the buyer's credits: refundPayment is BAD_USER_INPUT, the refund is dropped and its key unused", async () => {
    const merchant = await registerAndLogin(urls, 'MERCHANT');
    const buyer = await registerAndLogin(urls);
    await gql(gatewayUrl, `mutation($input: CreditWalletInput!) { creditWallet(input: $input) { id } }`, { input: { amount: money('10000'), idempotencyKey: key() } }, buyer.accessToken);
    const paid = (await pay(buyer, await order(buyer, merchant, '1000'), 'AUTOMATIC')).data!.payOrder;
    expect(paid.status).toBe('SUCCEEDED');
    // The buyer's credits (10,000 so far) now stand 500 below bigint's maximum: a refund of 1,000 cannot be recorded.
    await growTotals((await wallet(buyer)).id, BIGINT_MAX - 10_500n);

    const refundKey = key();
    const refused = await gql(gatewayUrl, REFUND, { input: { paymentId: paid.id, amount: money('1000'), idempotencyKey: refundKey } }, merchant.accessToken);
    expect(refused.errors![0]).toMatchObject({ message: expect.stringMatching(/larger than the platform can record/), extensions: { code: 'BAD_USER_INPUT', field: 'input.amount' } });
    expect((await gql(gatewayUrl, PAYMENT, { id: paid.id }, merchant.accessToken)).data!.payment).toMatchObject({ status: 'SUCCEEDED', amountRefunded: { amount: '0' }, refunds: [], order: { status: 'PAID' } });
    expect((await wallet(merchant)).balance).toBe('1000');
    expect((await wallet(buyer)).balance).toBe('9000');
    // A refund the buyer's total can still record goes through.
    const small = await gql(gatewayUrl, REFUND, { input: { paymentId: paid.id, amount: money('400'), idempotencyKey: key() } }, merchant.accessToken);
    expect(small.data!.refundPayment.status).toBe('SUCCEEDED');
    expect((await wallet(buyer)).balance).toBe('9400');
    const verified = await gql(gatewayUrl, `query { verifyLedger { ok } reconcilePayments { ok } }`, {}, admin.accessToken);
    expect(verified.data).toEqual({ verifyLedger: { ok: true }, reconcilePayments: { ok: true } });
  });
});
