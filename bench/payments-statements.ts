/**
 * What one payment costs in SQL statements, per service: createOrder + payOrder (automatic
 * capture) through the gateway of a platform started in this process, counted with the services'
 * statement counters (the warm path: caches filled by a first payment, then PAYMENTS payments).
 * Not a timed benchmark: counts, the same on any machine.
 *
 *   npx tsx bench/payments-statements.ts          (PGlite in memory; DATABASE_URL for a server)
 */
import { randomBytes } from 'node:crypto';
import { startTestPlatform } from '@paygraph/platform';
import { TEST_PASSWORD, gql, loginAs, registerAndLogin, uniqueEmail } from '@paygraph/testing';

const PAYMENTS = Number(process.env.BENCH_PAYMENTS ?? 20);
const adminEmail = uniqueEmail('admin');
const queryCounts = new Map<string, number>();
const platform = await startTestPlatform({
  env: { ADMIN_EMAIL: adminEmail, ADMIN_PASSWORD: TEST_PASSWORD, PAYMENT_RECOVERY_INTERVAL_MS: '3600000', EVENT_RELAY_INTERVAL_MS: '60000' },
  queryCounts,
});
try {
  const gatewayUrl = platform.gatewayUrl!;
  const admin = await loginAs(gatewayUrl, adminEmail, TEST_PASSWORD);
  await gql(gatewayUrl, `mutation { updateRiskRules(input: { velocityMaxAttempts: 10000, velocityWindowMinutes: 1 }) { version } }`, {}, admin.accessToken);
  const buyer = await registerAndLogin({ register: gatewayUrl, login: gatewayUrl });
  const merchant = await registerAndLogin({ register: gatewayUrl, login: gatewayUrl }, 'MERCHANT');
  await gql(gatewayUrl, `mutation($input: CreditWalletInput!) { creditWallet(input: $input) { id } }`, { input: { amount: { amount: '100000000', currency: 'USD' }, idempotencyKey: 'fund' } }, buyer.accessToken);
  const pay = async () => {
    const order = await gql(gatewayUrl, `mutation($input: CreateOrderInput!) { createOrder(input: $input) { id } }`, { input: { merchantId: merchant.id, amount: { amount: '100', currency: 'USD' } } }, buyer.accessToken);
    const paid = await gql(gatewayUrl, `mutation($input: PayOrderInput!) { payOrder(input: $input) { id status } }`, { input: { orderId: order.data!.createOrder.id, idempotencyKey: randomBytes(8).toString('hex') } }, buyer.accessToken);
    if (paid.data?.payOrder?.status !== 'SUCCEEDED') throw new Error(`payment did not succeed: ${JSON.stringify(paid)}`);
  };
  // GraphQL requests each service served, by operation name, from its own /metrics (graphql_requests_total).
  const requestCounts = async () => {
    const counts = new Map<string, number>();
    for (const [name, subgraph] of platform.subgraphs) {
      const text = await (await fetch(new URL('/metrics', subgraph.url))).text();
      for (const match of text.matchAll(/^graphql_requests_total\{([^}]*)\} (\d+)/gm)) {
        const operation = /operation="([^"]*)"/.exec(match[1]!)?.[1] ?? '?';
        const key = `${name} ${operation}`;
        counts.set(key, (counts.get(key) ?? 0) + Number(match[2]));
      }
    }
    return counts;
  };
  await pay(); // fills the caches (roles, wallet accounts, signing keys, prepared statements)
  const before = new Map(queryCounts);
  const requestsBefore = await requestCounts();
  for (let index = 0; index < PAYMENTS; index += 1) await pay();
  const requestsAfter = await requestCounts();
  console.log(`SQL statements per payment (createOrder + payOrder, automatic capture), mean of ${PAYMENTS}:`);
  for (const [service, count] of [...queryCounts].sort()) console.log(`  ${service}: ${((count - (before.get(service) ?? 0)) / PAYMENTS).toFixed(1)}`);
  console.log(`GraphQL requests per payment served by each subgraph, by operation (service hops and the gateway's fetches), mean of ${PAYMENTS}:`);
  for (const [key, count] of [...requestsAfter].sort()) {
    const perPayment = (count - (requestsBefore.get(key) ?? 0)) / PAYMENTS;
    if (perPayment > 0) console.log(`  ${key}: ${perPayment.toFixed(2)}`);
  }
} finally {
  await platform.stop();
}
