// Proves, through the gateway with the platform in-process, that identity changes keep their
// history and are audited: changing one's own email needs the current password (missing or wrong
// is BAD_USER_INPUT and changes nothing; five wrong ones are RATE_LIMITED), a buyer on a blocklisted email domain who moves to a
// clean address is still declined by risk, display names refuse links and control characters, and
// the audit trail records sign-ups, logins and failed logins, token family revocations (logout and
// refresh-token reuse), email changes, risk rule updates, blocklist additions and removals and
// webhook endpoint changes (disable, enable, delete, secret rotation) with actor, request id and
// outcome, kept by the recording service while users is down and relayed when it is back (risk's
// audit outbox) with the time of the action, readable by admins only, never
// writable through the API and append-only in the database (a trigger refuses UPDATE and DELETE).
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { openServiceDatabase, resolveDatabaseTarget, type ServiceDatabase } from '@paygraph/db';
import { TEST_PASSWORD, errorCode, gql, loginAs, registerAndLogin, uniqueEmail, type TestUser } from '@paygraph/testing';
import { startTestPlatform, type Platform } from '@paygraph/platform';
import { schema } from '../src/db/schema';

const REGISTER = `mutation($input: RegisterUserInput!) { registerUser(input: $input) { id name } }`;
const UPDATE = `mutation($input: UpdateUserInput!) { updateUser(input: $input) { id name email } }`;
const AUDIT = `query($first: Int, $after: String, $actorId: ID, $type: String) { auditEvents(first: $first, after: $after, actorId: $actorId, type: $type) {
  edges { cursor node { id type actorId subjectId outcome requestId service details occurredAt } } pageInfo { hasNextPage endCursor } } }`;
const BLOCK = `mutation($input: BlocklistEntryInput!) { addToBlocklist(input: $input) { kind value } }`;

interface AuditView {
  id: string;
  type: string;
  actorId: string | null;
  subjectId: string | null;
  outcome: string;
  requestId: string | null;
  service: string;
  details: string | null;
  occurredAt: string;
}

const adminEmail = uniqueEmail('admin');
let platform: Platform;
let gatewayUrl: string;
let urls: { register: string; login: string };
let admin: TestUser;
let usersDatabase: ServiceDatabase<typeof schema>;

beforeAll(async () => {
  platform = await startTestPlatform({ env: { ADMIN_EMAIL: adminEmail, ADMIN_PASSWORD: TEST_PASSWORD } });
  gatewayUrl = platform.gatewayUrl!;
  urls = { register: gatewayUrl, login: gatewayUrl };
  admin = await loginAs(gatewayUrl, adminEmail, TEST_PASSWORD);
  usersDatabase = await openServiceDatabase({
    service: 'users',
    target: resolveDatabaseTarget('users', process.env, 'memory://'),
    schema,
    migrationsFolder: path.join(import.meta.dirname, '../drizzle'),
  });
});

afterAll(async () => {
  await usersDatabase?.close();
  await platform?.stop();
});

async function auditOf(filter: { actorId?: string; type?: string }): Promise<AuditView[]> {
  const result = await gql(gatewayUrl, AUDIT, { first: 100, ...filter }, admin.accessToken);
  if (result.errors) throw new Error(JSON.stringify(result.errors));
  return result.data!.auditEvents.edges.map((edge: { node: AuditView }) => edge.node);
}

async function registerWithEmail(email: string, role: 'BUYER' | 'MERCHANT' = 'BUYER'): Promise<TestUser> {
  const registered = await gql(gatewayUrl, REGISTER, { input: { email, password: TEST_PASSWORD, name: 'Blocked Buyer', role } });
  if (registered.errors) throw new Error(JSON.stringify(registered.errors));
  return loginAs(gatewayUrl, email, TEST_PASSWORD);
}

async function pay(buyer: TestUser, merchant: TestUser, amount: string): Promise<{ status: string; failureCode: string | null }> {
  const key = () => `k-${randomBytes(6).toString('hex')}`;
  const credit = await gql(gatewayUrl, `mutation($input: CreditWalletInput!) { creditWallet(input: $input) { id } }`, { input: { amount: { amount: '10000', currency: 'USD' }, idempotencyKey: key() } }, buyer.accessToken);
  if (credit.errors) throw new Error(JSON.stringify(credit.errors));
  const order = await gql(gatewayUrl, `mutation($input: CreateOrderInput!) { createOrder(input: $input) { id } }`, { input: { merchantId: merchant.id, amount: { amount, currency: 'USD' } } }, buyer.accessToken);
  if (order.errors) throw new Error(JSON.stringify(order.errors));
  const paid = await gql(gatewayUrl, `mutation($input: PayOrderInput!) { payOrder(input: $input) { status failureCode } }`, { input: { orderId: order.data!.createOrder.id, idempotencyKey: key() } }, buyer.accessToken);
  if (paid.errors) throw new Error(JSON.stringify(paid.errors));
  return paid.data!.payOrder;
}

describe('changing one\'s own email', () => {
  it('needs the current password: missing or wrong is BAD_USER_INPUT and nothing changes; right changes it', async () => {
    const user = await registerAndLogin(urls);
    const moved = uniqueEmail('moved');
    const missing = await gql(gatewayUrl, UPDATE, { input: { email: moved } }, user.accessToken);
    expect(errorCode(missing)).toBe('BAD_USER_INPUT');
    expect(missing.errors![0]!.extensions!.field).toBe('input.currentPassword');
    const wrong = await gql(gatewayUrl, UPDATE, { input: { email: moved, currentPassword: 'not the password at all' } }, user.accessToken);
    expect(errorCode(wrong)).toBe('BAD_USER_INPUT');
    expect(wrong.errors![0]!.extensions!.field).toBe('input.currentPassword');
    expect((await gql(gatewayUrl, `{ me { email } }`, {}, user.accessToken)).data!.me.email).toBe(user.email);
    // A name change alone needs no password.
    expect((await gql(gatewayUrl, UPDATE, { input: { name: 'Renamed' } }, user.accessToken)).errors).toBeUndefined();
    const changed = await gql(gatewayUrl, UPDATE, { input: { email: moved, currentPassword: TEST_PASSWORD } }, user.accessToken);
    expect(changed.errors).toBeUndefined();
    expect(changed.data!.updateUser.email).toBe(moved);
    // Audited: the refusal (FAILURE) and the change (SUCCESS), with the request id.
    const records = await auditOf({ actorId: user.id });
    expect(records.filter((record) => record.type === 'user.email_change_refused')).toEqual([expect.objectContaining({ outcome: 'FAILURE', subjectId: user.id, service: 'users' })]);
    const [change] = records.filter((record) => record.type === 'user.email_changed');
    expect(change).toMatchObject({ outcome: 'SUCCESS', actorId: user.id, subjectId: user.id, requestId: expect.any(String) });
  });

  it('is RATE_LIMITED after 5 wrong current passwords (a stolen access token cannot guess the password)', async () => {
    const user = await registerAndLogin(urls);
    for (let attempt = 1; attempt <= 5; attempt += 1) {
      expect(errorCode(await gql(gatewayUrl, UPDATE, { input: { email: uniqueEmail('guess'), currentPassword: `wrong guess ${attempt}` } }, user.accessToken))).toBe('BAD_USER_INPUT');
    }
    const limited = await gql(gatewayUrl, UPDATE, { input: { email: uniqueEmail('guess'), currentPassword: TEST_PASSWORD } }, user.accessToken);
    expect(errorCode(limited)).toBe('RATE_LIMITED');
    expect(limited.errors![0]!.extensions!.retryAfterSeconds).toBeGreaterThan(0);
    // A subgraph's RATE_LIMITED gets the gateway's Retry-After header and HTTP 429, as its own limits do (it had HTTP 200 and no header).
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe(String(limited.errors![0]!.extensions!.retryAfterSeconds));
    expect((await gql(gatewayUrl, `{ me { email } }`, {}, user.accessToken)).data!.me.email).toBe(user.email);
  });

  it('counts 10 guesses sent at once one after the other: at most 5 passwords are checked, the rest are RATE_LIMITED (all 10 were checked, the right one changed the email)', async () => {
    const user = await registerAndLogin(urls);
    const guesses = [...Array.from({ length: 9 }, (_, attempt) => `wrong guess ${attempt}`), TEST_PASSWORD];
    const answers = await Promise.all(guesses.map((currentPassword) => gql(gatewayUrl, UPDATE, { input: { email: uniqueEmail('race'), currentPassword } }, user.accessToken)));
    const codes = answers.map((answer) => (answer.errors ? errorCode(answer) : 'CHANGED'));
    expect(codes.filter((code) => code === 'BAD_USER_INPUT').length).toBeLessThanOrEqual(5);
    expect(codes.filter((code) => code === 'RATE_LIMITED').length).toBeGreaterThanOrEqual(4);
    // Whichever five were checked first (the right one may be among them), no more were tried.
    const checked = codes.filter((code) => code !== 'RATE_LIMITED').length;
    expect(checked).toBeLessThanOrEqual(5);
  });

  it('does not escape the blocklist: a buyer on a blocklisted domain who moves to a clean address is still declined', async () => {
    const domain = `blocked-${randomBytes(4).toString('hex')}.test`;
    const merchant = await registerAndLogin(urls, 'MERCHANT');
    const first = await registerWithEmail(`first-${randomBytes(4).toString('hex')}@${domain}`);
    const buyer = await registerWithEmail(`buyer-${randomBytes(4).toString('hex')}@${domain}`);
    expect((await gql(gatewayUrl, BLOCK, { input: { kind: 'EMAIL_DOMAIN', value: domain } }, admin.accessToken)).errors).toBeUndefined();
    expect(await pay(first, merchant, '100')).toEqual({ status: 'FAILED', failureCode: 'RISK_DECLINED' });
    // The second buyer changes email BEFORE any payment (nothing about it is cached in risk yet), then pays.
    const moved = await gql(gatewayUrl, UPDATE, { input: { email: uniqueEmail('clean'), currentPassword: TEST_PASSWORD } }, buyer.accessToken);
    expect(moved.errors).toBeUndefined();
    expect(moved.data!.updateUser.email).not.toContain(domain);
    expect(await pay(buyer, merchant, '100')).toEqual({ status: 'FAILED', failureCode: 'RISK_DECLINED' });
    // The clean buyer next to it pays: the decline is the history, not the amount.
    const clean = await registerAndLogin(urls);
    expect((await pay(clean, merchant, '100')).status).toBe('SUCCEEDED');
    const [blocked] = await auditOf({ type: 'risk.blocklist_added', actorId: admin.id }).then((records) => records.filter((record) => record.subjectId === `EMAIL_DOMAIN:${domain}`));
    expect(blocked).toMatchObject({ outcome: 'SUCCESS', service: 'risk' });
  });
});

describe('display names', () => {
  it.each(['Paygraph Security: verify at https://evil.example', 'Visit www.example', 'evil.example', 'mail me at a@b.example', 'Right\u202eleft', 'Bell\u0007', 'Shop evil.xn--p1ai', 'Verify at пример.рф', 'Shop ｅｖｉｌ．ｃｏｍ', 'Shop evil。com', 'Shop 例子.中国', 'help＠evil.example'])('refuses %j at registration and on update', async (name) => {
    const registered = await gql(gatewayUrl, REGISTER, { input: { email: uniqueEmail(), password: TEST_PASSWORD, name, role: 'MERCHANT' } });
    expect(errorCode(registered)).toBe('BAD_USER_INPUT');
    expect(registered.errors![0]!.extensions!.field).toBe('input.name');
    const merchant = await registerAndLogin(urls, 'MERCHANT');
    expect(errorCode(await gql(gatewayUrl, UPDATE, { input: { name } }, merchant.accessToken))).toBe('BAD_USER_INPUT');
  });

  it('accepts ordinary names with dots and ampersands', async () => {
    for (const name of ['J. Smith & Co.', 'Dr. No', 'St. Louis Coffee']) {
      const registered = await gql(gatewayUrl, REGISTER, { input: { email: uniqueEmail(), password: TEST_PASSWORD, name, role: 'MERCHANT' } });
      expect(registered.errors).toBeUndefined();
    }
  });
});

describe('the audit trail', () => {
  it('records sign-ups, logins and failed logins, and webhook secret rotations with actor, request id and outcome', async () => {
    const merchant = await registerAndLogin(urls, 'MERCHANT');
    expect(errorCode(await gql(gatewayUrl, `mutation($input: LoginInput!) { login(input: $input) { accessToken } }`, { input: { email: merchant.email, password: 'wrong password here' } }))).toBe('UNAUTHENTICATED');
    const endpoint = await gql(gatewayUrl, `mutation($input: RegisterWebhookEndpointInput!) { registerWebhookEndpoint(input: $input) { id } }`, { input: { url: 'https://example.com/hooks' } }, merchant.accessToken);
    const endpointId = endpoint.data!.registerWebhookEndpoint.id as string;
    expect((await gql(gatewayUrl, `mutation($input: RotateWebhookSecretInput!) { rotateWebhookSecret(input: $input) { id } }`, { input: { endpointId } }, merchant.accessToken)).errors).toBeUndefined();
    await vi.waitFor(
      async () => {
        const records = await auditOf({ actorId: merchant.id });
        const types = records.map((record) => record.type);
        expect(types).toEqual(expect.arrayContaining(['user.registered', 'auth.login', 'webhook.endpoint_registered', 'webhook.secret_rotated']));
        expect(records.find((record) => record.type === 'webhook.secret_rotated')).toMatchObject({ subjectId: endpointId, outcome: 'SUCCESS', service: 'notifications', requestId: expect.any(String) });
        expect(records.find((record) => record.type === 'user.registered')).toMatchObject({ subjectId: merchant.id, service: 'users', details: JSON.stringify({ role: 'MERCHANT' }) });
      },
      { timeout: 10_000, interval: 100 },
    );
    const failed = (await auditOf({ type: 'auth.login_failed' })).filter((record) => record.subjectId === merchant.email);
    expect(failed).toEqual([expect.objectContaining({ actorId: null, outcome: 'FAILURE', service: 'auth' })]);
  });

  it('records a logout as a token family revocation by the session\'s user, with the family as subject', async () => {
    const user = await registerAndLogin(urls);
    const LOGOUT = `mutation($token: String!) { logout(refreshToken: $token) }`;
    expect((await gql(gatewayUrl, LOGOUT, { token: user.refreshToken })).data).toEqual({ logout: true });
    // A second logout with the same token ends nothing and records nothing.
    expect((await gql(gatewayUrl, LOGOUT, { token: user.refreshToken })).data).toEqual({ logout: false });
    await vi.waitFor(async () => {
      const revoked = await auditOf({ actorId: user.id, type: 'auth.token_family_revoked' });
      expect(revoked).toEqual([expect.objectContaining({ actorId: user.id, subjectId: expect.stringMatching(/^fam_/), outcome: 'SUCCESS', service: 'auth', requestId: expect.any(String) })]);
      expect(JSON.parse(revoked[0]!.details!)).toEqual({ reason: 'logout', revoked: 1 });
    }, { timeout: 10_000, interval: 100 });
  });

  it('records refresh-token reuse as a token family revocation, by the session\'s user', async () => {
    const user = await registerAndLogin(urls);
    const REFRESH = `mutation($token: String!) { refreshToken(refreshToken: $token) { refreshToken } }`;
    expect((await gql(gatewayUrl, REFRESH, { token: user.refreshToken })).errors).toBeUndefined();
    // The rotated token used again: the whole family is revoked.
    expect(errorCode(await gql(gatewayUrl, REFRESH, { token: user.refreshToken }))).toBe('UNAUTHENTICATED');
    await vi.waitFor(async () => {
      const revoked = await auditOf({ actorId: user.id, type: 'auth.token_family_revoked' });
      expect(revoked).toEqual([expect.objectContaining({ subjectId: expect.stringMatching(/^fam_/), outcome: 'SUCCESS', service: 'auth', requestId: expect.any(String) })]);
      // Both tokens of the family were revoked: the rotated one reused and its successor.
      expect(JSON.parse(revoked[0]!.details!)).toEqual({ reason: 'refresh_token_reused', revoked: 2 });
    }, { timeout: 10_000, interval: 100 });
  });

  it('records risk rule updates and blocklist additions and removals by the admin', async () => {
    const current = await gql(gatewayUrl, `{ riskRules { version newAccountAgeHours } }`, {}, admin.accessToken);
    // The same rules saved again: a new version, nothing else in this file affected.
    const updated = await gql(gatewayUrl, `mutation($input: UpdateRiskRulesInput!) { updateRiskRules(input: $input) { version } }`, { input: { newAccountAgeHours: current.data!.riskRules.newAccountAgeHours } }, admin.accessToken);
    expect(updated.errors).toBeUndefined();
    const version = updated.data!.updateRiskRules.version as number;
    const domain = `audited-${randomBytes(4).toString('hex')}.test`;
    expect((await gql(gatewayUrl, BLOCK, { input: { kind: 'EMAIL_DOMAIN', value: domain } }, admin.accessToken)).errors).toBeUndefined();
    const removed = await gql(gatewayUrl, `mutation($input: BlocklistEntryInput!) { removeFromBlocklist(input: $input) }`, { input: { kind: 'EMAIL_DOMAIN', value: domain } }, admin.accessToken);
    expect(removed.data).toEqual({ removeFromBlocklist: true });
    await vi.waitFor(async () => {
      const records = await auditOf({ actorId: admin.id });
      const about = (type: string, subjectId: string) => records.filter((record) => record.type === type && record.subjectId === subjectId);
      const expected = expect.objectContaining({ actorId: admin.id, outcome: 'SUCCESS', service: 'risk', requestId: expect.any(String) });
      expect(about('risk.rules_updated', `rules:${version}`)).toEqual([expected]);
      expect(about('risk.blocklist_added', `EMAIL_DOMAIN:${domain}`)).toEqual([expected]);
      expect(about('risk.blocklist_removed', `EMAIL_DOMAIN:${domain}`)).toEqual([expected]);
    }, { timeout: 10_000, interval: 100 });
  });

  it('records webhook endpoint disable, enable and delete by the merchant', async () => {
    const merchant = await registerAndLogin(urls, 'MERCHANT');
    const endpoint = await gql(gatewayUrl, `mutation($input: RegisterWebhookEndpointInput!) { registerWebhookEndpoint(input: $input) { id } }`, { input: { url: 'https://example.com/hooks' } }, merchant.accessToken);
    const id = endpoint.data!.registerWebhookEndpoint.id as string;
    for (const mutation of ['disableWebhookEndpoint(id: $id) { id }', 'enableWebhookEndpoint(id: $id) { id }', 'deleteWebhookEndpoint(id: $id)']) {
      expect((await gql(gatewayUrl, `mutation($id: ID!) { ${mutation} }`, { id }, merchant.accessToken)).errors).toBeUndefined();
    }
    await vi.waitFor(async () => {
      const records = (await auditOf({ actorId: merchant.id })).filter((record) => record.subjectId === id);
      // Newest first.
      expect(records.map((record) => record.type)).toEqual(['webhook.endpoint_deleted', 'webhook.endpoint_enabled', 'webhook.endpoint_disabled', 'webhook.endpoint_registered']);
      for (const record of records) expect(record).toMatchObject({ outcome: 'SUCCESS', service: 'notifications', requestId: expect.any(String) });
    }, { timeout: 10_000, interval: 100 });
  });

  it('loses no record while users is down: risk keeps it in its audit outbox and relays it once users is back', async () => {
    const domain = `outage-${randomBytes(4).toString('hex')}.test`;
    const users = platform.subgraphs.get('users')!;
    await users.stop();
    let actedFrom = 0;
    let actedBy = 0;
    let restartedFrom = 0;
    try {
      // Risk acts without users (the admin's token is checked against auth's keys).
      actedFrom = Date.now();
      expect((await gql(gatewayUrl, BLOCK, { input: { kind: 'EMAIL_DOMAIN', value: domain } }, admin.accessToken)).errors).toBeUndefined();
      actedBy = Date.now();
      // Past the first retry: the relay has failed at least once.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
    } finally {
      restartedFrom = Date.now();
      await users.restart();
    }
    await vi.waitFor(async () => {
      const added = (await auditOf({ actorId: admin.id, type: 'risk.blocklist_added' })).filter((record) => record.subjectId === `EMAIL_DOMAIN:${domain}`);
      expect(added).toEqual([expect.objectContaining({ outcome: 'SUCCESS', service: 'risk', requestId: expect.any(String) })]);
      // When the admin acted, not when users received the record after its restart.
      const occurredAt = Date.parse(added[0]!.occurredAt);
      expect(occurredAt).toBeGreaterThanOrEqual(actedFrom - 5);
      expect(occurredAt).toBeLessThanOrEqual(actedBy + 5);
      expect(occurredAt).toBeLessThan(restartedFrom);
    }, { timeout: 20_000, interval: 200 });
  });

  it('pages newest first with cursors; admins only; no API writes it; the database refuses UPDATE and DELETE', async () => {
    const buyer = await registerAndLogin(urls);
    expect(errorCode(await gql(gatewayUrl, AUDIT, { first: 5 }, buyer.accessToken))).toBe('FORBIDDEN');
    expect(errorCode(await gql(gatewayUrl, AUDIT, { first: 5 }))).toBe('UNAUTHENTICATED');
    const first = await gql(gatewayUrl, AUDIT, { first: 2 }, admin.accessToken);
    expect(first.data!.auditEvents.pageInfo.hasNextPage).toBe(true);
    const second = await gql(gatewayUrl, AUDIT, { first: 2, after: first.data!.auditEvents.pageInfo.endCursor }, admin.accessToken);
    const ids = [...first.data!.auditEvents.edges, ...second.data!.auditEvents.edges].map((edge: { node: AuditView }) => edge.node.id);
    expect(new Set(ids).size).toBe(4);
    // The internal append mutation is not part of the public API.
    const appended = await gql(gatewayUrl, `mutation { appendAuditEvents(events: [{ type: "user.forged", outcome: SUCCESS }]) }`, {}, admin.accessToken);
    expect(errorCode(appended)).toBe('GRAPHQL_VALIDATION_FAILED');
    const [row] = await usersDatabase.query<{ id: string }>(`select id from users.audit_events limit 1`);
    await expect(usersDatabase.query(`update users.audit_events set outcome = 'FAILURE' where id = $1`, [row!.id])).rejects.toThrow(/append-only/);
    await expect(usersDatabase.query(`delete from users.audit_events where id = $1`, [row!.id])).rejects.toThrow(/append-only/);
  });
});
