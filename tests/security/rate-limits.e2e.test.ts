// Proves the gateway's per-client rate limits and that several gateways share them through Redis:
// two gateway processes spawned with RATE_LIMITS=on, the same REDIS_URL and a key prefix of this run
// alone, with small budgets, together let one client spend its budget once, then both answer
// RATE_LIMITED with HTTP 429, `Retry-After` and `extensions.retryAfterSeconds`; logins and
// money-moving mutations have their own tighter budgets, and a refused mutation moves no money;
// a WebSocket's connection_init spends the same per-client budget as an HTTP request (refused:
// closed with 4429 and the RATE_LIMITED error with retryAfterSeconds as its reason). A gateway
// without REDIS_URL counts in its own memory and refuses the same way; RATE_LIMITS=off limits
// nothing and says so in the log.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import WebSocket from 'ws';
import { errorCode, gql, registerAndLogin, type GraphQLResponse } from '@paygraph/testing';
import { spawnGateway, type SpawnedGateway } from '../support/spawn-gateway';
import { wsUrl } from '../support/subscriptions';

const platformUrl = inject('gatewayUrl');
const subgraphUrls = inject('subgraphUrls');
const urls = { register: platformUrl, login: platformUrl };
const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

const REQUESTS_PER_MINUTE = 20;
const LOGINS_PER_MINUTE = 3;
const MONEY_MUTATIONS_PER_MINUTE = 2;
const MEMORY_REQUESTS_PER_MINUTE = 5;
const OFF_WARNING = 'RATE_LIMITS=off: rate limits and login throttles are switched off';

let first: SpawnedGateway;
let second: SpawnedGateway;
/** RATE_LIMITS=on, no REDIS_URL: counters in this process. */
let memory: SpawnedGateway;
/** As `memory`, behind a proxy on loopback that it trusts (TRUST_PROXY). */
let proxied: SpawnedGateway;
let off: SpawnedGateway;

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
  [memory, off, proxied] = await Promise.all([
    spawnGateway(subgraphUrls, { RATE_LIMITS: 'on', REDIS_URL: '', RATE_LIMIT_REQUESTS_PER_MINUTE: String(MEMORY_REQUESTS_PER_MINUTE), SUPERGRAPH_POLL_INTERVAL_MS: '3600000', LOG_LEVEL: 'warn' }),
    spawnGateway(subgraphUrls, { RATE_LIMITS: 'off', RATE_LIMIT_REQUESTS_PER_MINUTE: '1', SUPERGRAPH_POLL_INTERVAL_MS: '3600000', LOG_LEVEL: 'warn' }),
    spawnGateway(subgraphUrls, { RATE_LIMITS: 'on', REDIS_URL: '', TRUST_PROXY: 'loopback', RATE_LIMIT_REQUESTS_PER_MINUTE: String(MEMORY_REQUESTS_PER_MINUTE), SUPERGRAPH_POLL_INTERVAL_MS: '3600000', LOG_LEVEL: 'warn' }),
  ]);
}, 180_000);

afterAll(async () => {
  await Promise.all([first?.stop(), second?.stop(), memory?.stop(), off?.stop(), proxied?.stop()]);
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

  it('counts money mutations nested in as many fragments as the edge limits allow (the count stopped at 16 levels)', async () => {
    const user = await registerAndLogin(urls);
    const topUps = Array.from({ length: MONEY_MUTATIONS_PER_MINUTE + 1 }, (_, index) => `t${index}: creditWallet(input: { amount: { amount: "100", currency: "USD" }, idempotencyKey: "k-${randomBytes(6).toString('hex')}-${index}" }) { id }`).join(' ');
    const levels = 32;
    expectRateLimited(await gql(first.url, `mutation { ${'...{ '.repeat(levels)}${topUps} ${'} '.repeat(levels)}}`, {}, user.accessToken));
    const wallet = await gql(platformUrl, `{ wallet(currency: "USD") { id } }`, {}, user.accessToken);
    expect(wallet.errors).toBeUndefined();
    expect(wallet.data!.wallet).toBeNull();
  });
});

/** Opens a graphql-ws socket and sends connection_init: acknowledged, or closed with a code and reason. */
async function connect(gatewayUrl: string, token: string): Promise<{ acked: true } | { acked: false; code: number; reason: string }> {
  const socket = new WebSocket(wsUrl(gatewayUrl), 'graphql-transport-ws');
  try {
    return await new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.once('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } })));
      socket.on('message', (data) => {
        if ((JSON.parse(String(data)) as { type: string }).type === 'connection_ack') resolve({ acked: true });
      });
      socket.once('close', (code, reason) => resolve({ acked: false, code, reason: reason.toString() }));
    });
  } finally {
    socket.close();
  }
}

describe('WebSocket connections', () => {
  it('spend the per-client request budget on both gateways; over it, connection_init is closed 4429 with RATE_LIMITED and retryAfterSeconds', async () => {
    const user = await registerAndLogin(urls);
    const half = REQUESTS_PER_MINUTE / 2;
    for (let request = 0; request < half; request += 1) expect((await gql(first.url, `{ me { id } }`, {}, user.accessToken)).status).toBe(200);
    for (let connection = 0; connection < half; connection += 1) expect(await connect(connection % 2 === 0 ? first.url : second.url, user.accessToken)).toEqual({ acked: true });
    const refused = await connect(second.url, user.accessToken);
    expect(refused.acked).toBe(false);
    if (refused.acked) return;
    expect(refused.code).toBe(4429);
    const reason = JSON.parse(refused.reason) as { message: string; extensions: { code: string; retryAfterSeconds: number } };
    expect(reason.extensions.code).toBe('RATE_LIMITED');
    expect(reason.extensions.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(reason.message).toContain(`try again in ${reason.extensions.retryAfterSeconds} s`);
    // The same budget: HTTP is refused too, and another user still connects.
    expectRateLimited(await gql(first.url, `{ me { id } }`, {}, user.accessToken));
    const other = await registerAndLogin(urls);
    expect(await connect(first.url, other.accessToken)).toEqual({ acked: true });
  });
});

describe('in memory, without REDIS_URL', () => {
  it('refuses a client over its budget with 429, Retry-After and retryAfterSeconds, counting in this process alone', async () => {
    const user = await registerAndLogin(urls);
    for (let request = 0; request < MEMORY_REQUESTS_PER_MINUTE; request += 1) {
      expect((await gql(memory.url, `{ me { id } }`, {}, user.accessToken)).data).toEqual({ me: { id: user.id } });
    }
    expectRateLimited(await gql(memory.url, `{ me { id } }`, {}, user.accessToken));
    // The Redis-shared gateways never saw these requests.
    expect((await gql(first.url, `{ me { id } }`, {}, user.accessToken)).data).toEqual({ me: { id: user.id } });
    expect(memory.output()).not.toContain(OFF_WARNING);
  });
});

describe('behind a proxy (TRUST_PROXY)', () => {
  const anonymous = (url: string, client: string) => gql(url, `{ __typename }`, {}, undefined, { 'x-forwarded-for': client });

  it("counts each client behind a trusted proxy on its own, by X-Forwarded-For (found by the auth probe: behind an ingress every client shared one budget)", async () => {
    for (let request = 0; request < MEMORY_REQUESTS_PER_MINUTE; request += 1) expect((await anonymous(proxied.url, '198.51.100.7')).status).toBe(200);
    expectRateLimited(await anonymous(proxied.url, '198.51.100.7'));
    // Another client through the same proxy has a budget of its own; so does one the header names first.
    expect((await anonymous(proxied.url, '198.51.100.8')).status).toBe(200);
    expect((await anonymous(proxied.url, '203.0.113.1, 198.51.100.9')).status).toBe(200);
    // A WebSocket connection is counted for the forwarded client too.
    const socket = await new Promise<number>((resolve) => {
      const ws = new WebSocket(wsUrl(proxied.url), 'graphql-transport-ws', { headers: { 'x-forwarded-for': '198.51.100.7' } });
      ws.on('open', () => ws.send(JSON.stringify({ type: 'connection_init', payload: {} })));
      ws.on('close', (code) => resolve(code));
      ws.on('message', () => ws.close(1000));
    });
    expect(socket).toBe(4429);
  });

  it('ignores X-Forwarded-For from a client when no proxy is trusted: a sender cannot pick its address', async () => {
    for (let request = 0; request < MEMORY_REQUESTS_PER_MINUTE; request += 1) {
      const response = await anonymous(memory.url, `192.0.2.${request + 1}`);
      if (response.status === 429) break; // the address's budget was partly spent by the test above
    }
    expectRateLimited(await anonymous(memory.url, '192.0.2.200'));
  });
});

describe('RATE_LIMITS=off', () => {
  it('warns in the log at start and limits nothing (a budget of 1 request per minute is ignored)', async () => {
    expect(off.output()).toContain(OFF_WARNING);
    expect(first.output()).not.toContain(OFF_WARNING);
    const user = await registerAndLogin(urls);
    for (let request = 0; request < 5; request += 1) expect((await gql(off.url, `{ me { id } }`, {}, user.accessToken)).status).toBe(200);
    expect(await connect(off.url, user.accessToken)).toEqual({ acked: true });
  });
});
