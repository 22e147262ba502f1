// Proves SERVICE_SECRET rotates without downtime, on platforms started in this process over one
// data folder (or a PostgreSQL database of the test's own): started with secret A, then with B
// current and A previous while requests flow (a process still on A keeps getting service tokens,
// one with an unknown secret does not, the signing key and a merchant's webhook secret sealed
// under A open and are sealed again under B), then with B alone; and that production refuses a
// placeholder secret, in the services and in the standalone gateway process alike. Each re-seal
// is in the audit trail (secret.resealed, actor service:auth / service:notifications).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { openServiceDatabase, resolveDatabaseTarget } from '@paygraph/db';
import { createOwnDatabase } from '@paygraph/db/testing';
import { serviceCredential } from '@paygraph/identity';
import { schema as notificationsSchema } from '../../subgraphs/notifications/src/db/schema';
import { createSecretSealer as createWebhookSecretSealer } from '../../subgraphs/notifications/src/webhooks/secrets';
import { gql, loginAs, registerAndLogin, TEST_PASSWORD } from '@paygraph/testing';
import { startTestPlatform, type Platform } from '@paygraph/platform';
import { spawnGateway, type SpawnedGateway } from '../support/spawn-gateway';

const secretA = randomBytes(32).toString('base64url');
const secretB = randomBytes(32).toString('base64url');
const dataDir = mkdtempSync(path.join(tmpdir(), 'paygraph-rotation-'));
let database: { url: string; drop(): Promise<void> } | null = null;

beforeAll(async () => {
  const serverUrl = process.env.DATABASE_URL;
  if (!serverUrl) return;
  // Its own database: the shared test database's signing key is sealed with the test secret.
  database = await createOwnDatabase(serverUrl, 'rotation');
});

afterAll(async () => {
  await database?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

const start = (secrets: Record<string, string>) =>
  startTestPlatform({ env: { DATA_DIR: dataDir, RATE_LIMITS: 'off', ...(database ? { DATABASE_URL: database.url } : {}), ...secrets } });

/** A service's database as the test's platforms use it (PGlite in the data folder, or the test's PostgreSQL database). */
function openDatabaseOf<S extends Record<string, unknown>>(service: string, schema: S) {
  const target = resolveDatabaseTarget(service, { ...process.env, ...(database ? { DATABASE_URL: database.url } : {}) }, dataDir);
  return openServiceDatabase({ service, target, schema, migrationsFolder: new URL(`../../subgraphs/${service}/drizzle`, import.meta.url).pathname });
}

/** The secret.resealed audit records as users holds them, by recording service. */
async function resealRecords(): Promise<{ actor_id: string; subject_id: string; outcome: string; service: string; details: string }[]> {
  const users = await openDatabaseOf('users', {});
  try {
    return await users.query(`select actor_id, subject_id, outcome, service, details from users.audit_events where type = 'secret.resealed' order by service, position`);
  } finally {
    await users.close();
  }
}

/** What the start with B current and A previous records: the signing key and the one merchant secret sealed again. */
const RESEALED_UNDER_B = [
  { actor_id: 'service:auth', subject_id: 'signing-key-encryption', outcome: 'SUCCESS', service: 'auth', details: JSON.stringify({ purpose: 'signing-key-encryption', count: 1 }) },
  { actor_id: 'service:notifications', subject_id: 'webhook-secret-encryption', outcome: 'SUCCESS', service: 'notifications', details: JSON.stringify({ purpose: 'webhook-secret-encryption', count: 1 }) },
];

/** The webhook secrets as the notifications database holds them, opened with B alone (null: not readable so). */
async function sealedWebhookSecrets(): Promise<{ underBAlone: string | null }[]> {
  const notifications = await openDatabaseOf('notifications', notificationsSchema);
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
    // Each re-seal under B is audited by the service that did it (and auth's is logged too).
    await vi.waitFor(async () => expect(await resealRecords()).toEqual(RESEALED_UNDER_B), { timeout: 15_000, interval: 200 });
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
  // Nothing was left to seal again: no new records.
  expect(await resealRecords()).toEqual(RESEALED_UNDER_B);
}, 180_000);

it('refuses a placeholder-looking secret in production', async () => {
  await expect(startTestPlatform({ env: { NODE_ENV: 'production', SERVICE_SECRET: 'change-me-change-me-change-me-change-me' } })).rejects.toThrow(
    /SERVICE_SECRET looks like a placeholder/,
  );
});

/** The standalone gateway's start-up output when it refuses to start; a gateway that starts is stopped and fails the test. */
async function gatewayRefusal(env: Record<string, string>): Promise<string> {
  let started: SpawnedGateway;
  try {
    started = await spawnGateway({}, env);
  } catch (error) {
    return (error as Error).message;
  }
  await started.stop();
  throw new Error('the gateway started');
}

it('the standalone gateway process refuses a placeholder-looking secret in production too', async () => {
  // It exits at start-up (status 2) with the same message as the services, before opening anything.
  expect(await gatewayRefusal({ NODE_ENV: 'production', SERVICE_SECRET: 'change-me-change-me-change-me-change-me' })).toMatch(
    /the gateway exited:[\s\S]*SERVICE_SECRET looks like a placeholder/,
  );
  expect(await gatewayRefusal({ NODE_ENV: 'production', SERVICE_SECRET: randomBytes(32).toString('base64url'), SERVICE_SECRET_PREVIOUS: 'a'.repeat(40) })).toMatch(
    /the gateway exited:[\s\S]*SERVICE_SECRET_PREVIOUS has too few distinct characters/,
  );
}, 120_000);
