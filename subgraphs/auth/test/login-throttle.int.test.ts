// Proves that login throttling cannot be raced and cannot be turned against the owner: attempts are
// counted in one SQL statement before any password is checked (100 concurrent calls of the store,
// and 30 and 100 concurrent wrong logins over HTTP while the first lock lasts, pass exactly
// LOGIN_FAILURES_FREE), an attacker's
// failures leave the owner free to sign in from a clean client even past the account ceiling, and
// one client is capped across accounts; a throttled login is in the audit trail (auth.login_throttled,
// DENIED) beside the failed ones. Runs against the real auth and users subgraphs over HTTP,
// posing as several clients with the gateway's signed client-address header.
import { randomBytes } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { openServiceDatabase, resolveDatabaseTarget, type ServiceDatabase } from '@paygraph/db';
import { CLIENT_ADDRESS_HEADER, signClientAddress } from '@paygraph/identity';
import { TEST_PASSWORD, errorCode, gql, uniqueEmail } from '@paygraph/testing';
import { subgraphTest } from '@paygraph/platform/fixtures';
import { schema } from '../src/db/schema';
import { DEFAULT_LOGIN_THROTTLE, throttleKeys } from '../src/domain/throttle';
import { createAuthStore } from '../src/store/auth-store';

const LOGIN = `mutation($input: LoginInput!) { login(input: $input) { accessToken } }`;
const FAILURES_FREE = 5;
const ACCOUNT_FAILURES_MAX = 8;
const CLIENT_FAILURES_MAX = 12;
const SERVICE_SECRET = process.env.SERVICE_SECRET!;

// auth and users (the real one: login looks the email up there; users registers the accounts).
const test = subgraphTest({
  subgraphs: ['auth', 'users'],
  env: {
    RATE_LIMITS: 'on',
    LOGIN_FAILURES_FREE: String(FAILURES_FREE),
    // The first wait outlasts a burst of concurrent logins, so the count of checked passwords is exact.
    LOGIN_LOCK_SECONDS_FIRST: '60',
    LOGIN_ACCOUNT_FAILURES_MAX: String(ACCOUNT_FAILURES_MAX),
    LOGIN_CLIENT_FAILURES_MAX: String(CLIENT_FAILURES_MAX),
    RATE_LIMIT_REGISTRATIONS_PER_HOUR: '1000',
  },
})
  // The auth database itself: the store is raced directly.
  .extend('authDatabase', { scope: 'file' }, async ({ platform: _started }, { onCleanup }) => {
    const database = await openServiceDatabase({
      service: 'auth',
      target: resolveDatabaseTarget('auth', process.env, 'memory://'),
      schema,
      migrationsFolder: new URL('../drizzle', import.meta.url).pathname,
    });
    onCleanup(() => database.close());
    return database;
  });
let authUrl: string;
let urls: { register: string; login: string };
let authDb: ServiceDatabase<typeof schema>;

test.beforeAll(({ identity, authDatabase }) => {
  authUrl = identity.login;
  urls = identity;
  authDb = authDatabase;
});

/** A client address nobody else in this run uses (TEST-NET-2 and a random host part). */
const newClient = () => `198.51.${randomBytes(1)[0]}.${randomBytes(1)[0]}-${randomBytes(3).toString('hex')}`;
const loginFrom = (client: string, email: string, password: string) =>
  gql(authUrl, LOGIN, { input: { email, password } }, undefined, { [CLIENT_ADDRESS_HEADER]: signClientAddress(SERVICE_SECRET, client) });

/**
 * Signs a user up (users subgraph) and returns the email. No login here: every login of this file
 * comes from a client of its own, so the counters of 127.0.0.1, which other test files share on a
 * PostgreSQL server, never matter.
 */
async function newUser(): Promise<{ email: string }> {
  const email = uniqueEmail();
  const registered = await gql(urls.register, `mutation($input: RegisterUserInput!) { registerUser(input: $input) { id } }`, { input: { email, password: TEST_PASSWORD, name: 'Owner', role: 'BUYER' } });
  if (registered.errors) throw new Error(JSON.stringify(registered.errors));
  return { email };
}

const tally = (results: Awaited<ReturnType<typeof loginFrom>>[]) => ({
  checked: results.filter((result) => errorCode(result) === 'UNAUTHENTICATED').length,
  refused: results.filter((result) => errorCode(result) === 'RATE_LIMITED').length,
});

describe('the attempt is counted before the password is checked', () => {
  it('lets exactly the free attempts through when 100 arrive at once at the store', async () => {
    const store = createAuthStore(authDb);
    const key = throttleKeys(`race-${randomBytes(4).toString('hex')}@example.test`, newClient()).pair;
    const settings = { ...DEFAULT_LOGIN_THROTTLE, failuresFree: FAILURES_FREE };
    const attempts = await Promise.all(Array.from({ length: 100 }, () => store.consumeLoginAttempt(key, settings)));
    const admitted = attempts.filter((attempt) => attempt !== null).sort((a, b) => a! - b!);
    expect(admitted).toEqual([1, 2, 3, 4, 5]);
  });

  it('announces the wait that follows a password check in progress, not the pending bound (it said 30 s for a 1 s lock)', async () => {
    const store = createAuthStore(authDb);
    const key = throttleKeys(`pending-${randomBytes(4).toString('hex')}@example.test`, newClient()).pair;
    const settings = { ...DEFAULT_LOGIN_THROTTLE, failuresFree: FAILURES_FREE, lockSecondsFirst: 1 };
    // The fifth attempt holds the pair while its password is checked; a sixth is refused meanwhile.
    for (let attempt = 1; attempt <= FAILURES_FREE; attempt += 1) expect(await store.consumeLoginAttempt(key, settings)).toBe(attempt);
    expect(await store.consumeLoginAttempt(key, settings)).toBeNull();
    expect(await store.retryAfterSeconds(key, settings)).toBeLessThanOrEqual(2);
    // Once the check failed, the lock it earned is announced as it is.
    await store.settleLoginFailure(key, { ...settings, lockSecondsFirst: 40 });
    expect(await store.retryAfterSeconds(key, settings)).toBeGreaterThanOrEqual(39);
  });

  it.each([30, 100])('checks at most the free number of passwords for %i concurrent wrong logins', async (concurrent) => {
    const victim = await newUser();
    const client = newClient();
    const results = await Promise.all(Array.from({ length: concurrent }, () => loginFrom(client, victim.email, 'wrong password')));
    // UNAUTHENTICATED is an answer after a password check; RATE_LIMITED is refused before one.
    expect(tally(results)).toEqual({ checked: FAILURES_FREE, refused: concurrent - FAILURES_FREE });
    expect(results.find((result) => errorCode(result) === 'RATE_LIMITED')!.errors![0]!.extensions!.retryAfterSeconds).toBeGreaterThanOrEqual(1);
  });
});

describe("an attacker's failures do not lock out the owner", () => {
  it('the owner signs in from a clean client while the attacker is locked', async () => {
    const owner = await newUser();
    const attacker = newClient();
    for (let attempt = 0; attempt < FAILURES_FREE; attempt += 1) expect(errorCode(await loginFrom(attacker, owner.email, 'guess'))).toBe('UNAUTHENTICATED');
    expect(errorCode(await loginFrom(attacker, owner.email, TEST_PASSWORD))).toBe('RATE_LIMITED');
    const signedIn = await loginFrom(newClient(), owner.email, TEST_PASSWORD);
    expect(signedIn.errors).toBeUndefined();
    expect(signedIn.data!.login.accessToken).toEqual(expect.any(String));
  });

  it('past the account ceiling, clients that failed are refused, a clean client still gets its attempt', async () => {
    const owner = await newUser();
    const first = newClient();
    const second = newClient();
    // 5 failures from the first client and 3 from the second fill the ceiling of 8.
    for (let attempt = 0; attempt < FAILURES_FREE; attempt += 1) await loginFrom(first, owner.email, 'guess');
    for (let attempt = 0; attempt < ACCOUNT_FAILURES_MAX - FAILURES_FREE; attempt += 1) expect(errorCode(await loginFrom(second, owner.email, 'guess'))).toBe('UNAUTHENTICATED');
    expect(errorCode(await loginFrom(second, owner.email, 'guess'))).toBe('RATE_LIMITED');
    // A fresh client is not bound by the ceiling: its wrong password is checked, and the owner's right one works.
    expect(errorCode(await loginFrom(newClient(), owner.email, 'guess'))).toBe('UNAUTHENTICATED');
    expect((await loginFrom(newClient(), owner.email, TEST_PASSWORD)).errors).toBeUndefined();
    // The owner's success cleared the ceiling: the second client's lock is its own pair's, which it has not hit.
    expect(errorCode(await loginFrom(second, owner.email, 'guess'))).toBe('UNAUTHENTICATED');
  });
});

describe('one client across accounts', () => {
  it('is refused after the client ceiling of failures, whatever the account', async () => {
    const client = newClient();
    for (let attempt = 0; attempt < CLIENT_FAILURES_MAX; attempt += 1) {
      expect(errorCode(await loginFrom(client, `nobody-${attempt}-${randomBytes(3).toString('hex')}@example.test`, 'guess'))).toBe('UNAUTHENTICATED');
    }
    expect(errorCode(await loginFrom(client, `nobody-${randomBytes(3).toString('hex')}@example.test`, 'guess'))).toBe('RATE_LIMITED');
  });

  it('gives a successful login its attempt back', async () => {
    const user = await newUser();
    const client = newClient();
    for (let attempt = 0; attempt < CLIENT_FAILURES_MAX + 3; attempt += 1) expect((await loginFrom(client, user.email, TEST_PASSWORD)).errors).toBeUndefined();
  });
});

describe('the audit trail', () => {
  it('records a throttled login as auth.login_throttled (DENIED, no actor), beside the failed ones', async () => {
    const victim = await newUser();
    const client = newClient();
    for (let attempt = 0; attempt < FAILURES_FREE; attempt += 1) expect(errorCode(await loginFrom(client, victim.email, 'guess'))).toBe('UNAUTHENTICATED');
    expect(errorCode(await loginFrom(client, victim.email, 'guess'))).toBe('RATE_LIMITED');
    // Users holds the trail (auth appends with appendAuditEvents): read where it is kept.
    const users = await openServiceDatabase({
      service: 'users',
      target: resolveDatabaseTarget('users', process.env, 'memory://'),
      schema: {},
      migrationsFolder: new URL('../../users/drizzle', import.meta.url).pathname,
    });
    try {
      await vi.waitFor(async () => {
        const records = await users.query<{ type: string; actor_id: string | null; outcome: string; service: string }>(
          `select type, actor_id, outcome, service from users.audit_events where subject_id = $1 order by position`,
          [victim.email],
        );
        expect(records).toEqual([
          ...Array.from({ length: FAILURES_FREE }, () => ({ type: 'auth.login_failed', actor_id: null, outcome: 'FAILURE', service: 'auth' })),
          { type: 'auth.login_throttled', actor_id: null, outcome: 'DENIED', service: 'auth' },
        ]);
      }, { timeout: 10_000, interval: 100 });
    } finally {
      await users.close();
    }
  });
});
