// Proves, with the whole platform in-process (payments and users emit events, notifications
// consumes them) and every request through the gateway: a payment, a failure and a refund notify
// the right users in the app with amounts in major units, a sign-up is welcomed, preferences
// choose the extra channels (EMAIL on by default, SMS recorded by the development provider),
// notifications are read and filtered per viewer and page like every list, someone else's is
// NOT_FOUND, anonymous is UNAUTHENTICATED, recipients follow users' events (newest version wins,
// unknown users are looked up in users first), and an event delivered twice notifies once (inbox).
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { DomainEvent } from '@paygraph/events';
import { TEST_PASSWORD, type TestUser } from '@paygraph/testing';
import { developmentDeliveries, notificationsHandle } from '../src/server';
import { errorCode, gql, key, NOTIFICATIONS, NOTIFICATION_FIELDS, notificationsOf, pay, register, startNotificationsPlatform, topUp, usd, waitForNotifications, type NotificationsTestPlatform, type NotificationView } from './support';

const MARK_READ = `mutation($id: ID!) { markNotificationRead(id: $id) { ${NOTIFICATION_FIELDS} } }`;
const PREFERENCES = `{ notificationPreferences { email sms push } }`;
const UPDATE_PREFERENCES = `mutation($input: UpdateNotificationPreferencesInput!) { updateNotificationPreferences(input: $input) { email sms push } }`;

let started: NotificationsTestPlatform;
let gatewayUrl: string;
let merchant: TestUser;

beforeAll(async () => {
  started = await startNotificationsPlatform();
  gatewayUrl = started.gatewayUrl;
  merchant = await register(gatewayUrl, 'MERCHANT', 'Corner Shop');
});

afterAll(async () => {
  await started?.stop();
});

const ofType = (type: string, channel?: NotificationView['channel']) => (all: NotificationView[]) => all.filter((entry) => entry.type === type && (!channel || entry.channel === channel));
const mentioning = (text: string, type: string, channel?: NotificationView['channel']) => (all: NotificationView[]) => ofType(type, channel)(all).filter((entry) => entry.body.includes(text));

async function fundedBuyer(name = 'Ada Buyer', amount = '10000'): Promise<TestUser> {
  const buyer = await register(gatewayUrl, 'BUYER', name);
  await topUp(gatewayUrl, buyer, amount);
  return buyer;
}


/** A payment event as payments would publish it (fresh ids), for feeding the consumer directly. */
function paymentEvent(buyerId: string, merchantId: string, change: { type: string; status: string; previousStatus: string; version: number; amount: string; currency: string; captured: string }): DomainEvent {
  const paymentId = `pay_${randomBytes(10).toString('hex')}`;
  return {
    id: `evt_${randomBytes(10).toString('hex')}`,
    source: 'payments',
    sequence: '1',
    aggregateType: 'Payment',
    aggregateId: paymentId,
    aggregateVersion: change.version,
    type: change.type,
    payload: { paymentId, orderId: 'ord_test', buyerId, merchantId, status: change.status, previousStatus: change.previousStatus, amount: change.amount, currency: change.currency, amountCaptured: change.captured, amountRefunded: '0', failureCode: null },
    occurredAt: new Date().toISOString(),
  };
}

describe('payment events', () => {
  it('notifies the buyer and the merchant in the app when a payment succeeds, amounts in major units', async () => {
    const buyer = await fundedBuyer();
    const payment = await pay(gatewayUrl, buyer, merchant, '2500');
    expect(payment.status).toBe('SUCCEEDED');
    const [toBuyer] = await waitForNotifications(gatewayUrl, buyer, mentioning(payment.id, 'payment.succeeded', 'IN_APP'));
    expect(toBuyer).toMatchObject({ channel: 'IN_APP', status: 'SENT', title: 'Payment of 25.00 USD succeeded', body: `You paid 25.00 USD to the merchant "Corner Shop". Payment ${payment.id}.`, readAt: null, deliveryAttempts: 0 });
    const [toMerchant] = await waitForNotifications(gatewayUrl, merchant, mentioning(payment.id, 'payment.succeeded', 'IN_APP'));
    expect(toMerchant).toMatchObject({ title: 'You received 25.00 USD', body: `The buyer "Ada Buyer" paid you 25.00 USD. Payment ${payment.id}.`, status: 'SENT' });
    // payment.created notifies nobody; the buyer's defaults add EMAIL (development provider), not SMS or PUSH.
    const buyerAll = (await notificationsOf(gatewayUrl, buyer)).filter((entry) => entry.body.includes(payment.id));
    expect(buyerAll.map((entry) => `${entry.type}/${entry.channel}`).sort()).toEqual(['payment.succeeded/EMAIL', 'payment.succeeded/IN_APP']);
    const [email] = await waitForNotifications(gatewayUrl, buyer, (all) => mentioning(payment.id, 'payment.succeeded', 'EMAIL')(all).filter((entry) => entry.status === 'SENT'));
    expect(email).toMatchObject({ title: 'Payment of 25.00 USD succeeded', deliveryAttempts: 1 });
    expect(developmentDeliveries.forUser(buyer.id, 'EMAIL').find((entry) => entry.body.includes(payment.id))).toMatchObject({ to: buyer.email, title: 'Payment of 25.00 USD succeeded' });
  });

  it('tells the buyer why a payment failed, and the merchant nothing', async () => {
    const buyer = await fundedBuyer('Unfunded Buyer', '100');
    const payment = await pay(gatewayUrl, buyer, merchant, '2500');
    expect(payment).toMatchObject({ status: 'FAILED', failureCode: 'INSUFFICIENT_FUNDS' });
    const [failed] = await waitForNotifications(gatewayUrl, buyer, mentioning(payment.id, 'payment.failed', 'IN_APP'));
    expect(failed!.title).toBe('Payment of 25.00 USD failed');
    expect(failed!.body).toContain('Your wallet did not have enough available funds.');
    // By the time the buyer's notification exists the event was applied whole: none for the merchant.
    expect((await notificationsOf(gatewayUrl, merchant)).filter((entry) => entry.body.includes(payment.id))).toEqual([]);
  });

  it('notifies both sides of a refund', async () => {
    const buyer = await fundedBuyer('Refunded Buyer');
    const payment = await pay(gatewayUrl, buyer, merchant, '4000');
    const refund = await gql(gatewayUrl, `mutation($input: RefundPaymentInput!) { refundPayment(input: $input) { id status } }`, { input: { paymentId: payment.id, amount: usd('1000'), idempotencyKey: key() } }, merchant.accessToken);
    expect(refund.data!.refundPayment.status).toBe('SUCCEEDED');
    const [toBuyer] = await waitForNotifications(gatewayUrl, buyer, mentioning(payment.id, 'refund.succeeded', 'IN_APP'));
    expect(toBuyer).toMatchObject({ title: 'Refund of 10.00 USD', body: `The merchant "Corner Shop" refunded 10.00 USD to your wallet. Payment ${payment.id}.` });
    const [toMerchant] = await waitForNotifications(gatewayUrl, merchant, mentioning(payment.id, 'refund.succeeded', 'IN_APP'));
    expect(toMerchant).toMatchObject({ title: 'You refunded 10.00 USD', body: `Your refund of 10.00 USD to the buyer "Refunded Buyer" succeeded. Payment ${payment.id}.` });
  });

  it('welcomes a new user', async () => {
    const user = await register(gatewayUrl, 'BUYER', 'Grace Newcomer');
    const [welcome] = await waitForNotifications(gatewayUrl, user, ofType('user.registered', 'IN_APP'));
    expect(welcome).toMatchObject({ title: 'Welcome to Paygraph, Grace Newcomer', status: 'SENT' });
  });
});

describe('preferences', () => {
  it('starts from email on, sms and push off, and changes only what is given', async () => {
    const user = await register(gatewayUrl);
    expect((await gql(gatewayUrl, PREFERENCES, {}, user.accessToken)).data!.notificationPreferences).toEqual({ email: true, sms: false, push: false });
    expect((await gql(gatewayUrl, UPDATE_PREFERENCES, { input: { sms: true } }, user.accessToken)).data!.updateNotificationPreferences).toEqual({ email: true, sms: true, push: false });
    expect((await gql(gatewayUrl, UPDATE_PREFERENCES, { input: { email: false, push: null } }, user.accessToken)).data!.updateNotificationPreferences).toEqual({ email: false, sms: true, push: false });
    expect((await gql(gatewayUrl, UPDATE_PREFERENCES, { input: {} }, user.accessToken)).data!.updateNotificationPreferences).toEqual({ email: false, sms: true, push: false });
    expect((await gql(gatewayUrl, PREFERENCES, {}, user.accessToken)).data!.notificationPreferences).toEqual({ email: false, sms: true, push: false });
  });

  it('sends no EMAIL when email is off, and an SMS through the SMS provider when sms is on', async () => {
    const buyer = await fundedBuyer('Texting Buyer');
    await gql(gatewayUrl, UPDATE_PREFERENCES, { input: { email: false, sms: true } }, buyer.accessToken);
    const payment = await pay(gatewayUrl, buyer, merchant, '1999');
    const [sms] = await waitForNotifications(gatewayUrl, buyer, (all) => mentioning(payment.id, 'payment.succeeded', 'SMS')(all).filter((entry) => entry.status === 'SENT'));
    expect(sms).toMatchObject({ title: 'Payment of 19.99 USD succeeded', deliveryAttempts: 1 });
    const channels = (await notificationsOf(gatewayUrl, buyer)).filter((entry) => entry.body.includes(payment.id)).map((entry) => entry.channel);
    expect(channels.sort()).toEqual(['IN_APP', 'SMS']);
    const recorded = developmentDeliveries.forUser(buyer.id, 'SMS').filter((entry) => entry.body.includes(payment.id));
    expect(recorded).toEqual([expect.objectContaining({ channel: 'SMS', to: buyer.id, title: 'Payment of 19.99 USD succeeded' })]);
    expect(developmentDeliveries.forUser(buyer.id, 'EMAIL').filter((entry) => entry.body.includes(payment.id))).toEqual([]);
  });

  it('is the viewer\'s own: anonymous is UNAUTHENTICATED', async () => {
    expect(errorCode(await gql(gatewayUrl, PREFERENCES))).toBe('UNAUTHENTICATED');
    expect(errorCode(await gql(gatewayUrl, UPDATE_PREFERENCES, { input: { sms: true } }))).toBe('UNAUTHENTICATED');
  });
});

describe('reading notifications', () => {
  it('marks one read (once), and unreadOnly leaves it out', async () => {
    const user = await register(gatewayUrl, 'BUYER', 'Reader');
    const [welcome] = await waitForNotifications(gatewayUrl, user, ofType('user.registered', 'IN_APP'));
    const marked = await gql(gatewayUrl, MARK_READ, { id: welcome!.id }, user.accessToken);
    expect(marked.errors).toBeUndefined();
    const readAt = marked.data!.markNotificationRead.readAt as string;
    expect(new Date(readAt).getTime()).toBeGreaterThan(Date.now() - 60_000);
    const again = await gql(gatewayUrl, MARK_READ, { id: welcome!.id }, user.accessToken);
    expect(again.data!.markNotificationRead.readAt).toBe(readAt);
    const unread = await notificationsOf(gatewayUrl, user, { unreadOnly: true });
    expect(unread.map((entry) => entry.id)).not.toContain(welcome!.id);
    const all = await notificationsOf(gatewayUrl, user);
    expect(all.find((entry) => entry.id === welcome!.id)!.readAt).toBe(readAt);
  });

  it('lets nobody else mark a notification: NOT_FOUND, as for one that does not exist', async () => {
    const owner = await register(gatewayUrl, 'BUYER', 'Owner');
    const other = await register(gatewayUrl, 'MERCHANT', 'Nosy');
    const [welcome] = await waitForNotifications(gatewayUrl, owner, ofType('user.registered', 'IN_APP'));
    expect(errorCode(await gql(gatewayUrl, MARK_READ, { id: welcome!.id }, other.accessToken))).toBe('NOT_FOUND');
    expect(errorCode(await gql(gatewayUrl, MARK_READ, { id: 'ntf_doesnotexist' }, owner.accessToken))).toBe('NOT_FOUND');
    expect(errorCode(await gql(gatewayUrl, MARK_READ, { id: welcome!.id }))).toBe('UNAUTHENTICATED');
    expect((await notificationsOf(gatewayUrl, owner)).find((entry) => entry.id === welcome!.id)!.readAt).toBeNull();
    // Nor does anyone see someone else's.
    expect((await notificationsOf(gatewayUrl, other)).map((entry) => entry.id)).not.toContain(welcome!.id);
  });

  it('pages newest first with cursors and refuses a bad page size or cursor', async () => {
    const buyer = await fundedBuyer('Pager');
    for (const amount of ['100', '200', '300']) await pay(gatewayUrl, buyer, merchant, amount);
    await waitForNotifications(gatewayUrl, buyer, ofType('payment.succeeded', 'IN_APP'), 3);
    const first = await gql(gatewayUrl, NOTIFICATIONS, { first: 2 }, buyer.accessToken);
    const firstPage = first.data!.notifications;
    expect(firstPage.edges).toHaveLength(2);
    expect(firstPage.pageInfo.hasNextPage).toBe(true);
    const rest = (await gql(gatewayUrl, NOTIFICATIONS, { first: 100, after: firstPage.pageInfo.endCursor }, buyer.accessToken)).data!.notifications;
    const ids = [...firstPage.edges, ...rest.edges].map((edge: { node: NotificationView }) => edge.node.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual((await notificationsOf(gatewayUrl, buyer)).map((entry) => entry.id));
    const times = [...firstPage.edges, ...rest.edges].map((edge: { node: NotificationView }) => new Date(edge.node.createdAt).getTime());
    expect(times).toEqual([...times].sort((a, b) => b - a));
    expect(rest.pageInfo.hasNextPage).toBe(false);
    for (const variables of [{ first: 101 }, { first: 0 }, { after: 'not-a-cursor' }]) {
      const refused = await gql(gatewayUrl, NOTIFICATIONS, variables, buyer.accessToken);
      expect(errorCode(refused)).toBe('BAD_USER_INPUT');
    }
    expect(errorCode(await gql(gatewayUrl, NOTIFICATIONS, { first: 10 }))).toBe('UNAUTHENTICATED');
  });
});

describe('recipients', () => {
  const recipientRow = async (userId: string) =>
    (await started.database.query<{ email: string | null; name: string; version: number }>(`select email, name, version from notifications.recipients where user_id = $1`, [userId]))[0];

  it('follows a changed email address: later emails go to the new one', async () => {
    const buyer = await fundedBuyer('Moving Buyer');
    await vi.waitFor(async () => expect((await recipientRow(buyer.id))?.email).toBe(buyer.email), { timeout: 15_000, interval: 50 });
    const moved = `moved-${randomBytes(6).toString('hex')}@example.test`;
    const updated = await gql(gatewayUrl, `mutation($input: UpdateUserInput!) { updateUser(input: $input) { id email } }`, { input: { email: moved, currentPassword: TEST_PASSWORD } }, buyer.accessToken);
    expect(updated.errors).toBeUndefined();
    // The OLD address is told of the change (an EMAIL there whatever the preferences), not the new one.
    await vi.waitFor(() => expect(developmentDeliveries.forUser(buyer.id, 'EMAIL').filter((entry) => entry.title === 'The email address of your Paygraph account was changed').map((entry) => entry.to)).toEqual([buyer.email]), { timeout: 15_000, interval: 50 });
    await vi.waitFor(async () => expect(await recipientRow(buyer.id)).toMatchObject({ email: moved, version: 2 }), { timeout: 15_000, interval: 50 });
    const payment = await pay(gatewayUrl, buyer, merchant, '300');
    await vi.waitFor(() => expect(developmentDeliveries.forUser(buyer.id, 'EMAIL').find((entry) => entry.body.includes(payment.id))?.to).toBe(moved), { timeout: 15_000, interval: 50 });
  });

  it('never lets an older user event overwrite a newer one', async () => {
    const user = await register(gatewayUrl, 'BUYER', 'Versioned');
    await vi.waitFor(async () => expect((await recipientRow(user.id))?.version).toBe(1), { timeout: 15_000, interval: 50 });
    const userEvent = (version: number, name: string): DomainEvent => ({
      id: `evt_${randomBytes(10).toString('hex')}`,
      source: 'users',
      sequence: '1',
      aggregateType: 'User',
      aggregateId: user.id,
      aggregateVersion: version,
      type: 'user.updated',
      payload: { userId: user.id, email: user.email, name, role: 'BUYER' },
      occurredAt: new Date().toISOString(),
    });
    await notificationsHandle.consumer!.handle(userEvent(5, 'Fifth'));
    await notificationsHandle.consumer!.handle(userEvent(3, 'Third'));
    expect(await recipientRow(user.id)).toMatchObject({ name: 'Fifth', version: 5 });
  });

  it('asks the users service about a user it has not heard of before applying an event', async () => {
    const buyer = await register(gatewayUrl, 'BUYER', 'Unheard Buyer');
    await vi.waitFor(async () => expect(await recipientRow(buyer.id)).toBeDefined(), { timeout: 15_000, interval: 50 });
    await started.database.query(`delete from notifications.recipients where user_id = $1`, [buyer.id]);
    const event = paymentEvent(buyer.id, merchant.id, { type: 'payment.canceled', status: 'CANCELED', previousStatus: 'AUTHORIZED', version: 4, amount: '800', currency: 'USD', captured: '0' });
    const paymentId = event.aggregateId;
    expect(await notificationsHandle.consumer!.handle(event)).toBe(true);
    // Looked up (version 0: any user event replaces it), with the address only a service may read.
    expect(await recipientRow(buyer.id)).toEqual({ email: buyer.email, name: 'Unheard Buyer', version: 0 });
    const canceled = (await notificationsOf(gatewayUrl, buyer)).filter((entry) => entry.body.includes(paymentId));
    expect(canceled.map((entry) => [entry.channel, entry.title]).sort()).toEqual([
      ['EMAIL', 'Payment of 8.00 USD canceled'],
      ['IN_APP', 'Payment of 8.00 USD canceled'],
    ]);
  });
});

describe('exactly once', () => {
  it('notifies once for an event delivered twice', async () => {
    const buyer = await register(gatewayUrl, 'BUYER', 'Twice Buyer');
    await waitForNotifications(gatewayUrl, buyer, ofType('user.registered', 'IN_APP'));
    const event = paymentEvent(buyer.id, merchant.id, { type: 'payment.succeeded', status: 'SUCCEEDED', previousStatus: 'PENDING', version: 3, amount: '1200', currency: 'EUR', captured: '1200' });
    const paymentId = event.aggregateId;
    const consumer = notificationsHandle.consumer!;
    expect(await consumer.handle(event)).toBe(true);
    expect(await consumer.handle(event)).toBe(false);
    const [both] = await Promise.all([Promise.all([consumer.handle(event), consumer.handle(event)])]);
    expect(both).toEqual([false, false]);
    const toBuyer = (await notificationsOf(gatewayUrl, buyer)).filter((entry) => entry.body.includes(paymentId));
    expect(toBuyer.map((entry) => entry.channel).sort()).toEqual(['EMAIL', 'IN_APP']);
    expect(toBuyer[0]!.title).toBe('Payment of 12.00 EUR succeeded');
    expect((await notificationsOf(gatewayUrl, merchant)).filter((entry) => entry.body.includes(paymentId)).map((entry) => entry.channel).sort()).toEqual(['EMAIL', 'IN_APP']);
  });

  it('applies an event naming a user nobody knows without notifying anyone', async () => {
    const ghost = `usr_${randomBytes(10).toString('hex')}`;
    const event: DomainEvent = {
      id: `evt_${randomBytes(10).toString('hex')}`,
      source: 'payments',
      sequence: '1',
      aggregateType: 'Refund',
      aggregateId: 'ref_test',
      aggregateVersion: 2,
      type: 'refund.succeeded',
      payload: { refundId: 'ref_test', paymentId: 'pay_ghost', orderId: 'ord_ghost', buyerId: ghost, merchantId: merchant.id, amount: '500', currency: 'JPY' },
      occurredAt: new Date().toISOString(),
    };
    expect(await notificationsHandle.consumer!.handle(event)).toBe(true);
    const [toMerchant] = await waitForNotifications(gatewayUrl, merchant, mentioning('pay_ghost', 'refund.succeeded', 'IN_APP'));
    expect(toMerchant).toMatchObject({ title: 'You refunded 500 JPY', body: 'Your refund of 500 JPY to the buyer succeeded. Payment pay_ghost.' });
    const [row] = await started.database.query<{ count: string }>(`select count(*)::text as count from notifications.notifications where user_id = $1`, [ghost]);
    expect(row!.count).toBe('0');
  });
});
