// Proves the gateway's per-client rate limits and that several gateways share them through Redis:
// two gateway processes spawned with RATE_LIMITS=on, the same REDIS_URL and a key prefix of this run
// alone, with small budgets, together let one client spend its budget once, then both answer
// RATE_LIMITED with HTTP 429, `Retry-After` and `extensions.retryAfterSeconds`; logins and
// money-moving mutations have their own tighter budgets, and a refused mutation moves no money.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { errorCode, gql, registerAndLogin, type GraphQLResponse } from '@paygraph/testing';
import { spawnGateway, type SpawnedGateway } from '../support/spawn-gateway';

const platformUrl = inject('gatewayUrl');
const subgraphUrls = inject('subgraphUrls');
const urls = { register: platformUrl, login: platformUrl };
const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

const REQUESTS_PER_MINUTE = 20;
const LOGINS_PER_MINUTE = 3;
const MONEY_MUTATIONS_PER_MINUTE = 2;

let first: SpawnedGateway;
let second: SpawnedGateway;

function expectRateLimited(response: GraphQLResponse): void {
  expect(response.status).toBe(429);
  expect(errorCode(response)).toBe('RATE_LIMITED');
  const retryAfterSeconds = response.errors![0]!.extensions!.retryAfterSeconds;
  expect(retryAfterSeconds).toBeGreaterThanOrEqual(1);
  expect(response.headers.get('retry-after')).toBe(String(retryAfterSeconds));
}

beforeAll(async () => {
  const env = {
    RATE_LIMITS: 'on',
    REDIS_URL: redisUrl,
    // A prefix of this run alone: other runs (or a second CI job) on the same Redis never meet these keys.
    RATE_LIMIT_PREFIX: `paygraph-test-${randomBytes(6).toString('hex')}`,
    RATE_LIMIT_REQUESTS_PER_MINUTE: String(REQUESTS_PER_MINUTE),
    RATE_LIMIT_LOGINS_PER_MINUTE: String(LOGINS_PER_MINUTE),
    RATE_LIMIT_MONEY_MUTATIONS_PER_MINUTE: String(MONEY_MUTATIONS_PER_MINUTE),
    SUPERGRAPH_POLL_INTERVAL_MS: '3600000',
  };
  [first, second] = await Promise.all([spawnGateway(subgraphUrls, env), spawnGateway(subgraphUrls, env)]);
});

afterAll(async () => {
  await Promise.all([first?.stop(), second?.stop()]);
});

describe('per-client budget shared by two gateways through Redis', () => {
  it('lets one user spend the budget once across both, then refuses on both with Retry-After', async () => {
    const user = await registerAndLogin(urls);
    for (let request = 0; request < REQUESTS_PER_MINUTE; request += 1) {
      const result = await gql(request % 2 === 0 ? first.url : second.url, `{ me { id } }`, {}, user.accessToken);
      expect(result.status).toBe(200);
      expect(result.data).toEqual({ me: { id: user.id } });
    }
    expectRateLimited(await gql(first.url, `{ me { id } }`, {}, user.accessToken));
    expectRateLimited(await gql(second.url, `{ me { id } }`, {}, user.accessToken));
    // Another user has a budget of their own.
    const other = await registerAndLogin(urls);
    expect((await gql(first.url, `{ me { id } }`, {}, other.accessToken)).data).toEqual({ me: { id: other.id } });
  });
});

describe('tighter budgets', () => {
  it('counts logins per client address across gateways', async () => {
    const login = (url: string) => gql(url, `mutation Login($input: LoginInput!) { login(input: $input) { accessToken } }`, { input: { email: `nobody-${randomBytes(4).toString('hex')}@example.test`, password: 'wrong password' } });
    for (let attempt = 0; attempt < LOGINS_PER_MINUTE; attempt += 1) expect(errorCode(await login(attempt % 2 === 0 ? first.url : second.url))).toBe('UNAUTHENTICATED');
    expectRateLimited(await login(second.url));
  });

  it('refuses a money-moving mutation over its budget before it runs', async () => {
    const user = await registerAndLogin(urls);
    const topUp = (url: string) =>
      gql(url, `mutation TopUp($input: CreditWalletInput!) { creditWallet(input: $input) { balance { amount } } }`, { input: { amount: { amount: '100', currency: 'USD' }, idempotencyKey: `k-${randomBytes(6).toString('hex')}` } }, user.accessToken);
    expect((await topUp(first.url)).errors).toBeUndefined();
    expect((await topUp(second.url)).data!.creditWallet.balance.amount).toBe('200');
    expectRateLimited(await topUp(first.url));
    const wallet = await gql(platformUrl, `{ wallet(currency: "USD") { balance { amount } } }`, {}, user.accessToken);
    expect(wallet.data!.wallet.balance.amount).toBe('200');
  });
});
