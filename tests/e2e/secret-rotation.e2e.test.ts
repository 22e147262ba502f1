// Proves SERVICE_SECRET rotates without downtime, on platforms started in this process over one
// data folder (or a PostgreSQL database of the test's own): started with secret A, then with B
// current and A previous while requests flow (a process still on A keeps getting service tokens,
// one with an unknown secret does not, the signing key and a merchant's webhook secret sealed
// under A open and are sealed again under B), then with B alone; and that production refuses a
// placeholder secret.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openServiceDatabase, resolveDatabaseTarget } from '@paygraph/db';
import { serviceCredential } from '@paygraph/identity';
import { schema as notificationsSchema } from '../../subgraphs/notifications/src/db/schema';
import { createSecretSealer as createWebhookSecretSealer } from '../../subgraphs/notifications/src/webhooks/secrets';
import { gql, loginAs, registerAndLogin, TEST_PASSWORD } from '@paygraph/testing';
import { startTestPlatform, type Platform } from '@paygraph/platform';

const secretA = randomBytes(32).toString('base64url');
const secretB = randomBytes(32).toString('base64url');
const dataDir = mkdtempSync(path.join(tmpdir(), 'paygraph-rotation-'));
let database: { url: string; drop(): Promise<void> } | null = null;

beforeAll(async () => {
  const serverUrl = process.env.DATABASE_URL;
  if (!serverUrl) return;
  // Its own database: the shared test database's signing key is sealed with the test secret.
  const name = `paygraph_rotation_${randomBytes(4).toString('hex')}`;
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  database = {
    url: url.toString(),
    drop: async () => {
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
    },
  };
});

afterAll(async () => {
  await database?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

const start = (secrets: Record<string, string>) =>
  startTestPlatform({ env: { DATA_DIR: dataDir, RATE_LIMITS: 'off', ...(database ? { DATABASE_URL: database.url } : {}), ...secrets } });

/** The webhook secrets as the notifications database holds them, opened with B alone (null: not readable so). */
async function sealedWebhookSecrets(): Promise<{ underBAlone: string | null }[]> {
  const target = resolveDatabaseTarget('notifications', { ...process.env, ...(database ? { DATABASE_URL: database.url } : {}) }, dataDir);
  const notifications = await openServiceDatabase({ service: 'notifications', target, schema: notificationsSchema, migrationsFolder: new URL('../../subgraphs/notifications/drizzle', import.meta.url).pathname });
  try {
    const rows = await notifications.query<{ secret_sealed: string }>(`select secret_sealed from notifications.webhook_endpoints`);
    const underB = createWebhookSecretSealer(secretB);
    return rows.map((row) => {
      try {
        return { underBAlone: underB.open(row.secret_sealed) };
      } catch {
        return { underBAlone: null };
      }
    });
  } finally {
    await notifications.close();
  }
}

async function serviceTokenStatus(platform: Platform, secret: string): Promise<number> {
  const origin = new URL(platform.subgraphs.get('auth')!.url).origin;
  const response = await fetch(`${origin}/internal/service-token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ service: 'risk', credential: serviceCredential(secret, 'risk') }),
  });
  return response.status;
}

it('rotates the service secret while requests flow, then runs on the new one alone', async () => {
  let platform = await start({ SERVICE_SECRET: secretA });
  const urls = { register: platform.gatewayUrl!, login: platform.gatewayUrl! };
  const user = await registerAndLogin(urls);
  // A merchant's webhook signing secret, sealed under A.
  const merchant = await registerAndLogin(urls, 'MERCHANT');
  const registered = await gql(urls.register, `mutation { registerWebhookEndpoint(input: { url: "https://hooks.example.com/paygraph" }) { id secret } }`, {}, merchant.accessToken);
  const webhookSecret = registered.data?.registerWebhookEndpoint?.secret as string;
  expect(webhookSecret).toMatch(/^whsec_/);
  await platform.stop();

  platform = await start({ SERVICE_SECRET: secretB, SERVICE_SECRET_PREVIOUS: secretA });
  try {
    const gatewayUrl = platform.gatewayUrl!;
    // Requests flow through the gateway (services call each other with credentials from B) while
    // a process still configured with A, and one with an unknown secret, ask for service tokens.
    const flowing = Array.from({ length: 20 }, async (_, index) => {
      const session = await loginAs(gatewayUrl, user.email, TEST_PASSWORD);
      const topUp = await gql(gatewayUrl, `mutation($input: CreditWalletInput!) { creditWallet(input: $input) { balance { amount } } }`, { input: { amount: { amount: '100', currency: 'USD' }, idempotencyKey: `rot-${index}-${randomBytes(4).toString('hex')}` } }, session.accessToken);
      return topUp.errors ? JSON.stringify(topUp.errors) : 'ok';
    });
    const oldProcess = Array.from({ length: 10 }, () => serviceTokenStatus(platform, secretA));
    const stranger = serviceTokenStatus(platform, randomBytes(32).toString('base64url'));
    expect(await Promise.all(flowing)).toEqual(Array(20).fill('ok'));
    expect(await Promise.all(oldProcess)).toEqual(Array(10).fill(200));
    expect(await stranger).toBe(401);
    expect(await serviceTokenStatus(platform, secretB)).toBe(200);
  } finally {
    await platform.stop();
  }
  // Notifications sealed the merchant's secret again under B at start-up.
  expect(await sealedWebhookSecrets()).toContainEqual({ underBAlone: webhookSecret });

  // The signing key was sealed again under B: the previous secret can go.
  platform = await start({ SERVICE_SECRET: secretB });
  try {
    const session = await loginAs(platform.gatewayUrl!, user.email, TEST_PASSWORD);
    const me = await gql(platform.gatewayUrl!, `{ me { id } }`, {}, session.accessToken);
    expect(me.data?.me?.id).toBe(user.id);
    expect(await serviceTokenStatus(platform, secretA)).toBe(401);
  } finally {
    await platform.stop();
  }
}, 180_000);

it('refuses a placeholder-looking secret in production', async () => {
  await expect(startTestPlatform({ env: { NODE_ENV: 'production', SERVICE_SECRET: 'change-me-change-me-change-me-change-me' } })).rejects.toThrow(
    /SERVICE_SECRET looks like a placeholder/,
  );
});
