// Proves what a client and an orchestrator see when PostgreSQL goes away, on the whole platform
// started in this process against a private cluster (tests/support/private-postgres.ts): under load
// a restart -m immediate and -m fast never ends the process and never answers INTERNAL_SERVER_ERROR;
// while the database is stopped every request answers SERVICE_UNAVAILABLE within 2 s and /ready is
// 503 on the subgraph and on the gateway (/health stays 200); after start requests succeed and /ready
// is 200 again; a platform started while the database is down waits for it and then comes up.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorCode, gql, registerAndLogin, type TestUser } from '@paygraph/testing';
import { startTestPlatform, type Platform } from '@paygraph/platform';
import { createPrivatePostgres, type PrivatePostgres } from '../../../tests/support/private-postgres';

/** Every request gets its answer within this, success or SERVICE_UNAVAILABLE. */
const ANSWER_BOUND_MS = 2_000;
/** How long the database stays stopped in the outage test. */
const OUTAGE_MS = 3_000;
const RECOVERY_BOUND_MS = 15_000;
const LOAD_CLIENTS = 6;

const ME = `query { me { id email } }`;

let cluster: PrivatePostgres;
let url: string;
let platform: Platform;
let gatewayUrl: string;
let user: TestUser;

function platformEnv(): Record<string, string> {
  // The platform's database and its event transport are the private cluster, nothing else.
  return { DATABASE_URL: url, EVENT_TRANSPORT: 'postgres', NATS_URL: '' };
}

beforeAll(async () => {
  cluster = await createPrivatePostgres();
  url = await cluster.createDatabase('outage');
  platform = await startTestPlatform({ env: platformEnv() });
  gatewayUrl = platform.gatewayUrl!;
  user = await registerAndLogin({ register: gatewayUrl, login: gatewayUrl });
});

afterAll(async () => {
  await platform?.stop();
  await cluster?.destroy();
});

const readyStatus = async (base: string) => {
  const response = await fetch(new URL('/ready', base), { signal: AbortSignal.timeout(5_000) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
};

async function timedMe() {
  const started = Date.now();
  const response = await gql(gatewayUrl, ME, {}, user.accessToken);
  return { response, elapsedMs: Date.now() - started };
}

async function eventually<T>(attempt: () => Promise<T>, accept: (value: T) => boolean, boundMs = RECOVERY_BOUND_MS): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = await attempt();
    if (accept(value)) return value;
    if (Date.now() - started > boundMs) return value;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('restarts under load', () => {
  for (const mode of ['immediate', 'fast'] as const) {
    it(`restart -m ${mode}: the process survives, errors are only SERVICE_UNAVAILABLE, requests succeed after`, async () => {
      let running = true;
      const codes = new Map<string, number>();
      let ok = 0;
      let slowestMs = 0;
      const workers = Array.from({ length: LOAD_CLIENTS }, async () => {
        while (running) {
          const { response, elapsedMs } = await timedMe();
          slowestMs = Math.max(slowestMs, elapsedMs);
          if (response.errors) {
            const code = String(errorCode(response));
            codes.set(code, (codes.get(code) ?? 0) + 1);
            await new Promise((resolve) => setTimeout(resolve, 20));
          } else ok += 1;
        }
      });
      await new Promise((resolve) => setTimeout(resolve, 300));
      await cluster.restart(mode);
      const after = await eventually(() => gql(gatewayUrl, ME, {}, user.accessToken), (response) => !response.errors);
      await new Promise((resolve) => setTimeout(resolve, 300));
      running = false;
      await Promise.all(workers);
      expect(after.errors).toBeUndefined();
      expect(after.data?.me?.id).toBe(user.id);
      expect(ok).toBeGreaterThan(0);
      expect([...codes.keys()].filter((code) => code !== 'SERVICE_UNAVAILABLE')).toEqual([]);
      expect(slowestMs).toBeLessThan(ANSWER_BOUND_MS);
    });
  }
});

describe('a database outage', () => {
  it('answers SERVICE_UNAVAILABLE within 2 s, /ready 503 on the subgraph and the gateway, and recovers after start', async () => {
    const usersUrl = platform.subgraphs.get('users')!.url;
    expect((await readyStatus(usersUrl)).status).toBe(200);
    const readyBefore = await eventually(() => readyStatus(gatewayUrl), (ready) => ready.status === 200);
    expect(readyBefore.status, JSON.stringify(readyBefore.body)).toBe(200);

    await cluster.stop('fast');
    const stoppedAt = Date.now();
    try {
      let requests = 0;
      while (Date.now() - stoppedAt < OUTAGE_MS) {
        const { response, elapsedMs } = await timedMe();
        requests += 1;
        expect(elapsedMs).toBeLessThan(ANSWER_BOUND_MS);
        expect(errorCode(response), JSON.stringify(response.errors)).toBe('SERVICE_UNAVAILABLE');
        expect(response.errors?.[0]?.message).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|postgres/i);
      }
      expect(requests).toBeGreaterThan(1);

      const subgraphReady = await readyStatus(usersUrl);
      expect(subgraphReady.status).toBe(503);
      expect(subgraphReady.body).toMatchObject({ status: 'unavailable', service: 'users', checks: { database: 'down' } });
      const gatewayReady = await readyStatus(gatewayUrl);
      expect(gatewayReady.status).toBe(503);
      expect(gatewayReady.body).toMatchObject({ status: 'unavailable' });
      expect((gatewayReady.body.missing as string[]).sort()).toContain('users');
      // The process is alive and says so: an orchestrator routes on /ready, restarts on /health.
      expect((await fetch(new URL('/health', gatewayUrl))).status).toBe(200);
      expect((await fetch(new URL('/health', usersUrl))).status).toBe(200);
    } finally {
      await cluster.start();
    }

    const recovered = await eventually(() => gql(gatewayUrl, ME, {}, user.accessToken), (response) => !response.errors);
    expect(recovered.errors).toBeUndefined();
    expect(recovered.data?.me?.id).toBe(user.id);
    const readyAgain = await eventually(() => readyStatus(gatewayUrl), (ready) => ready.status === 200);
    expect(readyAgain.status).toBe(200);
    expect((await readyStatus(usersUrl)).status).toBe(200);
  });
});

describe('start-up while the database is down', () => {
  it('waits for the database instead of exiting, then comes up and serves', async () => {
    // One platform per process at a time shares the database clients: stop the first one.
    await platform.stop();
    await cluster.stop('fast');
    let started: Platform | null = null;
    let startedAt = 0;
    const starting = startTestPlatform({ env: { ...platformEnv(), DATABASE_STARTUP_WAIT_SECONDS: '60' } }).then((value) => {
      startedAt = Date.now();
      started = value;
      return value;
    });
    const startRequestedAt = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(started).toBeNull();
    await cluster.start();
    platform = await starting;
    expect(startedAt - startRequestedAt).toBeGreaterThanOrEqual(2_500);
    gatewayUrl = platform.gatewayUrl!;
    const response = await eventually(() => gql(gatewayUrl, ME, {}, user.accessToken), (value) => !value.errors);
    expect(response.data?.me?.id).toBe(user.id);
    expect((await readyStatus(gatewayUrl)).status).toBe(200);
  });
});
