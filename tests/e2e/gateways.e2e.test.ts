// Proves that several gateway processes share payment events through the transport: a client
// subscribed on a second gateway process receives, within a second, the events of a payment made
// through the first, resolved with federated fields, and can resume there with `after`. Run over
// PostgreSQL LISTEN/NOTIFY (a database of its own) and over NATS JetStream (a stream of its own).
import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOwnDatabase, type OwnDatabase } from '@paygraph/db/testing';
import { gql, registerAndLogin } from '@paygraph/testing';
import { startTestPlatform, type Platform } from '@paygraph/platform';
import { spawnGateway, type SpawnedGateway } from '../support/spawn-gateway';
import { liveSubscriptionsAt, subscribe, wsClient } from '../support/subscriptions';

const serverUrl = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const natsUrl = process.env.TEST_NATS_URL ?? 'nats://127.0.0.1:4222';
const suffix = randomBytes(4).toString('hex');
const key = () => `k-${randomBytes(6).toString('hex')}`;
const usd = (amount: string) => ({ amount, currency: 'USD' });

interface Setup {
  /** Environment shared by the platform and the second gateway: the transport they meet on. */
  env(): Promise<Record<string, string>>;
  cleanUp(): Promise<void>;
}

let database: OwnDatabase | undefined;

const setups: Record<string, Setup> = {
  postgres: {
    async env() {
      database = await createOwnDatabase(serverUrl, 'gateways');
      return { DATABASE_URL: database.url, EVENT_TRANSPORT: 'postgres' };
    },
    cleanUp: async () => await database?.drop(),
  },
  nats: {
    env: async () => ({ NATS_URL: natsUrl, EVENT_TRANSPORT: 'nats', NATS_STREAM: `PAYGRAPH_TEST_${suffix}`, NATS_SUBJECT_PREFIX: `paygraph.test.${suffix}` }),
    cleanUp: async () => {
      const connection = await connect({ servers: natsUrl });
      await (await jetstreamManager(connection)).streams.delete(`PAYGRAPH_TEST_${suffix}`).catch(() => false);
      await connection.close();
    },
  },
};

describe.each(Object.keys(setups))('two gateway processes over %s', (transport) => {
  const setup = setups[transport]!;
  let platform: Platform;
  let second: SpawnedGateway;

  beforeAll(async () => {
    const env = await setup.env();
    platform = await startTestPlatform({ env });
    const subgraphUrls = Object.fromEntries([...platform.subgraphs.values()].map((subgraph) => [subgraph.name, subgraph.url]));
    second = await spawnGateway(subgraphUrls, env);
  });

  afterAll(async () => {
    await second?.stop();
    await platform?.stop();
    await setup.cleanUp();
  });

  it('delivers a payment made through one gateway to a subscriber of the other, and resumes there', async () => {
    const first = platform.gatewayUrl!;
    const urls = { register: first, login: first };
    const merchant = await registerAndLogin(urls, 'MERCHANT');
    const buyer = await registerAndLogin(urls, 'BUYER', { name: 'Grace Twogateways' });
    await gql(first, `mutation($input: CreditWalletInput!) { creditWallet(input: $input) { id } }`, { input: { amount: usd('5000'), idempotencyKey: key() } }, buyer.accessToken);
    const order = await gql(first, `mutation($input: CreateOrderInput!) { createOrder(input: $input) { id } }`, { input: { merchantId: merchant.id, amount: usd('1500') } }, buyer.accessToken);

    const client = wsClient(second.url, buyer.accessToken);
    const query = `subscription($after: String) { paymentStatusChanged(after: $after) { sequence status payment { id order { buyer { name } } } } }`;
    const live = subscribe(client, query);
    // Registered with the second gateway's hub before the payment (a cold process may take a while).
    await expect.poll(() => liveSubscriptionsAt(second.url), { timeout: 10_000 }).toBe(1);
    const paid = await gql(first, `mutation($input: PayOrderInput!) { payOrder(input: $input) { id status } }`, { input: { orderId: order.data!.createOrder.id, idempotencyKey: key() } }, buyer.accessToken);
    const paidAt = Date.now();
    expect(paid.data!.payOrder.status).toBe('SUCCEEDED');
    const events = (await live.take(2)).map((result) => result.data!.paymentStatusChanged);
    expect(events.map((event) => event.status)).toEqual(['PENDING', 'SUCCEEDED']);
    expect(events[1].payment).toEqual({ id: paid.data!.payOrder.id, order: { buyer: { name: 'Grace Twogateways' } } });
    expect(live.results[1]!.receivedAt - paidAt).toBeLessThan(1_000);
    await live.dispose();

    const resumed = subscribe(client, query, { after: events[0].sequence });
    const replayed = (await resumed.take(1)).map((result) => result.data!.paymentStatusChanged);
    expect(replayed).toEqual([events[1]]);
    await resumed.dispose();
    await client.dispose();
  });
});
