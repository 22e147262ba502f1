// Proves that a subscription lives no longer than its access token: on a platform whose tokens
// last 2 s, a subscription ends with UNAUTHENTICATED when the token expires and the socket closes
// with 4401; reconnecting with the expired token is refused with 4403.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { tokenExpiresAtMs } from '@paygraph/identity';
import { registerAndLogin } from '@paygraph/testing';
import { startTestPlatform, type Platform } from '@paygraph/platform';
import { subscribe, wsClient } from '../support/subscriptions';

let platform: Platform;

beforeAll(async () => {
  platform = await startTestPlatform({ env: { ACCESS_TOKEN_TTL_SECONDS: '2' } });
});

afterAll(async () => {
  await platform?.stop();
});

it('ends the subscription when the token expires, then refuses the expired token', async () => {
  const url = platform.gatewayUrl!;
  const buyer = await registerAndLogin({ register: url, login: url });
  // When the token expires, from its own claim (the login's round trip may take a while on a busy machine).
  const expiresAtMs = tokenExpiresAtMs(`Bearer ${buyer.accessToken}`)!;
  let closed: { code: number; reason: string } | undefined;
  const client = wsClient(url, buyer.accessToken, (event) => (closed = event));
  const subscription = subscribe(client, `subscription { paymentStatusChanged { sequence status } }`);
  const [ended] = await subscription.take(1, 6_000);
  expect(ended!.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  expect(ended!.errors?.[0]?.message).toMatch(/expired/);
  // Not before the token expired.
  expect(Date.now()).toBeGreaterThanOrEqual(expiresAtMs);
  await subscription.completed;
  await expect.poll(() => closed?.code, { timeout: 2_000 }).toBe(4401);
  await client.dispose();

  let refused: { code: number } | undefined;
  const again = wsClient(url, buyer.accessToken, (event) => (refused = event));
  const second = subscribe(again, `subscription { paymentStatusChanged { sequence } }`);
  await second.failure;
  expect(refused?.code).toBe(4403);
  await again.dispose();
});
