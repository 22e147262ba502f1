// Proves a gateway process spreads a subgraph's traffic over several instances and keeps answering
// when one of them stops (issue 16): the platform's subgraphs run in this process on a database of
// their own, a second users instance runs as its own process on the same database, and a gateway
// process gets USERS_URL=<second>,<first> (the instance that will stop is listed first) and
// AUTH_URL=<a closed port>,<auth> (login and the token keys must come from the auth that answers).
// Each users instance's /metrics tells how many GraphQL requests it served.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOwnDatabase, type OwnDatabase } from '@paygraph/db/testing';
import { gql, registerAndLogin, type TestUser } from '@paygraph/testing';
import { startTestPlatform, type Platform } from '@paygraph/platform';
import { TEST_SERVICE_SECRET } from '../support/constants';
import { freePort } from '../support/private-postgres';
import { PROCESS_START_TIMEOUT_MS, serviceProcess, type ServiceProcess } from '../support/service-process';
import { spawnGateway, type SpawnedGateway } from '../support/spawn-gateway';

const serverUrl = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
let database: OwnDatabase | undefined;
const dataDir = mkdtempSync(path.join(tmpdir(), 'paygraph-instances-'));

const ME = `{ me { id email } }`;
const QUERIES = 10;

/** GraphQL requests an instance has served (all operations and outcomes), from its /metrics. */
async function servedRequests(graphqlUrl: string): Promise<number> {
  const text = await (await fetch(new URL('/metrics', graphqlUrl))).text();
  let total = 0;
  for (const line of text.split('\n')) {
    const match = /^\S*graphql_requests_total(?:\{([^}]*)\})? (\d+(?:\.\d+)?)$/.exec(line);
    if (match && !/kind="composition"/.test(match[1] ?? '')) total += Number(match[2]);
  }
  return total;
}

describe('a gateway process over two instances of one subgraph', () => {
  let platform: Platform;
  let second: ServiceProcess;
  let gateway: SpawnedGateway;
  let firstUsersUrl: string;
  let user: TestUser;

  beforeAll(async () => {
    database = await createOwnDatabase(serverUrl, 'instances');
    const env = { DATABASE_URL: database.url, DATA_DIR: dataDir, SERVICE_SECRET: TEST_SERVICE_SECRET };
    platform = await startTestPlatform({ env, gateway: false });
    const subgraphUrls = Object.fromEntries([...platform.subgraphs.values()].map((subgraph) => [subgraph.name, subgraph.url]));
    firstUsersUrl = subgraphUrls.users!;
    // A second users instance as its own process (what `npm start -w subgraphs/users` runs).
    const secondPort = await freePort();
    const urls = Object.fromEntries(Object.entries(subgraphUrls).map(([name, url]) => [`${name.toUpperCase()}_URL`, url]));
    second = serviceProcess('users-2', 'subgraphs/users/src/index.ts', secondPort, { ...env, ...urls, USERS_PORT: String(secondPort), HOST: '127.0.0.1', LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn' }, /users subgraph ready at /);
    await second.start();
    const closedAuth = `http://127.0.0.1:${await freePort()}/graphql`;
    gateway = await spawnGateway(subgraphUrls, { ...env, USERS_URL: `${second.url},${firstUsersUrl}`, AUTH_URL: `${closedAuth},${subgraphUrls.auth}`, SUPERGRAPH_SOURCE: 'static' });
    user = await registerAndLogin({ register: gateway.url, login: gateway.url }, 'BUYER');
  }, PROCESS_START_TIMEOUT_MS * 2);

  afterAll(async () => {
    await gateway?.stop();
    await second?.kill().catch(() => undefined);
    await platform?.stop();
    await database?.drop().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  }, 60_000);

  it('uses both instances while both are up', async () => {
    const before = [await servedRequests(second.url), await servedRequests(firstUsersUrl)];
    for (let index = 0; index < QUERIES; index += 1) {
      const answer = await gql(gateway.url, ME, {}, user.accessToken);
      expect(answer.errors).toBeUndefined();
      expect(answer.data!.me.id).toBe(user.id);
    }
    const served = [(await servedRequests(second.url)) - before[0]!, (await servedRequests(firstUsersUrl)) - before[1]!];
    // Round robin: about half each (other services' calls to users can only add to the first).
    expect(served[0]).toBeGreaterThanOrEqual(QUERIES / 2 - 1);
    expect(served[1]).toBeGreaterThanOrEqual(QUERIES / 2 - 1);
  });

  it('keeps answering every query when the instance listed first is killed', async () => {
    await second.kill();
    const before = await servedRequests(firstUsersUrl);
    const failures: unknown[] = [];
    for (let index = 0; index < QUERIES; index += 1) {
      const answer = await gql(gateway.url, ME, {}, user.accessToken);
      if (answer.errors || answer.data?.me?.id !== user.id) failures.push(answer.errors ?? answer.data);
    }
    expect(failures).toEqual([]);
    // Every one of them went to the instance left.
    expect((await servedRequests(firstUsersUrl)) - before).toBeGreaterThanOrEqual(QUERIES);
    // A write too: the instance that refuses connections is out of rotation, so it goes to the one left.
    const renamed = await gql(gateway.url, `mutation($input: UpdateUserInput!) { updateUser(input: $input) { id name } }`, { input: { name: 'Ada Failover' } }, user.accessToken);
    expect(renamed.errors).toBeUndefined();
    expect(renamed.data!.updateUser.name).toBe('Ada Failover');
  });
});
