// Proves that registerUser is throttled per client: against the real users subgraph (RATE_LIMITS=on,
// 3 sign-ups per hour), a client posing with the gateway's signed client-address header gets 3 and
// then RATE_LIMITED with retryAfterSeconds, another client still signs up, a forged header counts as
// the caller's own address, and an admin creating users is not throttled.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CLIENT_ADDRESS_HEADER, signClientAddress } from '@paygraph/identity';
import { TEST_PASSWORD, errorCode, gql, loginAs, uniqueEmail } from '@paygraph/testing';
import { subgraphTest } from '@paygraph/platform/fixtures';

const REGISTRATIONS_PER_HOUR = 3;
const REGISTER = `mutation($input: RegisterUserInput!) { registerUser(input: $input) { id } }`;
const adminEmail = uniqueEmail('admin');
const adminPassword = `admin password ${randomBytes(4).toString('hex')}`;

// users and auth (registration stores the credentials there; the admin logs in there).
const test = subgraphTest({
  subgraphs: ['users', 'auth'],
  env: { RATE_LIMITS: 'on', RATE_LIMIT_REGISTRATIONS_PER_HOUR: String(REGISTRATIONS_PER_HOUR), RATE_LIMIT_PREFIX: `users-test-${randomBytes(4).toString('hex')}`, ADMIN_EMAIL: adminEmail, ADMIN_PASSWORD: adminPassword },
});
let usersUrl: string;
let authUrl: string;

test.beforeAll(({ identity }) => {
  usersUrl = identity.register;
  authUrl = identity.login;
});

const newClient = () => `203.0.113.${randomBytes(1)[0]}-${randomBytes(3).toString('hex')}`;
const register = (headers: Record<string, string>, token?: string) =>
  gql(usersUrl, REGISTER, { input: { email: uniqueEmail(), password: TEST_PASSWORD, name: 'Someone', role: 'BUYER' } }, token, headers);
const asClient = (client: string) => ({ [CLIENT_ADDRESS_HEADER]: signClientAddress(process.env.SERVICE_SECRET!, client) });

describe('registerUser per client', () => {
  it('allows the budget, then RATE_LIMITED; another client is unaffected', async () => {
    const client = asClient(newClient());
    for (let attempt = 0; attempt < REGISTRATIONS_PER_HOUR; attempt += 1) expect((await register(client)).errors).toBeUndefined();
    const refused = await register(client);
    expect(errorCode(refused)).toBe('RATE_LIMITED');
    expect(refused.errors![0]!.extensions!.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect((await register(asClient(newClient()))).errors).toBeUndefined();
  });

  it('counts a forged client header as the caller itself, and does not throttle an admin', async () => {
    const admin = await loginAs(authUrl, adminEmail, adminPassword);
    for (let attempt = 0; attempt < REGISTRATIONS_PER_HOUR; attempt += 1) expect((await register({})).errors).toBeUndefined();
    expect(errorCode(await register({ [CLIENT_ADDRESS_HEADER]: `198.51.100.7 ${'A'.repeat(43)}` }))).toBe('RATE_LIMITED');
    for (let attempt = 0; attempt < REGISTRATIONS_PER_HOUR + 1; attempt += 1) expect((await register({}, admin.accessToken)).errors).toBeUndefined();
  });
});
