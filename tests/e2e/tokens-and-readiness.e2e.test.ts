// Proves, on a platform started in this process, what needs a hand on its parts: tokens signed with
// auth's real key but expired, for another audience or issuer, or of the wrong kind are refused;
// /ready reports a stopped subgraph by name with 503 and recovers when it is back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT } from 'jose';
import { openServiceDatabase, resolveDatabaseTarget, type ServiceDatabase } from '@paygraph/db';
import { errorCode, gql, registerAndLogin, type TestUser } from '@paygraph/testing';
import { startTestPlatform, type Platform } from '@paygraph/platform';
import { schema } from '../../subgraphs/auth/src/db/schema';
import { loadSigningKey, type SigningKey } from '../../subgraphs/auth/src/keys';
import { TEST_SERVICE_SECRET } from '../support/constants';

/** Short, so a token can be seen to expire. */
const ACCESS_TOKEN_TTL_SECONDS = 5;
let platform: Platform;
let gatewayUrl: string;
let authDb: ServiceDatabase<typeof schema>;
let realKey: SigningKey;
let user: TestUser;

beforeAll(async () => {
  platform = await startTestPlatform({ env: { ACCESS_TOKEN_TTL_SECONDS: String(ACCESS_TOKEN_TTL_SECONDS), SERVICE_SECRET: TEST_SERVICE_SECRET } });
  gatewayUrl = platform.gatewayUrl!;
  authDb = await openServiceDatabase({
    service: 'auth',
    target: resolveDatabaseTarget('auth', process.env, 'memory://'),
    schema,
    migrationsFolder: new URL('../../subgraphs/auth/drizzle', import.meta.url).pathname,
  });
  realKey = await loadSigningKey(authDb.db, TEST_SERVICE_SECRET);
  user = await registerAndLogin({ register: gatewayUrl, login: gatewayUrl });
});

afterAll(async () => {
  await authDb?.close();
  await platform?.stop();
});

function signWithRealKey(overrides: { audience?: string; issuer?: string; tokenUse?: string; expiresAt?: number }) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ token_use: overrides.tokenUse ?? 'access', role: 'BUYER', scope: 'users:read' })
    .setProtectedHeader({ alg: 'EdDSA', kid: realKey.kid })
    .setSubject(overrides.tokenUse === 'service' ? 'service:auth' : user.id)
    .setIssuer(overrides.issuer ?? 'paygraph-auth')
    .setAudience(overrides.audience ?? 'paygraph')
    .setIssuedAt(now - 60)
    .setExpirationTime(overrides.expiresAt ?? now + 600)
    .sign(realKey.privateKey);
}

const ME = `{ me { id } }`;

describe('tokens signed by auth but not valid here', () => {
  it('accepts the control token (same key, right claims)', async () => {
    expect((await gql(gatewayUrl, ME, {}, await signWithRealKey({}))).data!.me.id).toBe(user.id);
  });

  it('refuses an expired access token with a message saying so', async () => {
    const session = await registerAndLogin({ register: gatewayUrl, login: gatewayUrl });
    expect((await gql(gatewayUrl, ME, {}, session.accessToken)).data!.me.id).toBe(session.id);
    await new Promise((resolve) => setTimeout(resolve, (ACCESS_TOKEN_TTL_SECONDS + 1) * 1000));
    const expired = await gql(gatewayUrl, ME, {}, session.accessToken);
    expect(expired.status).toBe(401);
    expect(expired.errors![0]).toMatchObject({ message: 'The access token has expired: refresh it.', extensions: { code: 'UNAUTHENTICATED' } });

    // Refreshing, as the message asks, with the expired token still attached (clients keep it on
    // every request): the session operation runs anonymous (it was 401 with the same message).
    const REFRESH = `mutation($token: String!) { refreshToken(refreshToken: $token) { accessToken refreshToken } }`;
    const refreshed = await gql(gatewayUrl, REFRESH, { token: session.refreshToken }, session.accessToken);
    expect(refreshed.errors).toBeUndefined();
    expect((await gql(gatewayUrl, ME, {}, refreshed.data!.refreshToken.accessToken)).data!.me.id).toBe(session.id);
    // Anything beside a session field still needs a valid token, and a token that is not merely expired is refused as before.
    const mixed = await gql(gatewayUrl, `mutation($token: String!) { logout(refreshToken: $token) creditWallet(input: { amount: { amount: "1", currency: "USD" }, idempotencyKey: "k-expired" }) { id } }`, { token: refreshed.data!.refreshToken.refreshToken }, session.accessToken);
    expect(mixed.status).toBe(401);
    expect((await gql(gatewayUrl, REFRESH, { token: refreshed.data!.refreshToken.refreshToken }, `${session.accessToken}x`)).status).toBe(401);
  });

  it.each([
    ['another audience', { audience: 'someone-else' }],
    ['another issuer', { issuer: 'evil-auth' }],
    ['an expiry in the past', { expiresAt: Math.floor(Date.now() / 1000) - 5 }],
  ])('refuses a token with %s', async (_label, overrides) => {
    const result = await gql(gatewayUrl, ME, {}, await signWithRealKey(overrides));
    expect(result.status).toBe(401);
    expect(errorCode(result)).toBe('UNAUTHENTICATED');
  });

  it('refuses a service token at the public gateway', async () => {
    const result = await gql(gatewayUrl, ME, {}, await signWithRealKey({ tokenUse: 'service' }));
    expect(result.status).toBe(401);
    expect(result.errors![0]!.message).toBe('This kind of token is not accepted here.');
  });
});

describe('/ready', () => {
  it('is 503 naming a stopped subgraph, and 200 again once it is back', async () => {
    const readyUrl = new URL('/ready', gatewayUrl);
    // Access tokens from login live a few seconds in this file: this one, signed with auth's key
    // for the same user, lives ten minutes, so how long the stop takes cannot expire it.
    const token = await signWithRealKey({});
    expect((await fetch(readyUrl)).status).toBe(200);
    const users = platform.subgraphs.get('users')!;
    await users.stop();
    try {
      const query = await gql(gatewayUrl, `{ user(id: "usr_x") { id } }`, {}, token);
      // An unreachable subgraph is the retryable SERVICE_UNAVAILABLE, not an internal error (issue 10).
      expect(query.errors?.[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');
      expect(JSON.stringify(query)).not.toMatch(/127\.0\.0\.1|ECONNREFUSED|fetch failed/);
      const down = await fetch(readyUrl);
      expect(down.status).toBe(503);
      expect(await down.json()).toMatchObject({ status: 'unavailable', missing: ['users'], subgraphs: { users: 'down', auth: 'up' } });
    } finally {
      await users.restart();
    }
    expect((await fetch(readyUrl)).status).toBe(200);
    const after = await registerAndLogin({ register: gatewayUrl, login: gatewayUrl });
    expect((await gql(gatewayUrl, ME, {}, after.accessToken)).data!.me.id).toBe(after.id);
  });
});
