// Proves the identity flows end to end through the gateway started by `npm start`: sign-up, login,
// me, refresh rotation and reuse detection, logout, input rules, role rules, forged and unsigned
// tokens refused at the gateway and at a subgraph reached directly, and the operational endpoints.
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { TEST_PASSWORD, errorCode, gql, registerAndLogin, uniqueEmail, type TestUser } from '@paygraph/testing';
import { forgedToken, unsignedToken } from '../support/tokens';

const gatewayUrl = inject('gatewayUrl');
const subgraphUrls = inject('subgraphUrls');
const origin = new URL(gatewayUrl).origin;
const urls = { register: gatewayUrl, login: gatewayUrl };

const REGISTER = `mutation Register($input: RegisterUserInput!) { registerUser(input: $input) { id name role } }`;
const LOGIN = `mutation Login($input: LoginInput!) { login(input: $input) { accessToken refreshToken expiresAt user { id email name role createdAt } } }`;
const REFRESH = `mutation Refresh($token: String!) { refreshToken(refreshToken: $token) { accessToken refreshToken user { id name } } }`;
const ME = `query Me { me { id email name role createdAt } }`;
const USER = `query User($id: ID!) { user(id: $id) { id email name role } }`;

let buyer: TestUser;
let other: TestUser;

beforeAll(async () => {
  [buyer, other] = await Promise.all([registerAndLogin(urls), registerAndLogin(urls, 'MERCHANT')]);
});

describe('sign-up and sessions through the gateway', () => {
  it('registers, logs in and answers me', async () => {
    const email = uniqueEmail('walkthrough');
    const registered = await gql(gatewayUrl, REGISTER, { input: { email, password: TEST_PASSWORD, name: 'Walk Through', role: 'BUYER' } });
    expect(registered.errors).toBeUndefined();
    // The person signing up sees the address they gave in the answer (it was null: not logged in yet).
    const withEmail = await gql(gatewayUrl, `mutation($input: RegisterUserInput!) { registerUser(input: $input) { id email } }`, { input: { email: uniqueEmail('signup'), password: TEST_PASSWORD, name: 'Sign Up', role: 'BUYER' } });
    expect(withEmail.data!.registerUser.email).toMatch(/^signup/);
    // Nobody else's address reads through it: the merchant's email stays hidden from an anonymous or other reader.
    expect((await gql(gatewayUrl, `query($id: ID!) { user(id: $id) { email } }`, { id: withEmail.data!.registerUser.id }, other.accessToken)).data!.user.email).toBeNull();
    const loggedIn = await gql(gatewayUrl, LOGIN, { input: { email, password: TEST_PASSWORD } });
    expect(loggedIn.errors).toBeUndefined();
    expect(loggedIn.data!.login.user).toMatchObject({ id: registered.data!.registerUser.id, email, name: 'Walk Through', role: 'BUYER' });
    const me = await gql(gatewayUrl, ME, {}, loggedIn.data!.login.accessToken);
    expect(me.data!.me).toMatchObject({ id: registered.data!.registerUser.id, email, role: 'BUYER' });
    expect(new Date(me.data!.me.createdAt).getTime()).toBeGreaterThan(Date.now() - 60_000);
  });

  it('logs in the first admin created from ADMIN_EMAIL / ADMIN_PASSWORD', async () => {
    const result = await gql(gatewayUrl, LOGIN, { input: { email: inject('adminEmail'), password: inject('adminPassword') } });
    expect(result.data!.login.user.role).toBe('ADMIN');
  });

  it('rotates refresh tokens and revokes the family when a rotated one is reused', async () => {
    const user = await registerAndLogin(urls);
    const next = await gql(gatewayUrl, REFRESH, { token: user.refreshToken });
    expect(next.data!.refreshToken.user.id).toBe(user.id);
    expect((await gql(gatewayUrl, ME, {}, next.data!.refreshToken.accessToken)).data!.me.id).toBe(user.id);
    expect(errorCode(await gql(gatewayUrl, REFRESH, { token: user.refreshToken }))).toBe('UNAUTHENTICATED');
    expect(errorCode(await gql(gatewayUrl, REFRESH, { token: next.data!.refreshToken.refreshToken }))).toBe('UNAUTHENTICATED');
  });

  it('logs out', async () => {
    const user = await registerAndLogin(urls);
    expect((await gql(gatewayUrl, `mutation($t: String!) { logout(refreshToken: $t) }`, { t: user.refreshToken })).data).toEqual({ logout: true });
    expect(errorCode(await gql(gatewayUrl, REFRESH, { token: user.refreshToken }))).toBe('UNAUTHENTICATED');
  });

  it('gives the same error for an unknown email and a wrong password', async () => {
    const wrong = await gql(gatewayUrl, LOGIN, { input: { email: buyer.email, password: 'wrong password' } });
    const unknown = await gql(gatewayUrl, LOGIN, { input: { email: uniqueEmail('ghost'), password: 'wrong password' } });
    expect(wrong.errors).toEqual(unknown.errors);
    expect(wrong.errors![0]).toMatchObject({ message: 'Invalid email or password.', path: ['login'], extensions: { code: 'UNAUTHENTICATED' } });
    expect(wrong.errors![0]!.extensions).toEqual({ code: 'UNAUTHENTICATED' });
  });
});

describe('input rules', () => {
  const register = (input: Record<string, unknown>, token?: string) =>
    gql(gatewayUrl, REGISTER, { input: { email: uniqueEmail(), password: TEST_PASSWORD, name: 'Someone', role: 'BUYER', ...input } }, token);

  it('rejects a duplicate email', async () => {
    const result = await register({ email: buyer.email.toUpperCase() });
    expect(result.errors![0]!.extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'input.email' });
  });

  it('rejects an invalid email', async () => {
    expect((await register({ email: 'no-at-sign' })).errors![0]!.extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'input.email' });
  });

  it('rejects a 100 kB name with a clear error and creates nothing', async () => {
    const email = uniqueEmail();
    const result = await register({ email, name: 'n'.repeat(100 * 1024) });
    expect(result.status).toBe(200);
    expect(result.errors![0]).toMatchObject({ message: 'Name must be at most 100 characters', extensions: { code: 'BAD_USER_INPUT', field: 'input.name' } });
    expect((await register({ email })).errors).toBeUndefined();
  });

  it('answers a malformed query without internals', async () => {
    const result = await gql(gatewayUrl, '{ me { id ');
    expect(result.status).toBe(400);
    expect(errorCode(result)).toBe('GRAPHQL_PARSE_FAILED');
    expect(JSON.stringify(result)).not.toMatch(/stacktrace|node_modules|at [A-Za-z]+ \(/);
  });
});

describe('roles', () => {
  it('refuses a buyer creating an ADMIN', async () => {
    const result = await gql(gatewayUrl, REGISTER, { input: { email: uniqueEmail(), password: TEST_PASSWORD, name: 'Mallory', role: 'ADMIN' } }, buyer.accessToken);
    expect(errorCode(result)).toBe('FORBIDDEN');
  });

  it('lets a buyer read another user without the email, never update them', async () => {
    const read = await gql(gatewayUrl, USER, { id: other.id }, buyer.accessToken);
    expect(read.data!.user).toEqual({ id: other.id, email: null, name: 'Test MERCHANT', role: 'MERCHANT' });
    const update = await gql(gatewayUrl, `mutation($input: UpdateUserInput!) { updateUser(input: $input) { id } }`, { input: { id: other.id, name: 'Owned' } }, buyer.accessToken);
    expect(errorCode(update)).toBe('FORBIDDEN');
    expect((await gql(gatewayUrl, USER, { id: other.id }, other.accessToken)).data!.user.name).toBe('Test MERCHANT');
  });

  it('hides internal operations from the public schema', async () => {
    const result = await gql(gatewayUrl, `query($e: String!) { userByEmail(email: $e) { id } }`, { e: buyer.email }, buyer.accessToken);
    expect(errorCode(result)).toBe('GRAPHQL_VALIDATION_FAILED');
  });
});

describe('tokens that must not work', () => {
  it('refuses a token with a forged signature at the gateway with 401', async () => {
    const result = await gql(gatewayUrl, ME, {}, await forgedToken({ sub: buyer.id, role: 'ADMIN' }));
    expect(result.status).toBe(401);
    expect(errorCode(result)).toBe('UNAUTHENTICATED');
  });

  it('refuses an unsigned alg:none token', async () => {
    const result = await gql(gatewayUrl, ME, {}, unsignedToken({ sub: buyer.id, role: 'ADMIN' }));
    expect(result.status).toBe(401);
    expect(errorCode(result)).toBe('UNAUTHENTICATED');
  });

  it('refuses a malformed Authorization header', async () => {
    const result = await gql(gatewayUrl, ME, {}, undefined, { authorization: 'Basic abc' });
    expect(result.status).toBe(401);
  });

  it('reads the Bearer scheme in any case, as HTTP authentication schemes are (RFC 9110)', async () => {
    for (const scheme of ['bearer', 'BEARER']) {
      const result = await gql(gatewayUrl, ME, {}, undefined, { authorization: `${scheme} ${buyer.accessToken}` });
      expect(result.errors).toBeUndefined();
      expect(result.data!.me.id).toBe(buyer.id);
    }
  });

  it('refuses a forged token at a subgraph reached directly, which gives nothing that needs a login', async () => {
    const forged = await forgedToken({ sub: buyer.id, role: 'ADMIN' });
    const direct = await gql(subgraphUrls.users!, USER, { id: buyer.id }, forged);
    expect(direct.status).toBe(401);
    expect(direct.data ?? null).toBeNull();
    const anonymous = await gql(subgraphUrls.users!, USER, { id: buyer.id });
    expect(errorCode(anonymous)).toBe('UNAUTHENTICATED');
  });
});

describe('operational endpoints', () => {
  it('GET /health answers while the process is alive', async () => {
    const response = await fetch(`${origin}/health`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  it('GET /ready is 200 when every subgraph answers', async () => {
    const response = await fetch(`${origin}/ready`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ready', subgraphs: Object.fromEntries(Object.keys(subgraphUrls).map((name) => [name, 'up'])) });
  });

  it('GET /metrics exposes requests by operation and outcome and subgraph fetch latency', async () => {
    await gql(gatewayUrl, ME, {}, buyer.accessToken);
    await gql(gatewayUrl, LOGIN, { input: { email: buyer.email, password: 'wrong' } });
    const text = await (await fetch(`${origin}/metrics`)).text();
    expect(text).toMatch(/graphql_requests_total\{operation="Me",outcome="ok"\} \d+/);
    expect(text).toMatch(/graphql_requests_total\{operation="Login",outcome="error"\} \d+/);
    expect(text).toMatch(/graphql_request_duration_seconds_bucket\{le="[0-9.]+",operation="Me",outcome="ok"\}/);
    expect(text).toMatch(/subgraph_fetch_duration_seconds_count\{subgraph="users",outcome="ok"\} \d+/);
  });

  it('serves the GraphQL IDE to a browser at GET /graphql, with its assets, from the gateway itself', async () => {
    const page = await fetch(gatewayUrl, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    const html = await page.text();
    expect(html).toContain('/graphql/ide/app.js');
    expect(html).not.toMatch(/https?:\/\//);
    const script = await fetch(`${origin}/graphql/ide/app.js`);
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toMatch(/text\/javascript/);
  });

  it('propagates a request id in the response header', async () => {
    const response = await gql(gatewayUrl, ME, {}, buyer.accessToken, { 'x-request-id': 'e2e-request-1' });
    expect(response.headers.get('x-request-id')).toBe('e2e-request-1');
  });
});
