// Proves paymentStatusChanged end to end through the gateway started by `npm start`, with the
// graphql-ws client a dashboard uses: events within a second, in order, with any federated
// selection; who may subscribe to what; resume with `after` after a disconnect, with no gap and
// no duplicate; a subscription sent over HTTP is a clear 400.
import { randomBytes } from 'node:crypto';
import { afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import WebSocket from 'ws';
import { gql, loginAs, registerAndLogin, type TestUser } from '@paygraph/testing';
import { firstWhere, liveSubscriptionsAt, subscribe, wsClient, wsUrl, type Received, type TestSubscription } from '../support/subscriptions';
import { forgedToken } from '../support/tokens';

const gatewayUrl = inject('gatewayUrl');
const urls = { register: gatewayUrl, login: gatewayUrl };
const key = () => `k-${randomBytes(6).toString('hex')}`;
const usd = (amount: string) => ({ amount, currency: 'USD' });

const STATUS_CHANGED = `subscription Changes($paymentId: ID, $after: String) {
  paymentStatusChanged(paymentId: $paymentId, after: $after) {
    sequence status previousStatus occurredAt
    payment { id status riskAssessment { decision } order { id buyer { name } merchant { id } } }
  }
}`;

let admin: TestUser;
let merchant: TestUser;
const open: { dispose(): Promise<void> }[] = [];

beforeAll(async () => {
  admin = await loginAs(gatewayUrl, inject('adminEmail'), inject('adminPassword'));
  merchant = await registerAndLogin(urls, 'MERCHANT', { name: 'Subscribed Shop' });
});

const liveSubscriptions = () => liveSubscriptionsAt(gatewayUrl);

let baseline = 0;
beforeEach(async () => {
  baseline = await liveSubscriptions();
});

afterEach(async () => {
  for (const item of open.splice(0)) await item.dispose();
  // Gone before the next test counts its own (e2e files run one at a time: these are this file's).
  await expect.poll(liveSubscriptions, { timeout: 10_000 }).toBeLessThanOrEqual(baseline);
});

function client(user: TestUser | null, token = user?.accessToken ?? null) {
  const created = wsClient(gatewayUrl, token);
  open.push({ dispose: () => created.dispose() as Promise<void> });
  return created;
}

function watch(user: TestUser, variables: Record<string, unknown> = {}, query = STATUS_CHANGED): TestSubscription {
  const subscription = subscribe(client(user), query, variables);
  open.push(subscription);
  return subscription;
}

async function buyerWithOrder(amount = '2500', name = `Buyer ${randomBytes(3).toString('hex')}`) {
  const buyer = await registerAndLogin(urls, 'BUYER', { name });
  await gql(gatewayUrl, `mutation($input: CreditWalletInput!) { creditWallet(input: $input) { id } }`, { input: { amount: usd('100000'), idempotencyKey: key() } }, buyer.accessToken);
  const created = await gql(gatewayUrl, `mutation($input: CreateOrderInput!) { createOrder(input: $input) { id } }`, { input: { merchantId: merchant.id, amount: usd(amount) } }, buyer.accessToken);
  return { buyer, orderId: created.data!.createOrder.id as string };
}

async function pay(buyer: TestUser, orderId: string, captureMethod = 'AUTOMATIC') {
  const paid = await gql(gatewayUrl, `mutation($input: PayOrderInput!) { payOrder(input: $input) { id status } }`, { input: { orderId, idempotencyKey: key(), captureMethod } }, buyer.accessToken);
  if (paid.errors) throw new Error(JSON.stringify(paid.errors));
  return paid.data!.payOrder as { id: string; status: string };
}

const capture = (user: TestUser, id: string) => gql(gatewayUrl, `mutation($id: ID!) { capturePayment(id: $id) { id status } }`, { id }, user.accessToken);
const cancel = (user: TestUser, orderId: string) => gql(gatewayUrl, `mutation($id: ID!) { cancelOrder(id: $id) { id status } }`, { id: orderId }, user.accessToken);

/**
 * Subscribes and waits until the gateway counts the subscription as live (registered with its
 * hub), so that nothing published afterwards is missed. A fixed pause was not enough on a loaded
 * machine: the socket's handshake, connection_init and subscribe may take longer.
 */
async function watchReady(user: TestUser, variables: Record<string, unknown> = {}): Promise<TestSubscription> {
  const before = await liveSubscriptions();
  const subscription = watch(user, variables);
  await expect.poll(liveSubscriptions, { timeout: 10_000 }).toBeGreaterThan(before);
  return subscription;
}

describe('paymentStatusChanged', () => {
  it("delivers a buyer's payment events within a second, in order, with federated fields", async () => {
    const { buyer, orderId } = await buyerWithOrder('2500', 'Ada Subscriber');
    const subscription = await watchReady(buyer);
    const paid = await pay(buyer, orderId);
    const paidAt = Date.now();
    expect(paid.status).toBe('SUCCEEDED');
    const results = await subscription.take(2);
    expect(results.map((result) => result.errors)).toEqual([undefined, undefined]);
    const events = results.map((result) => result.data!.paymentStatusChanged);
    expect(events.map((event) => [event.previousStatus, event.status])).toEqual([
      [null, 'PENDING'],
      ['PENDING', 'SUCCEEDED'],
    ]);
    expect(BigInt(events[1].sequence)).toBeGreaterThan(BigInt(events[0].sequence));
    expect(events[1].payment).toEqual({
      id: paid.id,
      status: 'SUCCEEDED',
      riskAssessment: { decision: 'APPROVE' },
      order: { id: orderId, buyer: { name: 'Ada Subscriber' }, merchant: { id: merchant.id } },
    });
    expect(new Date(events[1].occurredAt).toString()).not.toBe('Invalid Date');
    expect(results[1]!.receivedAt - paidAt).toBeLessThan(1_000);
  });

  it('follows one payment by id through manual capture, and the merchant sees payments made to them', async () => {
    const { buyer, orderId } = await buyerWithOrder('4000');
    const authorized = await pay(buyer, orderId, 'MANUAL');
    expect(authorized.status).toBe('AUTHORIZED');
    const byId = await watchReady(buyer, { paymentId: authorized.id });
    const merchantView = await watchReady(merchant);
    expect((await capture(merchant, authorized.id)).data!.capturePayment.status).toBe('SUCCEEDED');
    // Live from about now: the payment's AUTHORIZED may still arrive first; the capture's change follows.
    const captured = await firstWhere(byId, (result) => result.data?.paymentStatusChanged.status === 'SUCCEEDED');
    expect(captured.data!.paymentStatusChanged).toMatchObject({ previousStatus: 'AUTHORIZED', status: 'SUCCEEDED', payment: { id: authorized.id } });
    expect(byId.results.every((result) => result.data?.paymentStatusChanged.payment.id === authorized.id)).toBe(true);
    const seen = await firstWhere(merchantView, (result) => result.data?.paymentStatusChanged.payment.id === authorized.id && result.data.paymentStatusChanged.status === 'SUCCEEDED');
    expect(seen.data!.paymentStatusChanged.previousStatus).toBe('AUTHORIZED');
  });

  it("refuses someone else's payment, and never sends another buyer's events", async () => {
    const { buyer, orderId } = await buyerWithOrder();
    const stranger = await registerAndLogin(urls);
    const authorized = await pay(buyer, orderId, 'MANUAL');
    const refused = watch(stranger, { paymentId: authorized.id });
    const error = (await refused.failure) as { extensions?: { code?: string } }[];
    expect(error[0]?.extensions?.code).toBe('NOT_FOUND');
    const strangerAll = await watchReady(stranger);
    const adminOne = await watchReady(admin, { paymentId: authorized.id });
    const adminAll = await watchReady(admin);
    const own = await watchReady(buyer, { paymentId: authorized.id });
    await cancel(buyer, orderId);
    const isCanceled = (result: Received) => result.data?.paymentStatusChanged.status === 'CANCELED';
    const canceled = await firstWhere(own, isCanceled);
    expect(canceled.data!.paymentStatusChanged).toMatchObject({ status: 'CANCELED', previousStatus: 'AUTHORIZED' });
    expect((await firstWhere(adminOne, isCanceled)).data!.paymentStatusChanged.payment.id).toBe(authorized.id);
    // An admin sees every payment (other tests' too): this one's change is among them.
    await expect
      .poll(() => adminAll.results.some((result) => result.data?.paymentStatusChanged.payment.id === authorized.id && result.data.paymentStatusChanged.status === 'CANCELED'), { timeout: 5_000 })
      .toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(strangerAll.results).toEqual([]);
  });

  it('resumes after a disconnect from the last sequence seen: the missed events in order, then live ones, no gap, no duplicate', async () => {
    const { buyer, orderId } = await buyerWithOrder('3000');
    const first = await watchReady(buyer);
    const authorized = await pay(buyer, orderId, 'MANUAL');
    const beforeDisconnect = (await first.take(2)).map((result) => result.data!.paymentStatusChanged);
    expect(beforeDisconnect.map((event) => event.status)).toEqual(['PENDING', 'AUTHORIZED']);
    await first.dispose();
    const lastSeen = beforeDisconnect[0].sequence as string; // as if the second event was lost with the connection

    // While disconnected: the merchant captures.
    expect((await capture(merchant, authorized.id)).data!.capturePayment.status).toBe('SUCCEEDED');
    const resumed = watch(buyer, { after: lastSeen });
    const replayed = (await resumed.take(2)).map((result) => result.data!.paymentStatusChanged);
    expect(replayed.map((event) => [event.previousStatus, event.status])).toEqual([
      ['PENDING', 'AUTHORIZED'],
      ['AUTHORIZED', 'SUCCEEDED'],
    ]);
    expect(replayed[0].sequence).toBe(beforeDisconnect[1].sequence);
    // Then live: a new payment of the same buyer follows the replay without a duplicate.
    const next = await buyerWithOrderFor(buyer);
    await pay(buyer, next);
    const all = (await resumed.take(4)).map((result) => result.data!.paymentStatusChanged);
    const sequences = all.map((event) => BigInt(event.sequence));
    expect(new Set(sequences).size).toBe(4);
    expect([...sequences].sort((a, b) => (a < b ? -1 : 1))).toEqual(sequences);
    expect(all.slice(2).map((event) => event.status)).toEqual(['PENDING', 'SUCCEEDED']);
  });

  it('rejects a malformed after with BAD_USER_INPUT', async () => {
    const { buyer } = await buyerWithOrder();
    const refused = watch(buyer, { after: '12.5' });
    const error = (await refused.failure) as { extensions?: { code?: string } }[];
    expect(error[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });
});

async function buyerWithOrderFor(buyer: TestUser): Promise<string> {
  const created = await gql(gatewayUrl, `mutation($input: CreateOrderInput!) { createOrder(input: $input) { id } }`, { input: { merchantId: merchant.id, amount: usd('100') } }, buyer.accessToken);
  return created.data!.createOrder.id;
}

describe('subscription sessions', () => {
  const closeOf = (token: string | null) =>
    new Promise<{ code: number; reason: string }>((resolve) => {
      const socket = new WebSocket(wsUrl(gatewayUrl), 'graphql-transport-ws');
      socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: token ? { authorization: `Bearer ${token}` } : {} })));
      socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    });

  it('closes an anonymous connection with 4401 and a forged token with 4403', async () => {
    expect((await closeOf(null)).code).toBe(4401);
    const forged = await forgedToken({ sub: admin.id, role: 'ADMIN' });
    expect((await closeOf(forged)).code).toBe(4403);
  });

  it('answers a subscription sent over HTTP with 400 and a pointer to WebSocket', async () => {
    const response = await gql(gatewayUrl, STATUS_CHANGED, {}, merchant.accessToken);
    expect(response.status).toBe(400);
    expect(response.errors?.[0]?.extensions?.code).toBe('BAD_REQUEST');
    expect(response.errors?.[0]?.message).toMatch(/WebSocket/);
  });

  it('counts live subscriptions in /metrics', async () => {
    const active = liveSubscriptions;
    const before = await active();
    const subscription = await watchReady(merchant);
    expect(await active()).toBe(before + 1);
    await subscription.dispose();
    await expect.poll(active).toBe(before);
  });

  it('serves only subscriptions over the socket', async () => {
    const refused = subscribe(client(merchant), `query { me { id } }`);
    const error = (await refused.failure) as { extensions?: { code?: string }; message: string }[];
    expect(error[0]?.extensions?.code).toBe('BAD_REQUEST');
  });
});
