// Proves notifications end to end on the platform `npm start` runs (events from payments and
// users reach the notifications service through the process's event transport): a sign-up is
// welcomed, a payment notifies the buyer and the merchant in the app through the gateway, and the
// merchant's webhook endpoint on 127.0.0.1 receives the payment's events with a valid signature.
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, inject, it, vi } from 'vitest';
import { gql, registerAndLogin, type TestUser } from '@paygraph/testing';
import { SIGNATURE_HEADER, verifyWebhookSignature } from '../../subgraphs/notifications/src/webhooks/signature';

const gatewayUrl = inject('gatewayUrl');
const urls = { register: gatewayUrl, login: gatewayUrl };
const usd = (amount: string) => ({ amount, currency: 'USD' });
const key = () => `k-${randomBytes(6).toString('hex')}`;

const NOTIFICATIONS = `{ notifications(first: 50) { edges { node { id channel type title body status } } } }`;

async function notificationsOf(user: TestUser): Promise<{ channel: string; type: string; title: string; body: string; status: string }[]> {
  const result = await gql(gatewayUrl, NOTIFICATIONS, {}, user.accessToken);
  if (result.errors) throw new Error(JSON.stringify(result.errors));
  return result.data!.notifications.edges.map((edge: { node: unknown }) => edge.node);
}

async function payment(buyer: TestUser, merchant: TestUser, amount: string): Promise<string> {
  await gql(gatewayUrl, `mutation($input: CreditWalletInput!) { creditWallet(input: $input) { id } }`, { input: { amount: usd('10000'), idempotencyKey: key() } }, buyer.accessToken);
  const order = await gql(gatewayUrl, `mutation($input: CreateOrderInput!) { createOrder(input: $input) { id } }`, { input: { merchantId: merchant.id, amount: usd(amount) } }, buyer.accessToken);
  const paid = await gql(gatewayUrl, `mutation($input: PayOrderInput!) { payOrder(input: $input) { id status } }`, { input: { orderId: order.data!.createOrder.id, idempotencyKey: key() } }, buyer.accessToken);
  expect(paid.data!.payOrder.status).toBe('SUCCEEDED');
  return paid.data!.payOrder.id;
}

describe('notifications', () => {
  it('welcomes a sign-up and notifies both sides of a payment in the app', async () => {
    const merchant = await registerAndLogin(urls, 'MERCHANT', { name: 'E2E Shop' });
    const buyer = await registerAndLogin(urls, 'BUYER', { name: 'E2E Buyer' });
    await vi.waitFor(async () => expect((await notificationsOf(buyer)).map((entry) => entry.title)).toContain('Welcome to Paygraph, E2E Buyer'), { timeout: 20_000, interval: 100 });
    const paymentId = await payment(buyer, merchant, '3150');
    await vi.waitFor(
      async () => {
        const toBuyer = (await notificationsOf(buyer)).filter((entry) => entry.channel === 'IN_APP' && entry.body.includes(paymentId));
        expect(toBuyer).toEqual([expect.objectContaining({ type: 'payment.succeeded', title: 'Payment of 31.50 USD succeeded', status: 'SENT' })]);
        const toMerchant = (await notificationsOf(merchant)).filter((entry) => entry.channel === 'IN_APP' && entry.body.includes(paymentId));
        expect(toMerchant).toEqual([expect.objectContaining({ type: 'payment.succeeded', title: 'You received 31.50 USD', body: `The buyer "E2E Buyer" paid you 31.50 USD. Payment ${paymentId}.` })]);
      },
      { timeout: 20_000, interval: 100 },
    );
  });

  it('delivers a merchant\'s payment events to their webhook endpoint, signed with the secret shown at registration', async () => {
    const received: { body: string; valid: boolean }[] = [];
    let secret = '';
    const receiver = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        received.push({ body, valid: verifyWebhookSignature(secret, request.headers[SIGNATURE_HEADER.toLowerCase()] as string | undefined, body) });
        response.end('ok');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    try {
      const merchant = await registerAndLogin(urls, 'MERCHANT');
      const registered = await gql(gatewayUrl, `mutation($input: RegisterWebhookEndpointInput!) { registerWebhookEndpoint(input: $input) { id secret } }`, { input: { url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks` } }, merchant.accessToken);
      expect(registered.errors).toBeUndefined();
      secret = registered.data!.registerWebhookEndpoint.secret;
      const buyer = await registerAndLogin(urls);
      const paymentId = await payment(buyer, merchant, '1200');
      await vi.waitFor(
        () => {
          const types = received.map((request) => JSON.parse(request.body) as { type: string; data: { paymentId: string } }).filter((event) => event.data.paymentId === paymentId).map((event) => event.type);
          expect(types.sort()).toEqual(['payment.created', 'payment.succeeded']);
        },
        { timeout: 20_000, interval: 100 },
      );
      expect(received.every((request) => request.valid)).toBe(true);
    } finally {
      await new Promise<void>((resolve) => receiver.close(() => resolve()));
    }
  });
});
