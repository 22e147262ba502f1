// Proves what a dashboard can rely on when things go wrong, on the platform started in this
// process (so a subgraph can be stopped): an event whose payment cannot be resolved (risk down)
// ends the subscription with the retryable SERVICE_UNAVAILABLE instead of being skipped as "may
// not see it", and resuming with `after` once risk is back delivers it; and an `after` older than
// the retained log is BAD_USER_INPUT saying so. The caps on what one client may hold or ask for,
// and the operation limits on subscription documents: tests/security/subscriptions.e2e.test.ts.
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { openServiceDatabase, resolveDatabaseTarget, type ServiceDatabase } from '@paygraph/db';
import { gql, registerAndLogin, type TestUser } from '@paygraph/testing';
import { startTestPlatform, type Platform } from '@paygraph/platform';
import { schema as paymentsSchema } from '../../subgraphs/payments/src/db/schema';
import { TEST_SERVICE_SECRET } from '../support/constants';
import { ownDatabaseWhenShared, type OwnDatabase } from '../support/own-database';
import { endOf, liveSubscriptionsAt, subscribe, wsClient, type TestSubscription } from '../support/subscriptions';

let platform: Platform;
let ownDatabase: OwnDatabase | undefined;
let gatewayUrl: string;
let payments: ServiceDatabase<typeof paymentsSchema>;
let merchant: TestUser;
const open: { dispose(): Promise<unknown> }[] = [];
const key = () => `k-${randomBytes(6).toString('hex')}`;
const usd = (amount: string) => ({ amount, currency: 'USD' });

const CHANGES = `subscription($after: String, $paymentId: ID) {
  paymentStatusChanged(after: $after, paymentId: $paymentId) { sequence status payment { id riskAssessment { decision } } }
}`;

beforeAll(async () => {
  // A database of its own with DATABASE_URL: the retention test deletes the oldest events of the
  // log, and another file's replay from after "0" would then be refused as older than retention.
  ownDatabase = await ownDatabaseWhenShared('resilience');
  platform = await startTestPlatform({
    env: { ...ownDatabase.env, SERVICE_SECRET: TEST_SERVICE_SECRET, RATE_LIMITS: 'off' },
  });
  gatewayUrl = platform.gatewayUrl!;
  payments = await openServiceDatabase({
    service: 'payments',
    target: resolveDatabaseTarget('payments', { ...process.env, ...ownDatabase.env }, platform.config.dataDir),
    schema: paymentsSchema,
    migrationsFolder: new URL('../../subgraphs/payments/drizzle', import.meta.url).pathname,
  });
  merchant = await registerAndLogin({ register: gatewayUrl, login: gatewayUrl }, 'MERCHANT');
});

afterEach(async () => {
  for (const item of open.splice(0)) await item.dispose();
});

afterAll(async () => {
  await payments?.close();
  await platform?.stop();
  await ownDatabase?.drop();
});

function watch(user: TestUser, variables: Record<string, unknown> = {}, client = wsClient(gatewayUrl, user.accessToken)): TestSubscription {
  const subscription = subscribe(client, CHANGES, variables);
  open.push(subscription, { dispose: () => client.dispose() as Promise<void> });
  return subscription;
}

async function authorizedPayment(buyer: TestUser): Promise<string> {
  await gql(gatewayUrl, `mutation($input: CreditWalletInput!) { creditWallet(input: $input) { id } }`, { input: { amount: usd('5000'), idempotencyKey: key() } }, buyer.accessToken);
  const order = await gql(gatewayUrl, `mutation($input: CreateOrderInput!) { createOrder(input: $input) { id } }`, { input: { merchantId: merchant.id, amount: usd('1000') } }, buyer.accessToken);
  const paid = await gql(gatewayUrl, `mutation($input: PayOrderInput!) { payOrder(input: $input) { id status } }`, { input: { orderId: order.data!.createOrder.id, idempotencyKey: key(), captureMethod: 'MANUAL' } }, buyer.accessToken);
  expect(paid.data?.payOrder.status).toBe('AUTHORIZED');
  return paid.data!.payOrder.id as string;
}

it('ends with SERVICE_UNAVAILABLE when an event cannot be resolved, and resuming with after delivers it', async () => {
  const buyer = await registerAndLogin({ register: gatewayUrl, login: gatewayUrl });
  // Subscribed before the buyer's first payment, and its events before the capture received
  // (resolved while risk is up) before risk stops. Subscribing after the payment would race the
  // relay: an AUTHORIZED event positioned just after the subscription started listening is
  // delivered live, with data.
  const registered = await liveSubscriptionsAt(gatewayUrl);
  const live = watch(buyer);
  await expect.poll(() => liveSubscriptionsAt(gatewayUrl), { timeout: 10_000 }).toBeGreaterThan(registered);
  const paymentId = await authorizedPayment(buyer);
  const before = await live.take(2, 10_000);
  expect(before.map((result) => result.data?.paymentStatusChanged.status)).toEqual(['PENDING', 'AUTHORIZED']);
  const lastSeen = before[1]!.data!.paymentStatusChanged.sequence as string;
  const risk = platform.subgraphs.get('risk')!;
  await risk.stop();
  try {
    const captured = await gql(gatewayUrl, `mutation($id: ID!) { capturePayment(id: $id) { status } }`, { id: paymentId }, merchant.accessToken);
    expect(captured.data?.capturePayment.status).toBe('SUCCEEDED');
    const error = await endOf(live);
    expect(error?.[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');
    // Nothing was delivered for the captured event: no result after the first two carries data.
    expect(live.results.slice(2).filter((result) => result.data)).toHaveLength(0);
  } finally {
    await risk.restart();
  }
  // Resume with after set to the last sequence received, as the error says: the captured event
  // comes now, with its federated fields.
  const resumed = watch(buyer, { paymentId, after: lastSeen });
  const replayed = await resumed.take(1, 10_000);
  expect(replayed[0]!.data!.paymentStatusChanged.status).toBe('SUCCEEDED');
  expect(replayed[0]!.data!.paymentStatusChanged.payment.riskAssessment.decision).toBe('APPROVE');
});

it('refuses an after older than the retained log with BAD_USER_INPUT that says so', async () => {
  const buyer = await registerAndLogin({ register: gatewayUrl, login: gatewayUrl });
  await authorizedPayment(buyer);
  // Retention removed the oldest events (as pruneLog does after EVENT_RETENTION_SECONDS).
  await payments.query(`delete from payments.outbox_events where position <= 2`);
  const replay = watch(buyer, { after: '0' });
  const error = await endOf(replay);
  expect(error?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  expect(error?.[0]?.message).toMatch(/older than the retained event log.*resume after is 2/);
  // From the oldest kept position on, it works.
  const fine = watch(buyer, { after: '2' });
  await fine.take(1, 10_000);
});
