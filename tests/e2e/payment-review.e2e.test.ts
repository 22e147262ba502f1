// Proves payment reviews end to end through the gateway, on a platform of this file's own (short
// review expiry): a payment risk holds for review is decided only by an admin with reviewPayment,
// never captured by the merchant who receives the money nor decided by its merchant or buyer;
// APPROVE captures an automatic payment or authorizes a manual one, REJECT cancels it and releases
// the hold; who, when and the note are on the payment and in the audit trail; a decision is taken
// once; admins read the queue with payments(status: REQUIRES_REVIEW); undecided reviews expire; a
// service whose token carries the risk:review scope decides a review too, one without it may not.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openServiceDatabase, resolveDatabaseTarget } from '@paygraph/db';
import { SERVICE_SCOPES } from '@paygraph/identity';
import { errorCode, gql, loginAs, registerAndLogin, TEST_PASSWORD, uniqueEmail, type GraphQLResponse, type TestUser } from '@paygraph/testing';
import { startTestPlatform, type Platform } from '@paygraph/platform';
import { schema as authSchema } from '../../subgraphs/auth/src/db/schema';
import { loadSigningKey } from '../../subgraphs/auth/src/keys';
import { signServiceToken } from '../../subgraphs/auth/src/tokens';

let platform: Platform;
let gatewayUrl: string;
let admin: TestUser;
let merchant: TestUser;
const key = () => `k-${randomBytes(6).toString('hex')}`;
const usd = (amount: string) => ({ amount, currency: 'USD' });
/** Risk holds a new account's payment over 1,000.00 USD for review (NEW_ACCOUNT). */
const REVIEWED_AMOUNT = '100001';
// Long enough for a test to decide a review on a loaded machine (3 s could run out before the admin decided).
const REVIEW_EXPIRY_SECONDS = 8;

const REVIEW = `mutation($input: ReviewPaymentInput!) {
  reviewPayment(input: $input) { id status amountCaptured { amount } review { decision note reviewedAt reviewedBy { id name } } order { status } }
}`;
const CAPTURE = `mutation($id: ID!) { capturePayment(id: $id) { id status amountCaptured { amount } } }`;

beforeAll(async () => {
  const adminEmail = uniqueEmail('admin');
  platform = await startTestPlatform({
    env: { ADMIN_EMAIL: adminEmail, ADMIN_PASSWORD: TEST_PASSWORD, PAYMENT_REVIEW_EXPIRY_SECONDS: String(REVIEW_EXPIRY_SECONDS), PAYMENT_RECOVERY_INTERVAL_MS: '500', RATE_LIMITS: 'off' },
  });
  gatewayUrl = platform.gatewayUrl!;
  admin = await loginAs(gatewayUrl, adminEmail, TEST_PASSWORD);
  merchant = await registerAndLogin({ register: gatewayUrl, login: gatewayUrl }, 'MERCHANT');
});

afterAll(async () => {
  await platform?.stop();
});

async function heldForReview(captureMethod: 'AUTOMATIC' | 'MANUAL' = 'AUTOMATIC') {
  const buyer = await registerAndLogin({ register: gatewayUrl, login: gatewayUrl });
  await gql(gatewayUrl, `mutation($input: CreditWalletInput!) { creditWallet(input: $input) { id } }`, { input: { amount: usd('500000'), idempotencyKey: key() } }, buyer.accessToken);
  const order = await gql(gatewayUrl, `mutation($input: CreateOrderInput!) { createOrder(input: $input) { id } }`, { input: { merchantId: merchant.id, amount: usd(REVIEWED_AMOUNT) } }, buyer.accessToken);
  const paid = await gql(gatewayUrl, `mutation($input: PayOrderInput!) { payOrder(input: $input) { id status } }`, { input: { orderId: order.data!.createOrder.id, idempotencyKey: key(), captureMethod } }, buyer.accessToken);
  expect(paid.data?.payOrder.status).toBe('REQUIRES_REVIEW');
  return { buyer, paymentId: paid.data!.payOrder.id as string, orderId: order.data!.createOrder.id as string };
}

const available = async (user: TestUser) => (await gql(gatewayUrl, `{ wallet(currency: "USD") { available { amount } } }`, {}, user.accessToken)).data!.wallet.available.amount as string;
const review = (user: TestUser, paymentId: string, decision: 'APPROVE' | 'REJECT', note?: string) => gql(gatewayUrl, REVIEW, { input: { paymentId, decision, ...(note ? { note } : {}) } }, user.accessToken);

it('refuses the merchant and the buyer, and lets an admin approve an automatic payment, once, with who, when and why recorded', async () => {
  const { buyer, paymentId } = await heldForReview();
  expect(errorCode(await gql(gatewayUrl, CAPTURE, { id: paymentId }, merchant.accessToken))).toBe('INVALID_STATE');
  expect(errorCode(await review(merchant, paymentId, 'APPROVE'))).toBe('FORBIDDEN');
  expect(errorCode(await review(buyer, paymentId, 'APPROVE'))).toBe('FORBIDDEN');
  // The queue: admins see it among the payments under review.
  const queue = await gql(gatewayUrl, `{ payments(first: 100, status: REQUIRES_REVIEW) { edges { node { id } } } }`, {}, admin.accessToken);
  expect(queue.data!.payments.edges.map((edge: { node: { id: string } }) => edge.node.id)).toContain(paymentId);

  const before = Date.now();
  const approved = await review(admin, paymentId, 'APPROVE', 'Known customer, verified by phone');
  expect(approved.errors).toBeUndefined();
  expect(approved.data!.reviewPayment).toMatchObject({
    status: 'SUCCEEDED',
    amountCaptured: { amount: REVIEWED_AMOUNT },
    order: { status: 'PAID' },
    review: { decision: 'APPROVE', note: 'Known customer, verified by phone', reviewedBy: { id: admin.id } },
  });
  expect(new Date(approved.data!.reviewPayment.review.reviewedAt).getTime()).toBeGreaterThanOrEqual(before - 1_000);
  // The same decision again is the same answer; the other one is refused.
  expect((await review(admin, paymentId, 'APPROVE')).data!.reviewPayment.status).toBe('SUCCEEDED');
  expect(errorCode(await review(admin, paymentId, 'REJECT'))).toBe('INVALID_STATE');
  // The merchant reads the decision on the payment; the audit trail has it.
  const seen = await gql(gatewayUrl, `query($id: ID!) { payment(id: $id) { review { decision note reviewedBy { id } } } }`, { id: paymentId }, merchant.accessToken);
  expect(seen.data!.payment.review).toEqual({ decision: 'APPROVE', note: null, reviewedBy: { id: admin.id } });
  // The note is the risk staff's own: the buyer does not read it either.
  const buyerSees = await gql(gatewayUrl, `query($id: ID!) { payment(id: $id) { review { decision note } } }`, { id: paymentId }, buyer.accessToken);
  expect(buyerSees.data!.payment.review).toEqual({ decision: 'APPROVE', note: null });
  await expect
    .poll(async () => {
      const audit = await gql(gatewayUrl, `{ auditEvents(first: 50, type: "payment.review_decided") { edges { node { actorId subjectId outcome } } } }`, {}, admin.accessToken);
      return audit.data?.auditEvents.edges.map((edge: { node: unknown }) => edge.node);
    }, { timeout: 5_000 })
    .toContainEqual({ actorId: admin.id, subjectId: paymentId, outcome: 'SUCCESS' });
});

it('approves a manual payment to AUTHORIZED for the merchant to capture', async () => {
  const { paymentId } = await heldForReview('MANUAL');
  const approved = await review(admin, paymentId, 'APPROVE');
  expect(approved.data!.reviewPayment).toMatchObject({ status: 'AUTHORIZED', amountCaptured: { amount: '0' }, order: { status: 'PENDING' } });
  const captured = await gql(gatewayUrl, CAPTURE, { id: paymentId }, merchant.accessToken);
  expect(captured.data!.capturePayment).toMatchObject({ status: 'SUCCEEDED', amountCaptured: { amount: REVIEWED_AMOUNT } });
});

it('rejects: the payment is canceled, the hold released, the order stays payable', async () => {
  const { buyer, paymentId } = await heldForReview();
  expect(await available(buyer)).toBe(String(500000 - Number(REVIEWED_AMOUNT)));
  const rejected = await review(admin, paymentId, 'REJECT', 'Card testing pattern');
  expect(rejected.data!.reviewPayment).toMatchObject({ status: 'CANCELED', order: { status: 'PENDING' }, review: { decision: 'REJECT', note: 'Card testing pattern' } });
  expect(await available(buyer)).toBe('500000');
  expect(errorCode(await gql(gatewayUrl, CAPTURE, { id: paymentId }, merchant.accessToken))).toBe('INVALID_STATE');
});

it('a buyer’s cancelOrder racing an admin’s REJECT cancels the order whichever claims the payment first (the cancel answered the order PENDING and left it payable)', async () => {
  for (let round = 0; round < 6; round += 1) {
    const { buyer, paymentId, orderId } = await heldForReview();
    const [rejected, canceled] = await Promise.all([
      review(admin, paymentId, 'REJECT'),
      gql(gatewayUrl, `mutation($id: ID!) { cancelOrder(id: $id) { id status } }`, { id: orderId }, buyer.accessToken),
    ]);
    expect(canceled.errors).toBeUndefined();
    expect(canceled.data!.cancelOrder.status).toBe('CANCELED');
    // The review either decided first (REJECT) or found the payment being canceled.
    if (rejected.errors) expect(errorCode(rejected)).toBe('INVALID_STATE');
    else expect(rejected.data!.reviewPayment.status).toBe('CANCELED');
    const order = await gql(gatewayUrl, `query($id: ID!) { order(id: $id) { status payments { status } } }`, { id: orderId }, buyer.accessToken);
    expect(order.data!.order).toEqual({ status: 'CANCELED', payments: [{ status: 'CANCELED' }] });
    const again = await gql(gatewayUrl, `mutation($input: PayOrderInput!) { payOrder(input: $input) { id status } }`, { input: { orderId, idempotencyKey: key() } }, buyer.accessToken);
    expect(errorCode(again)).toBe('INVALID_STATE');
    expect(await available(buyer)).toBe('500000');
  }
});

it('cancels a review nobody decided in time and releases the funds', async () => {
  const { buyer, paymentId } = await heldForReview();
  await expect
    .poll(async () => (await gql(gatewayUrl, `query($id: ID!) { payment(id: $id) { status review { decision } } }`, { id: paymentId }, buyer.accessToken)).data!.payment, {
      timeout: (REVIEW_EXPIRY_SECONDS + 10) * 1000,
      interval: 500,
    })
    .toEqual({ status: 'CANCELED', review: null });
  expect(await available(buyer)).toBe('500000');
  expect(errorCode(await review(admin, paymentId, 'APPROVE'))).toBe('INVALID_STATE');
}, 30_000);

/**
 * Service tokens signed with auth's real key, as auth's /internal/service-token signs them: for a
 * risk operations service holding risk:review (no platform service does yet) and for risk as it is.
 */
async function serviceTokens(): Promise<{ riskOps: string; risk: string }> {
  const auth = await openServiceDatabase({
    service: 'auth',
    target: resolveDatabaseTarget('auth', process.env, 'memory://'),
    schema: authSchema,
    migrationsFolder: new URL('../../subgraphs/auth/drizzle', import.meta.url).pathname,
  });
  try {
    const key = await loadSigningKey(auth.db, platform.config.SERVICE_SECRET!);
    const settings = { issuer: platform.config.JWT_ISSUER, audience: platform.config.JWT_AUDIENCE, accessTokenTtlSeconds: 300 };
    return {
      riskOps: (await signServiceToken(key, settings, 'risk-ops', ['risk:review'])).token,
      risk: (await signServiceToken(key, settings, 'risk', SERVICE_SCOPES.risk!)).token,
    };
  } finally {
    await auth.close();
  }
}

it('lets a service with the risk:review scope decide a review (reviewedBy null, audited as the service); one without the scope is FORBIDDEN', async () => {
  // Tokens first: the review expires REVIEW_EXPIRY_SECONDS after the hold.
  const tokens = await serviceTokens();
  const { paymentId } = await heldForReview();
  // Services call the payments subgraph directly with their token, as they call each other.
  const paymentsUrl = platform.subgraphs.get('payments')!.url;
  const decide = (token: string) => gql(paymentsUrl, `mutation($input: ReviewPaymentInput!) { reviewPayment(input: $input) { id status review { decision note } } }`, { input: { paymentId, decision: 'REJECT', note: 'Rule-based rejection' } }, token);
  expect(errorCode(await decide(tokens.risk))).toBe('FORBIDDEN');
  const decided = await decide(tokens.riskOps);
  expect(decided.errors).toBeUndefined();
  expect(decided.data!.reviewPayment).toEqual({ id: paymentId, status: 'CANCELED', review: { decision: 'REJECT', note: 'Rule-based rejection' } });
  // Through the gateway the payment shows the decision with no user behind it.
  const seen = await gql(gatewayUrl, `query($id: ID!) { payment(id: $id) { review { decision reviewedBy { id } } } }`, { id: paymentId }, admin.accessToken);
  expect(seen.data!.payment.review).toEqual({ decision: 'REJECT', reviewedBy: null });
  await expect
    .poll(async () => {
      const audit = await gql(gatewayUrl, `{ auditEvents(first: 50, type: "payment.review_decided") { edges { node { actorId subjectId outcome } } } }`, {}, admin.accessToken);
      return audit.data?.auditEvents.edges.map((edge: { node: unknown }) => edge.node);
    }, { timeout: 5_000 })
    .toContainEqual({ actorId: 'service:risk-ops', subjectId: paymentId, outcome: 'SUCCESS' });
});

// With DATABASE_URL this file's platform shares its database (and so the risk rules) with the other
// files': the changes are undone at once, in a finally (risk.e2e's velocity test saw them otherwise).
it('builds each of three rule changes sent at once on the version before it (two of three were lost: each merged its change into the rules it read before the others saved)', async () => {
  const RULES = `{ riskRules { version velocityMaxAttempts velocityWindowMinutes newAccountAgeHours } }`;
  const UPDATE = `mutation($input: UpdateRiskRulesInput!) { updateRiskRules(input: $input) { version } }`;
  const before = (await gql(gatewayUrl, RULES, {}, admin.accessToken)).data!.riskRules;
  const changes = [
    { velocityMaxAttempts: before.velocityMaxAttempts + 7 },
    { velocityWindowMinutes: before.velocityWindowMinutes + 3 },
    { newAccountAgeHours: before.newAccountAgeHours + 5 },
  ];
  let saved: GraphQLResponse[] = [];
  let after: unknown;
  try {
    saved = await Promise.all(changes.map((input) => gql(gatewayUrl, UPDATE, { input }, admin.accessToken)));
    after = (await gql(gatewayUrl, RULES, {}, admin.accessToken)).data!.riskRules;
  } finally {
    const { velocityMaxAttempts, velocityWindowMinutes, newAccountAgeHours } = before;
    const restored = await gql(gatewayUrl, UPDATE, { input: { velocityMaxAttempts, velocityWindowMinutes, newAccountAgeHours } }, admin.accessToken);
    expect(restored.errors).toBeUndefined();
  }
  for (const answer of saved) expect(answer.errors).toBeUndefined();
  expect(saved.map((answer) => answer.data!.updateRiskRules.version).sort((a: number, b: number) => a - b)).toEqual([before.version + 1, before.version + 2, before.version + 3]);
  expect(after).toEqual({
    version: before.version + 3,
    velocityMaxAttempts: before.velocityMaxAttempts + 7,
    velocityWindowMinutes: before.velocityWindowMinutes + 3,
    newAccountAgeHours: before.newAccountAgeHours + 5,
  });
});
