// Proves that the gateway enforces the supergraph's @authenticated, @requiresScopes and @policy
// before planning, as Apollo Router does: a gateway process spawned against the platform's
// subgraphs removes each field its caller may not query, reports it as UNAUTHENTICATED or
// FORBIDDEN with its path, answers the rest, and makes no fetch to the subgraph that owns the
// removed field (counted per subgraph in that gateway's /metrics).
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { errorCode, gql, registerAndLogin, type TestUser } from '@paygraph/testing';
import { spawnGateway, type SpawnedGateway } from '../support/spawn-gateway';

const platformUrl = inject('gatewayUrl');
const subgraphUrls = inject('subgraphUrls');
const urls = { register: platformUrl, login: platformUrl };

let gateway: SpawnedGateway;
let buyer: TestUser;
let merchant: TestUser;

/** Fetches this gateway made to each subgraph so far. */
async function fetchesBySubgraph(): Promise<Record<string, number>> {
  const text = await (await fetch(new URL('/metrics', gateway.url))).text();
  const counts: Record<string, number> = {};
  for (const match of text.matchAll(/^subgraph_fetch_duration_seconds_count\{([^}]*)\} (\d+)$/gm)) {
    const subgraph = /subgraph="([^"]+)"/.exec(match[1]!)![1]!;
    counts[subgraph] = (counts[subgraph] ?? 0) + Number(match[2]);
  }
  return counts;
}

/** Runs `work` and returns how many fetches each subgraph received meanwhile. */
async function fetchesDuring<T>(work: () => Promise<T>): Promise<{ result: T; fetches: Record<string, number> }> {
  const before = await fetchesBySubgraph();
  const result = await work();
  const after = await fetchesBySubgraph();
  const fetches: Record<string, number> = {};
  for (const [subgraph, count] of Object.entries(after)) fetches[subgraph] = count - (before[subgraph] ?? 0);
  return { result, fetches };
}

beforeAll(async () => {
  // No supergraph polling: only the requests under test reach the subgraphs.
  gateway = await spawnGateway(subgraphUrls, { SUPERGRAPH_POLL_INTERVAL_MS: '3600000' });
  [buyer, merchant] = await Promise.all([registerAndLogin(urls, 'BUYER'), registerAndLogin(urls, 'MERCHANT')]);
});

afterAll(async () => {
  await gateway?.stop();
});

describe('@authenticated', () => {
  it('removes the field for an anonymous caller, without fetching it, and answers the rest', async () => {
    const { result, fetches } = await fetchesDuring(() => gql(gateway.url, `query Mixed { me { id } wallet(currency: "USD") { id balance { amount } } }`));
    expect(result.data).toEqual({ me: null, wallet: null });
    expect(result.errors).toEqual([{ message: expect.any(String), path: ['wallet'], extensions: { code: 'UNAUTHENTICATED' } }]);
    expect(fetches.wallet ?? 0).toBe(0);
    expect(fetches.ledger ?? 0).toBe(0);
    expect(fetches.users).toBe(1);
  });

  it('follows fragments, and a non-null mutation is answered data: null without running', async () => {
    const viaFragment = await fetchesDuring(() => gql(gateway.url, `query Spread { ...Parts } fragment Parts on Query { me { id } wallet(currency: "USD") { id } }`));
    expect(viaFragment.result.data).toEqual({ me: null, wallet: null });
    expect(viaFragment.result.errors!.map((error) => [error.path, error.extensions!.code])).toEqual([[['wallet'], 'UNAUTHENTICATED']]);
    expect(viaFragment.fetches.wallet ?? 0).toBe(0);

    const mutation = await fetchesDuring(() =>
      gql(gateway.url, `mutation TopUp($input: CreditWalletInput!) { creditWallet(input: $input) { id } }`, { input: { amount: { amount: '100', currency: 'USD' }, idempotencyKey: `k-${Date.now()}` } }),
    );
    expect(mutation.result.data).toBeNull();
    expect(errorCode(mutation.result)).toBe('UNAUTHENTICATED');
    expect(mutation.result.errors![0]!.path).toEqual(['creditWallet']);
    expect(Object.values(mutation.fetches).reduce((sum, count) => sum + count, 0)).toBe(0);
  });

  it('keeps working when a removed field was the only user of a variable', async () => {
    const { result, fetches } = await fetchesDuring(() => gql(gateway.url, `query Vars($currency: Currency!) { me { id } wallet(currency: $currency) { id } }`, { currency: 'USD' }));
    expect(result.data).toEqual({ me: null, wallet: null });
    expect(result.errors!.map((error) => error.extensions!.code)).toEqual(['UNAUTHENTICATED']);
    expect(fetches.wallet ?? 0).toBe(0);
  });

  it('lets a logged-in caller through unchanged', async () => {
    const result = await gql(gateway.url, `{ me { id } wallet(currency: "USD") { id } }`, {}, buyer.accessToken);
    expect(result.errors).toBeUndefined();
    expect(result.data!.me).toEqual({ id: buyer.id });
  });
});

describe('@requiresScopes (role:admin)', () => {
  it('refuses a buyer asking for an admin field with FORBIDDEN at the gateway, fetching nothing from its subgraph', async () => {
    const { result, fetches } = await fetchesDuring(() => gql(gateway.url, `query Audit { verifyLedger { ok } }`, {}, buyer.accessToken));
    expect(result.data).toBeNull();
    expect(result.errors).toEqual([{ message: expect.stringContaining('Query.verifyLedger'), path: ['verifyLedger'], extensions: { code: 'FORBIDDEN' } }]);
    expect(fetches.ledger ?? 0).toBe(0);
  });

  it('answers data: null when a refused field is non-null at the root (its null reaches the root), and runs nothing', async () => {
    const { result, fetches } = await fetchesDuring(() => gql(gateway.url, `query Both { me { id } rules: riskRules { __typename } }`, {}, buyer.accessToken));
    expect(result.data).toBeNull();
    expect(result.errors!.map((error) => [error.path, error.extensions!.code])).toEqual([[['rules'], 'FORBIDDEN']]);
    expect(fetches.risk ?? 0).toBe(0);
  });
});

describe('@policy (merchant)', () => {
  it('refuses a buyer and lets a merchant through', async () => {
    const refused = await fetchesDuring(() => gql(gateway.url, `{ webhookEndpoints { id } }`, {}, buyer.accessToken));
    expect(errorCode(refused.result)).toBe('FORBIDDEN');
    expect(refused.fetches.notifications ?? 0).toBe(0);
    const allowed = await gql(gateway.url, `{ webhookEndpoints { id } }`, {}, merchant.accessToken);
    expect(allowed.errors).toBeUndefined();
    expect(allowed.data).toEqual({ webhookEndpoints: [] });
  });
});
