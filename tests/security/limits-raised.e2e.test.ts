// Proves issue 11's last line of defence: with every operation limit and the cost limit raised to
// their maxima at the gateway AND in every subgraph (a platform of its own, `npm start` with the
// settings in its environment, which every service reads), what the static limits no longer stop
// ends in an error for that one request (the response ceiling, the deadline) and the process lives:
// /health stays 200 and an ordinary query still works.
//
// The 51-level wallets query of the issue is still refused there, by cost: its estimate (5 assumed
// wallets a level, about 7.5e17) is above any OPERATION_COST_MAX the setting accepts (at most 1e9).
// The deepest wallets query that raised cost admits (25 levels; 2^12 wallets in its answer, about
// 280 KB), and 200 aliases of a 19-level one (about 7 MB, seconds of work), reach the subgraphs and
// are ended by the ceiling and the deadline.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ownDatabaseWhenShared, type OwnDatabase } from '../support/own-database';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorCode, gql, registerAndLogin, type TestUser } from '@paygraph/testing';
import { spawnGateway, type SpawnedGateway } from '../support/spawn-gateway';
import { spawnPlatform, type SpawnedPlatform } from '../support/spawn-platform';

/** Every operation limit and the cost at the highest value its setting accepts (packages/config limits.ts). */
const RAISED = {
  OPERATION_DEPTH_MAX: '1000',
  OPERATION_HEIGHT_MAX: '100000',
  OPERATION_ALIASES_MAX: '100000',
  OPERATION_ROOT_FIELDS_MAX: '10000',
  OPERATION_TOKENS_MAX: '1000000',
  OPERATION_DIRECTIVES_PER_FIELD_MAX: '1000',
  OPERATION_COST_MAX: '1000000000',
};
const RESPONSE_SIZE_MAX_BYTES = 65_536;
// Well under what the gateway spends on the 200-alias query below (about a second planning it, then
// seconds fetching and merging 7 MB; it was under one second in a CI run, so 1 s left no margin),
// and well over an ordinary query's few tens of milliseconds, which this gateway must still answer.
const REQUEST_TIMEOUT_MS = 400;

// On PostgreSQL this platform gets a database of its own: its workers never claim the suite's work.
let ownDatabase: OwnDatabase | undefined;
const dataDir = mkdtempSync(path.join(tmpdir(), 'paygraph-limits-raised-'));

/** Raised limits and a 64 KiB response ceiling (the deadline stays at its default, 15 s). */
let platform: SpawnedPlatform;
/** A gateway on the same subgraphs: raised limits, the largest ceiling and a short deadline. */
let deadline: SpawnedGateway;
let buyer: TestUser;

/** `me { wallets { owner { wallets ... { id } } } }` nested to `levels` fields. */
function walletsSelection(levels: number): string {
  let selection = 'id';
  for (let level = levels - 1; level >= 1; level -= 1) selection = `${level % 2 === 1 ? 'wallets' : 'owner'} { ${selection} }`;
  return `me { ${selection} }`;
}

async function metrics(gatewayUrl: string): Promise<{ fetches: number; refused: (code: string) => number }> {
  const text = await (await fetch(new URL('/metrics', gatewayUrl))).text();
  let fetches = 0;
  for (const match of text.matchAll(/^subgraph_fetch_duration_seconds_count\{[^}]*\} (\d+)$/gm)) fetches += Number(match[1]);
  const refused = (code: string) => Number(new RegExp(`^graphql_operations_refused_total\\{code="${code}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
  return { fetches, refused };
}

const healthy = async (gatewayUrl: string) => (await fetch(new URL('/health', gatewayUrl))).status;

/** An ordinary query of the README: the buyer and the currencies of their two wallets. */
async function expectOrdinaryQueryWorks(gatewayUrl: string): Promise<void> {
  const ordinary = await gql(gatewayUrl, `{ me { id wallets { currency } } }`, {}, buyer.accessToken);
  expect(ordinary.errors).toBeUndefined();
  expect(ordinary.data!.me.id).toBe(buyer.id);
  expect(ordinary.data!.me.wallets.map((wallet: { currency: string }) => wallet.currency).sort()).toEqual(['EUR', 'USD']);
}

beforeAll(async () => {
  ownDatabase = await ownDatabaseWhenShared('limits_raised');
  platform = await spawnPlatform({ DATA_DIR: dataDir, ...ownDatabase.env, ...RAISED, RESPONSE_SIZE_MAX_BYTES: String(RESPONSE_SIZE_MAX_BYTES) });
  deadline = await spawnGateway(platform.subgraphUrls, {
    ...RAISED,
    RESPONSE_SIZE_MAX_BYTES: '1073741824',
    REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
    SUPERGRAPH_POLL_INTERVAL_MS: '3600000',
  });
  buyer = await registerAndLogin({ register: platform.gatewayUrl, login: platform.gatewayUrl });
  for (const currency of ['USD', 'EUR']) {
    const credited = await gql(platform.gatewayUrl, `mutation($input: CreditWalletInput!) { creditWallet(input: $input) { id } }`, { input: { amount: { amount: '100', currency }, idempotencyKey: `key-${randomBytes(6).toString('hex')}` } }, buyer.accessToken);
    expect(credited.errors).toBeUndefined();
  }
}, 300_000);

afterAll(async () => {
  await deadline?.stop();
  await platform?.stop();
  rmSync(dataDir, { recursive: true, force: true });
  await ownDatabase?.drop();
}, 60_000);

describe('with every limit raised at the gateway and in every subgraph', () => {
  it('still refuses the 51-level wallets query by its estimated cost, above the highest OPERATION_COST_MAX', async () => {
    const refused = await gql(platform.gatewayUrl, `{ ${walletsSelection(51)} }`, {}, buyer.accessToken);
    expect(errorCode(refused)).toBe('COST_ESTIMATED_TOO_EXPENSIVE');
    expect(refused.errors![0]!.message).toMatch(/estimated cost \d+ exceeds OPERATION_COST_MAX \(1000000000\)/);
    // Its depth, height and tokens pass the raised limits: only cost stopped it.
    expect(refused.errors![0]!.message).not.toMatch(/DEPTH|HEIGHT|TOKENS/);
  });

  it('ends the deepest wallets query the raised cost admits with RESPONSE_TOO_LARGE; /health stays 200 and an ordinary query works', async () => {
    const before = await metrics(platform.gatewayUrl);
    const refused = await gql(platform.gatewayUrl, `{ ${walletsSelection(25)} }`, {}, buyer.accessToken);
    expect(errorCode(refused)).toBe('RESPONSE_TOO_LARGE');
    expect(refused.errors![0]!.message).toContain(`RESPONSE_SIZE_MAX_BYTES is ${RESPONSE_SIZE_MAX_BYTES}`);
    expect(refused.data ?? null).toBeNull();
    const after = await metrics(platform.gatewayUrl);
    // It passed every static check (gateway and subgraphs) and was ended while fetching.
    expect(after.fetches - before.fetches).toBeGreaterThanOrEqual(2);
    expect(after.refused('RESPONSE_TOO_LARGE')).toBe(before.refused('RESPONSE_TOO_LARGE') + 1);
    expect(await healthy(platform.gatewayUrl)).toBe(200);
    await expectOrdinaryQueryWorks(platform.gatewayUrl);
  });

  it('ends 200 aliases of a 19-level wallets query at REQUEST_TIMEOUT_MS with REQUEST_TIMEOUT (504), twice; the gateway and the platform keep answering', async () => {
    const selection = walletsSelection(19);
    const aliases = Array.from({ length: 200 }, (_, index) => `a${index}: ${selection}`).join(' ');
    // The first time the gateway plans it (about a second of synchronous work, past the deadline:
    // no fetch goes out after it); the second time the plan is cached, every fetch goes out in time
    // and merging several MB of answers outlasts the deadline. Both end in REQUEST_TIMEOUT with no
    // data, once the gateway has control again: a timer cannot interrupt synchronous work.
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const before = await metrics(deadline.url);
      const started = performance.now();
      const late = await gql(deadline.url, `{ ${aliases} }`, {}, buyer.accessToken);
      expect(performance.now() - started).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 50);
      expect(late.status).toBe(504);
      expect(errorCode(late)).toBe('REQUEST_TIMEOUT');
      expect(late.errors).toHaveLength(1);
      expect(late.errors![0]!.message).toContain(`REQUEST_TIMEOUT_MS is ${REQUEST_TIMEOUT_MS}`);
      expect(late.data ?? null).toBeNull();
      const after = await metrics(deadline.url);
      expect(after.refused('REQUEST_TIMEOUT')).toBe(before.refused('REQUEST_TIMEOUT') + 1);
      expect(await healthy(deadline.url)).toBe(200);
    }
    expect(await healthy(platform.gatewayUrl)).toBe(200);
    await expectOrdinaryQueryWorks(platform.gatewayUrl);
    await expectOrdinaryQueryWorks(deadline.url);
  });
});
