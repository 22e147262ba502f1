// Proves the risk service end to end through the gateway started by `npm start`: who may assess,
// each rule on real users (new account, self payment, blocklist by id and by email domain),
// one assessment per payment id, velocity counted under 20 concurrent attempts, and a replay after
// a rule change showing both outcomes. Rule changes touch only CHF, which no other test uses.
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { TEST_PASSWORD, errorCode, gql, loginAs, registerAndLogin, type TestUser } from '@paygraph/testing';

const gatewayUrl = inject('gatewayUrl');
const urls = { register: gatewayUrl, login: gatewayUrl };

const ASSESS = `mutation Assess($input: AssessRiskInput!) {
  assessRisk(input: $input) { id decision score reasons ruleSetVersion features { amount { amount currency } attemptsInWindow accountAgeMinutes selfPayment blocklisted } }
}`;
const BLOCK = `mutation Block($input: BlocklistEntryInput!) { addToBlocklist(input: $input) { kind value } }`;
const UNBLOCK = `mutation Unblock($input: BlocklistEntryInput!) { removeFromBlocklist(input: $input) }`;

let admin: TestUser;

beforeAll(async () => {
  admin = await loginAs(gatewayUrl, inject('adminEmail'), inject('adminPassword'));
});

const assess = (input: Record<string, unknown>, token = admin.accessToken) => gql(gatewayUrl, ASSESS, { input }, token);
const usd = (amount: string) => ({ amount, currency: 'USD' });

describe('assessRisk', () => {
  it('approves an ordinary attempt with score 0 and records its features', async () => {
    const buyer = await registerAndLogin(urls);
    const result = await assess({ userId: buyer.id, amount: usd('2500') });
    expect(result.errors).toBeUndefined();
    expect(result.data!.assessRisk).toMatchObject({
      decision: 'APPROVE',
      score: 0,
      reasons: [],
      features: { amount: usd('2500'), attemptsInWindow: 1, selfPayment: false, blocklisted: false },
    });
    expect(result.data!.assessRisk.features.accountAgeMinutes).toBeLessThan(5);
  });

  it('is for services and admins: a buyer is FORBIDDEN, anonymous UNAUTHENTICATED', async () => {
    const buyer = await registerAndLogin(urls);
    expect(errorCode(await assess({ userId: buyer.id, amount: usd('100') }, buyer.accessToken))).toBe('FORBIDDEN');
    expect(errorCode(await gql(gatewayUrl, ASSESS, { input: { userId: buyer.id, amount: usd('100') } }))).toBe('UNAUTHENTICATED');
  });

  it('rejects bad input and an unknown buyer', async () => {
    const buyer = await registerAndLogin(urls);
    expect(errorCode(await assess({ userId: buyer.id, amount: usd('0') }))).toBe('BAD_USER_INPUT');
    expect(errorCode(await assess({ userId: 'usr_nobody', amount: usd('1') }))).toBe('NOT_FOUND');
  });

  it('reviews a new account paying above 1,000 and declines above 50,000', async () => {
    const buyer = await registerAndLogin(urls);
    expect((await assess({ userId: buyer.id, amount: usd('100000') })).data!.assessRisk.decision).toBe('APPROVE');
    expect((await assess({ userId: buyer.id, amount: usd('100001') })).data!.assessRisk).toMatchObject({ decision: 'REVIEW', reasons: ['NEW_ACCOUNT'] });
    expect((await assess({ userId: buyer.id, amount: usd('5000001') })).data!.assessRisk).toMatchObject({ decision: 'DECLINE', reasons: ['AMOUNT_OVER_LIMIT', 'NEW_ACCOUNT'], score: 95 });
  });

  it('declines a buyer paying themself', async () => {
    const buyer = await registerAndLogin(urls);
    expect((await assess({ userId: buyer.id, merchantId: buyer.id, amount: usd('100') })).data!.assessRisk).toMatchObject({ decision: 'DECLINE', reasons: ['SELF_PAYMENT'] });
  });

  it('declines blocklisted buyers, by id and by email domain, until they are removed', async () => {
    const buyer = await registerAndLogin(urls);
    const entry = { kind: 'USER', value: buyer.id };
    expect(errorCode(await gql(gatewayUrl, BLOCK, { input: entry }, buyer.accessToken))).toBe('FORBIDDEN');
    expect((await gql(gatewayUrl, BLOCK, { input: entry }, admin.accessToken)).data!.addToBlocklist).toEqual(entry);
    expect((await assess({ userId: buyer.id, amount: usd('100') })).data!.assessRisk).toMatchObject({ decision: 'DECLINE', reasons: ['BLOCKLISTED'], score: 100 });
    expect((await gql(gatewayUrl, UNBLOCK, { input: entry }, admin.accessToken)).data!.removeFromBlocklist).toBe(true);
    expect((await assess({ userId: buyer.id, amount: usd('100') })).data!.assessRisk.decision).toBe('APPROVE');

    const domain = `blocked-${randomBytes(4).toString('hex')}.test`;
    const email = `someone@${domain}`;
    await gql(gatewayUrl, `mutation($input: RegisterUserInput!) { registerUser(input: $input) { id } }`, { input: { email, password: TEST_PASSWORD, name: 'Blocked', role: 'BUYER' } });
    const blocked = await gql(gatewayUrl, `mutation($input: LoginInput!) { login(input: $input) { user { id } } }`, { input: { email, password: TEST_PASSWORD } });
    await gql(gatewayUrl, BLOCK, { input: { kind: 'EMAIL_DOMAIN', value: domain.toUpperCase() } }, admin.accessToken);
    expect((await assess({ userId: blocked.data!.login.user.id, amount: usd('100') })).data!.assessRisk.reasons).toEqual(['BLOCKLISTED']);
    expect(errorCode(await gql(gatewayUrl, BLOCK, { input: { kind: 'EMAIL_DOMAIN', value: 'not a domain' } }, admin.accessToken))).toBe('BAD_USER_INPUT');
  });

  it('returns the first assessment again for the same payment id (not a new attempt)', async () => {
    const buyer = await registerAndLogin(urls);
    const paymentId = `pay_${randomBytes(8).toString('hex')}`;
    const first = await assess({ userId: buyer.id, amount: usd('100'), paymentId });
    const second = await assess({ userId: buyer.id, amount: usd('100'), paymentId });
    expect(second.data!.assessRisk.id).toBe(first.data!.assessRisk.id);
    expect((await assess({ userId: buyer.id, amount: usd('100') })).data!.assessRisk.features.attemptsInWindow).toBe(2);
    // The same payment id with another buyer or amount is a key reused, not the first payment's decision.
    const other = await registerAndLogin(urls);
    for (const changed of [{ userId: other.id, amount: usd('100'), paymentId }, { userId: buyer.id, amount: usd('101'), paymentId }]) {
      expect((await assess(changed)).errors![0]!.extensions).toEqual({ code: 'IDEMPOTENCY_KEY_REUSED', field: 'input.paymentId' });
    }
  });

  it('counts all of 20 concurrent attempts: the first 10 approve, the next 10 are reviewed for velocity', async () => {
    const buyer = await registerAndLogin(urls);
    const results = await Promise.all(Array.from({ length: 20 }, () => assess({ userId: buyer.id, amount: usd('100') })));
    const attempts = results.map((result) => result.data!.assessRisk.features.attemptsInWindow as number).sort((a, b) => a - b);
    expect(attempts).toEqual(Array.from({ length: 20 }, (_unused, index) => index + 1));
    for (const result of results) {
      const assessment = result.data!.assessRisk;
      expect(assessment.decision).toBe(assessment.features.attemptsInWindow > 10 ? 'REVIEW' : 'APPROVE');
    }
  });
});

describe('rule versions and replay', () => {
  it('creates a new version on change and replays an old assessment under it, showing both outcomes', async () => {
    const buyer = await registerAndLogin(urls);
    const rules = await gql(gatewayUrl, `{ riskRules { version thresholds { currency amountReviewAbove amountDeclineAbove newAccountAmountAbove } } }`, {}, admin.accessToken);
    const withoutChf = rules.data!.riskRules.thresholds.filter((row: { currency: string }) => row.currency !== 'CHF');
    // Start from rules where CHF follows DEFAULT (a database reused across runs may hold an earlier change).
    const reset = await gql(gatewayUrl, `mutation($input: UpdateRiskRulesInput!) { updateRiskRules(input: $input) { version thresholds { currency } } }`, { input: { thresholds: withoutChf } }, admin.accessToken);
    const before = reset.data!.updateRiskRules;
    const original = (await assess({ userId: buyer.id, amount: { amount: '50000', currency: 'CHF' } })).data!.assessRisk;
    expect(original).toMatchObject({ decision: 'APPROVE', ruleSetVersion: before.version });

    const thresholds = [
      ...withoutChf,
      { currency: 'CHF', amountReviewAbove: 100, amountDeclineAbove: 1_000, newAccountAmountAbove: 1_000_000 },
    ];
    const update = await gql(gatewayUrl, `mutation($input: UpdateRiskRulesInput!) { updateRiskRules(input: $input) { version } }`, { input: { thresholds } }, admin.accessToken);
    expect(update.data!.updateRiskRules.version).toBeGreaterThan(before.version);

    const replay = await gql(gatewayUrl, `mutation($id: ID!) { replayRiskAssessment(id: $id) { changed original { decision ruleSetVersion } current { decision reasons ruleSetVersion } } }`, { id: original.id }, admin.accessToken);
    expect(replay.data!.replayRiskAssessment).toEqual({
      changed: true,
      original: { decision: 'APPROVE', ruleSetVersion: before.version },
      current: { decision: 'REVIEW', reasons: ['AMOUNT_OVER_LIMIT'], ruleSetVersion: update.data!.updateRiskRules.version },
    });
    expect((await assess({ userId: buyer.id, amount: { amount: '100001', currency: 'CHF' } })).data!.assessRisk.decision).toBe('DECLINE');
    // An id no assessment has is NOT_FOUND (it was BAD_USER_INPUT).
    expect(errorCode(await gql(gatewayUrl, `mutation($id: ID!) { replayRiskAssessment(id: $id) { changed } }`, { id: 'rsk_none' }, admin.accessToken))).toBe('NOT_FOUND');
  });

  it('keeps rule changes and replays for admins, and rejects invalid rules', async () => {
    const buyer = await registerAndLogin(urls);
    expect(errorCode(await gql(gatewayUrl, `mutation { updateRiskRules(input: { velocityMaxAttempts: 5 }) { version } }`, {}, buyer.accessToken))).toBe('FORBIDDEN');
    expect(errorCode(await gql(gatewayUrl, `{ riskRules { version } }`, {}, buyer.accessToken))).toBe('FORBIDDEN');
    const invalid = await gql(gatewayUrl, `mutation { updateRiskRules(input: { velocityMaxAttempts: 0 }) { version } }`, {}, admin.accessToken);
    expect(invalid.errors![0]!.extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'input.velocityMaxAttempts' });
    const version = (await gql(gatewayUrl, `{ riskRules { version } }`, {}, admin.accessToken)).data!.riskRules.version;
    const twice = await gql(gatewayUrl, `mutation { updateRiskRules(input: { weights: [{ code: "VELOCITY", weight: 1 }, { code: "VELOCITY", weight: 99 }] }) { version } }`, {}, admin.accessToken);
    expect(twice.errors![0]!.extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'input.weights' });
    expect((await gql(gatewayUrl, `{ riskRules { version } }`, {}, admin.accessToken)).data!.riskRules.version).toBe(version);
  });

  it('keeps riskAssessment(id) for admins and services', async () => {
    const buyer = await registerAndLogin(urls);
    const merchant = await registerAndLogin(urls, 'MERCHANT');
    const created = await assess({ userId: buyer.id, merchantId: merchant.id, amount: usd('100') });
    const id = created.data!.assessRisk.id;
    expect(errorCode(await gql(gatewayUrl, `query($id: ID!) { riskAssessment(id: $id) { id } }`, { id }, buyer.accessToken))).toBe('FORBIDDEN');
    expect((await gql(gatewayUrl, `query($id: ID!) { riskAssessment(id: $id) { id decision } }`, { id }, admin.accessToken)).data!.riskAssessment).toEqual({ id, decision: 'APPROVE' });
  });
});
