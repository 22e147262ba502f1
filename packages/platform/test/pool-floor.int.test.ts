// Proves the smallest pool DATABASE_POOL_MAX accepts (3) carries the platform on PostgreSQL with
// both outbox relays busy at once: users' (sign-ups) and payments' (orders, payments) each hold a
// connection of the one shared pool for their lock while their statements take others. With 2
// connections the platform wedged for good (both relays idle in transaction, every request
// SERVICE_UNAVAILABLE), which is why the configuration refuses less than 3 (packages/config).
// Embedded PGlite has no pool: the file runs on the PostgreSQL pass only.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gql, registerAndLogin } from '@paygraph/testing';
import { startTestPlatform } from '../src/testing';
import type { Platform } from '../src/platform';

const usd = (amount: string) => ({ amount, currency: 'USD' });
const key = () => `k-${randomBytes(6).toString('hex')}`;

describe.skipIf(!process.env.DATABASE_URL)('the smallest pool DATABASE_POOL_MAX accepts', () => {
  let platform: Platform;

  beforeAll(async () => {
    platform = await startTestPlatform({ env: { DATABASE_POOL_MAX: '3' } });
  }, 120_000);

  afterAll(async () => {
    await platform?.stop();
  });

  it('signs up and pays concurrently with both relays working, nothing stuck', async () => {
    const gatewayUrl = platform.gatewayUrl!;
    const urls = { register: gatewayUrl, login: gatewayUrl };
    // Six buyer-merchant pairs at once: sign-ups (users events) and payments (payments events)
    // interleave, so both relays run their passes while requests hold the rest of the pool.
    const outcomes = await Promise.all(
      Array.from({ length: 6 }, async () => {
        const [merchant, buyer] = await Promise.all([registerAndLogin(urls, 'MERCHANT'), registerAndLogin(urls, 'BUYER')]);
        await gql(gatewayUrl, `mutation($input: CreditWalletInput!) { creditWallet(input: $input) { id } }`, { input: { amount: usd('10000'), idempotencyKey: key() } }, buyer.accessToken);
        const order = await gql(gatewayUrl, `mutation($input: CreateOrderInput!) { createOrder(input: $input) { id } }`, { input: { merchantId: merchant.id, amount: usd('2500') } }, buyer.accessToken);
        const paid = await gql(gatewayUrl, `mutation($input: PayOrderInput!) { payOrder(input: $input) { status } }`, { input: { orderId: order.data?.createOrder?.id, idempotencyKey: key() } }, buyer.accessToken);
        return paid.data?.payOrder?.status ?? JSON.stringify(paid.errors);
      }),
    );
    expect(outcomes).toEqual(Array(6).fill('SUCCEEDED'));
    // The relays kept up: a last sign-up's request still gets a connection at once.
    const late = await registerAndLogin(urls, 'BUYER');
    expect(late.accessToken).toEqual(expect.any(String));
  }, 60_000);
});
