// Proves what `npm start` promises a user: it prints the gateway URL, stops cleanly on Ctrl-C
// (exit code 0), and the data written before a restart is there after it (embedded PGlite on disk,
// or the server named by DATABASE_URL).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { TEST_PASSWORD, gql, registerAndLogin } from '@paygraph/testing';
import { spawnPlatform } from '../support/spawn-platform';

const dataDir = mkdtempSync(path.join(tmpdir(), 'paygraph-lifecycle-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

it('keeps users and sessions across a restart and stops cleanly on Ctrl-C', async () => {
  const first = await spawnPlatform({ DATA_DIR: dataDir });
  expect(first.output()).toMatch(/Gateway ready at http:\/\/127\.0\.0\.1:\d+\/graphql/);
  const user = await registerAndLogin({ register: first.gatewayUrl, login: first.gatewayUrl });
  expect(await first.stop()).toBe('exited');
  expect(first.output()).toContain('SIGINT: stopping');
  expect(first.output()).toContain('stopped cleanly');

  const second = await spawnPlatform({ DATA_DIR: dataDir });
  try {
    const login = await gql(second.gatewayUrl, `mutation($input: LoginInput!) { login(input: $input) { user { id email } } }`, { input: { email: user.email, password: TEST_PASSWORD } });
    expect(login.data!.login.user).toEqual({ id: user.id, email: user.email });
    // The signing key survived too: a token issued before the restart still verifies.
    const me = await gql(second.gatewayUrl, `{ me { id } }`, {}, user.accessToken);
    expect(me.data!.me.id).toBe(user.id);
  } finally {
    expect(await second.stop()).toBe('exited');
  }
});
