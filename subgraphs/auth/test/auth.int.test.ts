// Proves auth's sessions on a real database, called directly over HTTP: argon2id hashes stored
// only in auth, EdDSA access tokens verifiable with the published JWKS, refresh rotation with
// reuse detection, logout, identical errors for unknown email and wrong password, throttling,
// and service-only operations.
import { describe, expect, it } from 'vitest';
import { eq, sql } from 'drizzle-orm';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { openServiceDatabase, resolveDatabaseTarget, type ServiceDatabase } from '@paygraph/db';
import { TEST_PASSWORD, errorCode, gql, registerAndLogin, uniqueEmail } from '@paygraph/testing';
import { subgraphTest } from '@paygraph/platform/fixtures';
import { credentials, schema } from '../src/db/schema';

const LOGIN = `mutation($input: LoginInput!) { login(input: $input) { accessToken refreshToken expiresAt user { id email name role createdAt } } }`;
const REFRESH = `mutation($token: String!) { refreshToken(refreshToken: $token) { accessToken refreshToken user { id } } }`;
const LOGOUT = `mutation($token: String!) { logout(refreshToken: $token) }`;
const ME = `{ me { id } }`;

// auth and users, which owns the emails auth signs in (the real one: the tests are about both).
// Throttling on: one test here checks it (the test platform turns it off by default).
const test = subgraphTest({ subgraphs: ['auth', 'users'], env: { RATE_LIMITS: 'on' } })
  // The auth database itself, for what the API does not show (stored hashes, refresh rows).
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
let usersUrl: string;
let urls: { register: string; login: string };
let authDb: ServiceDatabase<typeof schema>;

test.beforeAll(({ identity, authDatabase }) => {
  authUrl = identity.login;
  usersUrl = identity.register;
  urls = identity;
  authDb = authDatabase;
});

const login = (email: string, password: string) => gql(authUrl, LOGIN, { input: { email, password } });

describe('login', () => {
  it('issues an EdDSA access token that verifies against the published JWKS', async () => {
    const user = await registerAndLogin(urls, 'MERCHANT');
    const result = await login(user.email.toUpperCase(), TEST_PASSWORD);
    expect(result.errors).toBeUndefined();
    const session = result.data!.login;
    expect(session.user).toMatchObject({ id: user.id, email: user.email, role: 'MERCHANT' });
    expect(decodeProtectedHeader(session.accessToken).alg).toBe('EdDSA');
    const jwks = createRemoteJWKSet(new URL('/.well-known/jwks.json', authUrl));
    const { payload } = await jwtVerify(session.accessToken, jwks, { issuer: 'paygraph-auth', audience: 'paygraph', algorithms: ['EdDSA'] });
    expect(payload).toMatchObject({ sub: user.id, role: 'MERCHANT', token_use: 'access' });
    expect(payload.exp! - payload.iat!).toBe(900);
    expect(new Date(session.expiresAt).getTime()).toBe(payload.exp! * 1000);
    expect(session.refreshToken).toMatch(/^rt_[A-Za-z0-9_-]{43}$/);
  });

  it('stores only an argon2id hash (m >= 19 MiB, t >= 2) and nothing of the password in users', async () => {
    const user = await registerAndLogin(urls);
    const [row] = await authDb.db.select().from(credentials).where(eq(credentials.userId, user.id));
    expect(row!.passwordHash).toMatch(/^\$argon2id\$v=19\$m=\d+,p=\d+,t=\d+\$/);
    const memory = /m=(\d+)/.exec(row!.passwordHash)![1];
    const iterations = /t=(\d+)/.exec(row!.passwordHash)![1];
    expect(Number(memory)).toBeGreaterThanOrEqual(19_456);
    expect(Number(iterations)).toBeGreaterThanOrEqual(2);
    expect(row!.passwordHash).not.toContain(TEST_PASSWORD);
    const usersRows = await authDb.db.execute(sql`select row_to_json(u)::text as json from users.users u where id = ${user.id}`);
    const rows = (Array.isArray(usersRows) ? usersRows : (usersRows as { rows: unknown[] }).rows) as { json: string }[];
    expect(rows).toHaveLength(1);
    expect(rows[0]!.json).not.toContain(TEST_PASSWORD);
  });

  it('answers an unknown email and a wrong password identically', async () => {
    const user = await registerAndLogin(urls);
    const wrongPassword = await login(user.email, 'not the password');
    const unknownEmail = await login(uniqueEmail('nobody'), 'not the password');
    expect(errorCode(wrongPassword)).toBe('UNAUTHENTICATED');
    expect(wrongPassword.errors![0]!.message).toBe(unknownEmail.errors![0]!.message);
    expect(wrongPassword.errors![0]!.extensions).toEqual(unknownEmail.errors![0]!.extensions);
    expect(errorCode(await login('not an email at all', 'x'))).toBe('UNAUTHENTICATED');
  });

  it('throttles repeated failures with RATE_LIMITED, even for the right password, and for unknown emails alike', async () => {
    const user = await registerAndLogin(urls);
    for (let attempt = 0; attempt < 5; attempt += 1) expect(errorCode(await login(user.email, 'wrong password'))).toBe('UNAUTHENTICATED');
    const locked = await login(user.email, TEST_PASSWORD);
    expect(errorCode(locked)).toBe('RATE_LIMITED');
    expect(locked.errors![0]!.extensions!.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    const nobody = uniqueEmail('nobody');
    for (let attempt = 0; attempt < 5; attempt += 1) await login(nobody, 'wrong password');
    expect(errorCode(await login(nobody, 'wrong password'))).toBe('RATE_LIMITED');
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect((await login(user.email, TEST_PASSWORD)).errors).toBeUndefined();
  });
});

describe('refresh tokens', () => {
  it('rotate: the new pair works, the old token stops working', async () => {
    const user = await registerAndLogin(urls);
    const rotated = await gql(authUrl, REFRESH, { token: user.refreshToken });
    expect(rotated.errors).toBeUndefined();
    const next = rotated.data!.refreshToken;
    expect(next.refreshToken).not.toBe(user.refreshToken);
    expect((await gql(usersUrl, ME, {}, next.accessToken)).data!.me.id).toBe(user.id);
    expect((await gql(authUrl, REFRESH, { token: next.refreshToken })).errors).toBeUndefined();
  });

  it('reusing a rotated token revokes the whole family', async () => {
    const user = await registerAndLogin(urls);
    const first = (await gql(authUrl, REFRESH, { token: user.refreshToken })).data!.refreshToken;
    const reuse = await gql(authUrl, REFRESH, { token: user.refreshToken });
    expect(errorCode(reuse)).toBe('UNAUTHENTICATED');
    // The legitimate successor is revoked too: the session is over.
    expect(errorCode(await gql(authUrl, REFRESH, { token: first.refreshToken }))).toBe('UNAUTHENTICATED');
  });

  it('of two concurrent uses of one token at most one succeeds', async () => {
    const user = await registerAndLogin(urls);
    const results = await Promise.all([gql(authUrl, REFRESH, { token: user.refreshToken }), gql(authUrl, REFRESH, { token: user.refreshToken })]);
    expect(results.filter((result) => !result.errors).length).toBeLessThanOrEqual(1);
  });

  it('rejects garbage and oversized tokens without an internal error', async () => {
    expect(errorCode(await gql(authUrl, REFRESH, { token: 'rt_nope' }))).toBe('UNAUTHENTICATED');
    expect(errorCode(await gql(authUrl, REFRESH, { token: 'x'.repeat(10_000) }))).toBe('UNAUTHENTICATED');
  });
});

describe('logout', () => {
  it('ends the session: its refresh token no longer works; a second logout says false', async () => {
    const user = await registerAndLogin(urls);
    expect((await gql(authUrl, LOGOUT, { token: user.refreshToken })).data).toEqual({ logout: true });
    expect(errorCode(await gql(authUrl, REFRESH, { token: user.refreshToken }))).toBe('UNAUTHENTICATED');
    expect((await gql(authUrl, LOGOUT, { token: user.refreshToken })).data).toEqual({ logout: false });
    expect((await gql(authUrl, LOGOUT, { token: 'rt_unknown' })).data).toEqual({ logout: false });
  });
});

describe('service credentials', () => {
  it('keeps setPassword and deleteCredential for services', async () => {
    const user = await registerAndLogin(urls);
    const setPassword = `mutation($id: ID!) { setPassword(userId: $id, password: "new password 123") }`;
    expect(errorCode(await gql(authUrl, setPassword, { id: user.id }))).toBe('UNAUTHENTICATED');
    expect(errorCode(await gql(authUrl, setPassword, { id: user.id }, user.accessToken))).toBe('FORBIDDEN');
    expect(errorCode(await gql(authUrl, `mutation($id: ID!) { deleteCredential(userId: $id) }`, { id: user.id }, user.accessToken))).toBe('FORBIDDEN');
    expect((await login(user.email, TEST_PASSWORD)).errors).toBeUndefined();
  });

  it('never issues a service token without the service credential', async () => {
    const endpoint = new URL('/internal/service-token', authUrl);
    const post = (body: unknown) => fetch(endpoint, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect((await post({ service: 'users', credential: 'guess' })).status).toBe(401);
    expect((await post({ service: 'nobody', credential: 'guess' })).status).toBe(401);
    expect((await post({})).status).toBe(401);
  });

  it('does not accept an access token from a user as a service credential', async () => {
    const user = await registerAndLogin(urls);
    const result = await gql(usersUrl, `query($email: String!) { userByEmail(email: $email) { id } }`, { email: user.email }, user.accessToken);
    expect(errorCode(result)).toBe('FORBIDDEN');
  });
});
