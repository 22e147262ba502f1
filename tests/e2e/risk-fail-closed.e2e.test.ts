// Proves risk fails closed: with its database gone (dropped on the PostgreSQL server while the
// platform runs), assessRisk answers an error and never a decision, so a caller can only turn it
// into a declined payment.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createOwnDatabase, type OwnDatabase } from '@paygraph/db/testing';
import { TEST_PASSWORD, errorCode, gql, registerAndLogin, uniqueEmail } from '@paygraph/testing';
import { startTestPlatform, type Platform } from '@paygraph/platform';

const serverUrl = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
let database: OwnDatabase;
const adminEmail = uniqueEmail('admin');
let platform: Platform;

beforeAll(async () => {
  database = await createOwnDatabase(serverUrl, 'risk_down');
  platform = await startTestPlatform({ env: { RISK_DATABASE_URL: database.url, ADMIN_EMAIL: adminEmail, ADMIN_PASSWORD: TEST_PASSWORD } });
});

afterAll(async () => {
  await platform?.stop();
  await database?.drop();
});

it('answers an error, never a decision, when its database is down', async () => {
  const gatewayUrl = platform.gatewayUrl!;
  const login = await gql(gatewayUrl, `mutation($input: LoginInput!) { login(input: $input) { accessToken } }`, { input: { email: adminEmail, password: TEST_PASSWORD } });
  const adminToken = login.data!.login.accessToken;
  const buyer = await registerAndLogin({ register: gatewayUrl, login: gatewayUrl });
  const assess = () => gql(gatewayUrl, `mutation($input: AssessRiskInput!) { assessRisk(input: $input) { decision } }`, { input: { userId: buyer.id, amount: { amount: '100', currency: 'USD' } } }, adminToken);

  expect((await assess()).data!.assessRisk.decision).toBe('APPROVE');
  await database.drop();
  const failed = await assess();
  expect(failed.data ?? null).toBeNull();
  expect(errorCode(failed)).toBe('INTERNAL_SERVER_ERROR');
  expect(JSON.stringify(failed)).not.toMatch(/APPROVE|REVIEW|DECLINE|database|postgres/i);
});
