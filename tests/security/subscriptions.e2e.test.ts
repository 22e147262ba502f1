// Proves the subscription attacks of issue 11 are refused: a gateway process spawned against the
// platform's subgraphs with small caps (2 live subscriptions per socket, 3 per user across sockets,
// 3 subscribe messages per socket per minute) refuses a subscription over each with RATE_LIMITED
// naming the setting, while the held ones keep working and a completed one frees its place, also
// when the subscribes arrive together; the operation limits and the cost apply to a subscription
// document and its payload selection when it is subscribed; `after` is checked against the log.
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { gql, registerAndLogin, type TestUser } from '@paygraph/testing';
import { spawnGateway, type SpawnedGateway } from '../support/spawn-gateway';
import WebSocket from 'ws';
import { endOf, liveSubscriptionsAt, subscribe, wsClient, wsUrl, type TestSubscription } from '../support/subscriptions';

const platformUrl = inject('gatewayUrl');
const subgraphUrls = inject('subgraphUrls');
const urls = { register: platformUrl, login: platformUrl };

const PER_CONNECTION_MAX = 2;
const PER_USER_MAX = 3;
const SUBSCRIBES_PER_MINUTE = 3;

const CHANGES = `subscription { paymentStatusChanged { sequence status payment { id } } }`;

let gateway: SpawnedGateway;
const open: { dispose(): Promise<unknown> }[] = [];

beforeAll(async () => {
  gateway = await spawnGateway(subgraphUrls, {
    SUBSCRIPTIONS_PER_CONNECTION_MAX: String(PER_CONNECTION_MAX),
    SUBSCRIPTIONS_PER_USER_MAX: String(PER_USER_MAX),
    SUBSCRIBES_PER_MINUTE_MAX: String(SUBSCRIBES_PER_MINUTE),
    SUPERGRAPH_POLL_INTERVAL_MS: '3600000',
  });
});

afterEach(async () => {
  for (const item of open.splice(0)) await item.dispose();
});

afterAll(async () => {
  await gateway?.stop();
});

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function socketOf(user: TestUser) {
  const client = wsClient(gateway.url, user.accessToken);
  open.push({ dispose: () => client.dispose() as Promise<void> });
  return client;
}

function watch(client: ReturnType<typeof wsClient>, query = CHANGES, variables: Record<string, unknown> = {}): TestSubscription {
  const subscription = subscribe(client, query, variables);
  open.push(subscription);
  return subscription;
}

/** Still open after a while: neither refused nor ended. */
const staysOpen = async (subscription: TestSubscription) => (await endOf(subscription, 1_000)) === null;
const REFUSAL_WAIT_MS = 5_000;

describe('bounded subscriptions', () => {
  it('refuses a subscription over SUBSCRIPTIONS_PER_CONNECTION_MAX on one socket and over SUBSCRIPTIONS_PER_USER_MAX across sockets', async () => {
    const buyer = await registerAndLogin(urls);
    const socket = socketOf(buyer);
    const held = Array.from({ length: PER_CONNECTION_MAX }, () => watch(socket));
    await pause(300);
    const over = watch(socket);
    const refused = await endOf(over, REFUSAL_WAIT_MS);
    expect(refused?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    expect(refused?.[0]?.message).toMatch(/SUBSCRIPTIONS_PER_CONNECTION_MAX/);
    expect(refused?.[0]?.extensions?.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    // The held ones still work; a second socket of the same user reaches the per-user cap (3).
    for (const subscription of held) expect(await staysOpen(subscription)).toBe(true);
    const second = socketOf(buyer);
    const more = watch(second);
    await pause(300);
    const beyond = watch(second);
    const userCap = await endOf(beyond, REFUSAL_WAIT_MS);
    expect(userCap?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    expect(userCap?.[0]?.message).toMatch(/SUBSCRIPTIONS_PER_USER_MAX/);
    expect(await staysOpen(more)).toBe(true);
    // Another user has caps of their own.
    const other = await registerAndLogin(urls);
    expect(await staysOpen(watch(socketOf(other)))).toBe(true);
    // Completing one frees a place, once the gateway has ended it (on another socket: nothing
    // orders the two, so wait until it no longer counts it).
    const live = await liveSubscriptionsAt(gateway.url);
    await held[0]!.dispose();
    await expect.poll(() => liveSubscriptionsAt(gateway.url), { timeout: 10_000 }).toBe(live - 1);
    expect(await staysOpen(watch(second))).toBe(true);
  });

  it('refuses the subscribe message over SUBSCRIBES_PER_MINUTE_MAX on one socket, with retryAfterSeconds, even when each was completed', async () => {
    const buyer = await registerAndLogin(urls);
    const socket = socketOf(buyer);
    for (let message = 0; message < SUBSCRIBES_PER_MINUTE; message += 1) {
      const subscription = watch(socket);
      expect(await staysOpen(subscription)).toBe(true);
      await subscription.dispose();
    }
    const fourth = watch(socket);
    const refused = await endOf(fourth, REFUSAL_WAIT_MS);
    expect(refused?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    expect(refused?.[0]?.message).toMatch(/SUBSCRIBES_PER_MINUTE_MAX/);
    const retryAfterSeconds = refused?.[0]?.extensions?.retryAfterSeconds ?? 0;
    expect(retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(retryAfterSeconds).toBeLessThanOrEqual(60);
    // The budget is the socket's: a new socket of the same user subscribes.
    expect(await staysOpen(watch(socketOf(buyer)))).toBe(true);
  });
});

const usd = (amount: string) => ({ amount, currency: 'USD' });

/** A buyer with one succeeded payment to a new merchant, made through the platform's gateway. */
async function buyerWithPayment(): Promise<{ buyer: TestUser; paymentId: string }> {
  const [buyer, merchant] = await Promise.all([registerAndLogin(urls), registerAndLogin(urls, 'MERCHANT')]);
  await gql(platformUrl, `mutation($input: CreditWalletInput!) { creditWallet(input: $input) { id } }`, { input: { amount: usd('10000'), idempotencyKey: `k-${Math.random().toString(36).slice(2)}` } }, buyer.accessToken);
  const order = await gql(platformUrl, `mutation($input: CreateOrderInput!) { createOrder(input: $input) { id } }`, { input: { merchantId: merchant.id, amount: usd('100') } }, buyer.accessToken);
  const paid = await gql(platformUrl, `mutation($input: PayOrderInput!) { payOrder(input: $input) { id status } }`, { input: { orderId: order.data!.createOrder.id, idempotencyKey: `k-${Math.random().toString(36).slice(2)}` } }, buyer.accessToken);
  expect(paid.data!.payOrder.status).toBe('SUCCEEDED');
  return { buyer, paymentId: paid.data!.payOrder.id };
}

describe('caps under subscribes sent together', () => {
  it('admits no more than SUBSCRIPTIONS_PER_CONNECTION_MAX when the subscribes arrive at once (each waited for its payment check before it counted: all ran)', async () => {
    const { buyer, paymentId } = await buyerWithPayment();
    const socket = socketOf(buyer);
    const together = Array.from({ length: PER_CONNECTION_MAX + 1 }, () => watch(socket, `subscription($id: ID) { paymentStatusChanged(paymentId: $id) { sequence status } }`, { id: paymentId }));
    const ends = await Promise.all(together.map((subscription) => endOf(subscription, 2_000)));
    const refused = ends.filter((end) => end !== null);
    expect(refused).toHaveLength(1);
    expect(refused[0]?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    expect(refused[0]?.[0]?.message).toMatch(/SUBSCRIPTIONS_PER_CONNECTION_MAX/);
  });
});

describe('operation limits on subscription documents', () => {
  it('refuses at subscribe time, as over HTTP, a payload selection whose estimated cost is over OPERATION_COST_MAX (it was admitted, then every event ended SERVICE_UNAVAILABLE)', async () => {
    const buyer = await registerAndLogin(urls);
    const selection = 'payment { order { payments { refunds { payment { refunds { payment { order { payments { id } } } } } } } } }';
    const refused = await endOf(watch(socketOf(buyer), `subscription { paymentStatusChanged { sequence ${selection} } }`));
    expect(refused?.[0]?.extensions?.code).toBe('COST_ESTIMATED_TOO_EXPENSIVE');
    expect(refused?.[0]?.message).toMatch(/exceeds OPERATION_COST_MAX \(5000\)/);
  });

  it('refuses at subscribe time what the query each event runs would break (20 aliased payments: 21 root fields there), and delivers to 19 (20 were admitted, then every event ended SERVICE_UNAVAILABLE)', async () => {
    const { buyer } = await buyerWithPayment();
    const socket = socketOf(buyer);
    const aliases = (count: number) => Array.from({ length: count }, (_, index) => `p${index}: payment { id }`).join(' ');
    const refused = await endOf(watch(socket, `subscription { paymentStatusChanged(after: "0") { sequence ${aliases(20)} } }`));
    expect(refused?.[0]?.extensions?.code).toBe('MAX_ROOT_FIELDS_LIMIT');
    expect(refused?.[0]?.message).toMatch(/OPERATION_ROOT_FIELDS_MAX is 20.*the query each event runs/);
    const subscription = watch(socket, `subscription { paymentStatusChanged(after: "0") { sequence ${aliases(19)} } }`);
    const [first] = await subscription.take(1, 10_000);
    expect(first!.errors).toBeUndefined();
    expect(first!.data!.paymentStatusChanged.p18.id).toBe(first!.data!.paymentStatusChanged.p0.id);
  });

  it('refuses an after past the largest sequence, and one the log has not reached, with BAD_USER_INPUT (they ended as retryable SERVICE_UNAVAILABLE, or skipped events silently)', async () => {
    const buyer = await registerAndLogin(urls);
    const socket = socketOf(buyer);
    const tooLarge = await endOf(watch(socket, `subscription { paymentStatusChanged(after: "9999999999999999999") { sequence } }`));
    expect(tooLarge?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const ahead = await endOf(watch(socket, `subscription { paymentStatusChanged(after: "9000000000000000000") { sequence } }`));
    expect(ahead?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(ahead?.[0]?.message).toMatch(/ahead of the event log: the latest sequence is \d+/);
    // Half of a surrogate pair in paymentId is bad input, as over HTTP (it was NOT_FOUND).
    const surrogate = await endOf(watch(socket, `subscription($id: ID) { paymentStatusChanged(paymentId: $id) { sequence } }`, { id: 'pay_\ud800' }));
    expect(surrogate?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('refuses a payload selection deeper than OPERATION_DEPTH_MAX with MAX_DEPTH_LIMIT', async () => {
    const buyer = await registerAndLogin(urls);
    const nested = (depth: number): string => (depth === 0 ? 'id' : `id order { id payments { ${nested(depth - 1)} } }`);
    const refused = await endOf(watch(socketOf(buyer), `subscription { paymentStatusChanged { sequence payment { ${nested(8)} } } }`));
    expect(refused?.[0]?.extensions?.code).toBe('MAX_DEPTH_LIMIT');
    expect(refused?.[0]?.message).toMatch(/OPERATION_DEPTH_MAX/);
    // The HTTP status the limits carry for HTTP answers is not part of a WebSocket message.
    expect(refused?.[0]?.extensions).toEqual({ code: 'MAX_DEPTH_LIMIT' });
  });

  it('refuses a payload selection with more aliases than OPERATION_ALIASES_MAX with MAX_ALIASES_LIMIT', async () => {
    const buyer = await registerAndLogin(urls);
    const aliases = Array.from({ length: 31 }, (_, index) => `a${index}: id`).join(' ');
    const refused = await endOf(watch(socketOf(buyer), `subscription { paymentStatusChanged { sequence payment { ${aliases} } } }`));
    expect(refused?.[0]?.extensions?.code).toBe('MAX_ALIASES_LIMIT');
    expect(refused?.[0]?.message).toMatch(/OPERATION_ALIASES_MAX/);
  });
});

describe('a client that does not read what it subscribed to', () => {
  // SUBSCRIPTION_QUEUED_BYTES_MAX of 1 byte: the first resolved event that waits passes it. What it
  // proves is the path from the setting to a real socket's close (the counting itself, a reading
  // client never closed at a real limit, and bytes given back: gateway/test/slow-reader.test.ts).
  let tight: SpawnedGateway;

  beforeAll(async () => {
    tight = await spawnGateway(subgraphUrls, { SUBSCRIPTION_QUEUED_BYTES_MAX: '1', SUPERGRAPH_POLL_INTERVAL_MS: '3600000' });
  });

  afterAll(async () => {
    await tight?.stop();
  });

  it('is closed with 4429 and a RATE_LIMITED reason once the events waiting for it pass SUBSCRIPTION_QUEUED_BYTES_MAX', async () => {
    const { buyer } = await buyerWithPayment();
    let closed: { code: number; reason: string } | undefined;
    const client = wsClient(tight.url, buyer.accessToken, (event) => (closed = event));
    open.push({ dispose: () => client.dispose() as Promise<void> });
    watch(client, `subscription { paymentStatusChanged(after: "0") { sequence status } }`);
    await expect.poll(() => closed?.code, { timeout: 10_000 }).toBe(4429);
    expect(JSON.parse(closed!.reason)).toMatchObject({ message: expect.stringMatching(/resume with after/), extensions: { code: 'RATE_LIMITED' } });
    await expect.poll(() => liveSubscriptionsAt(tight.url), { timeout: 5_000 }).toBe(0);
  });
});

describe('subscription ids', () => {
  /** A raw graphql-transport-ws socket, acknowledged; resolves its close code. */
  async function rawSocket(token: string) {
    const socket = new WebSocket(wsUrl(platformUrl), 'graphql-transport-ws');
    const closed = new Promise<number>((resolve) => socket.on('close', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } })));
      socket.on('message', (data) => (JSON.parse(String(data)).type === 'connection_ack' ? resolve() : undefined));
      socket.on('error', reject);
    });
    return { socket, closed, send: (message: object) => socket.send(JSON.stringify(message)) };
  }

  it('refuses an id reused while its first subscribe is still being set up (both ran: every event twice, one left unstoppable)', async () => {
    const buyer = await registerAndLogin(urls);
    const { send, closed } = await rawSocket(buyer.accessToken);
    // The first subscribe checks its payment over HTTP; its complete and a new subscribe with the id arrive meanwhile.
    send({ id: 'reused', type: 'subscribe', payload: { query: 'subscription($p: ID) { paymentStatusChanged(paymentId: $p) { sequence } }', variables: { p: 'pay_none' } } });
    send({ id: 'reused', type: 'complete' });
    send({ id: 'reused', type: 'subscribe', payload: { query: CHANGES } });
    expect(await closed).toBe(4409);
  });

  it("closes with 4400 a client that sends a server's message (next, error, connection_ack): a bad message, not an internal error (it was 4500)", async () => {
    const buyer = await registerAndLogin(urls);
    for (const message of [{ id: 'a', type: 'next', payload: { data: {} } }, { id: 'a', type: 'error', payload: [] }, { type: 'connection_ack' }]) {
      const raw = await rawSocket(buyer.accessToken);
      raw.send(message);
      expect(await raw.closed, message.type).toBe(4400);
    }
  });

  it('closes the socket with 4400 for an id over 128 characters (every message repeats it)', async () => {
    const buyer = await registerAndLogin(urls);
    const long = await rawSocket(buyer.accessToken);
    long.send({ id: 'x'.repeat(129), type: 'subscribe', payload: { query: CHANGES } });
    expect(await long.closed).toBe(4400);
    const fits = await rawSocket(buyer.accessToken);
    fits.send({ id: 'x'.repeat(128), type: 'subscribe', payload: { query: CHANGES } });
    expect(await Promise.race([fits.closed, pause(1_000).then(() => 'open')])).toBe('open');
    fits.socket.close(1000);
  });
});
