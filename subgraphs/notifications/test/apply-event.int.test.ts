// Proves, on a database of this file's own (PGlite, or PostgreSQL with DATABASE_URL), what applying
// one event writes, row by row and in order: each notification on IN_APP and on the channels the
// recipient's preferences choose, a delivery per PENDING one, a webhook delivery per endpoint of the
// merchant that was enabled when the event occurred (oldest first), with the event's trace; in two
// statements and no transaction for users already known (one read, then the inbox row with every
// notification and delivery in one write), once (the inbox).
// A user taken as known without a recipient row rolls the whole event back (inbox row included),
// so it can be applied again once that user is looked up. Text is stored as a text parameter
// stores it (a name cut in the middle of an emoji keeps U+FFFD for the lone half).
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ServiceDatabase } from '@paygraph/db';
import type { DomainEvent } from '@paygraph/events';
import { schema } from '../src/db/schema';
import { planEvent } from '../src/domain/messages';
import { createNotificationsStore, webhookBody, type NotificationsStore } from '../src/store/notifications-store';
import { ownNotificationsDatabase } from './support';

let database: ServiceDatabase<typeof schema>;
let store: NotificationsStore;
let own: Awaited<ReturnType<typeof ownNotificationsDatabase>>;
/** Statements sent to this file's database. */
const statements = () => own.statements();

beforeAll(async () => {
  own = await ownNotificationsDatabase('notification_apply');
  database = own.database;
  store = createNotificationsStore(database);
});

afterAll(async () => {
  await own?.close();
});

const suffix = () => randomBytes(6).toString('hex');
const TRACE_PARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

async function recipient(userId: string, name: string, email: string | null): Promise<void> {
  await database.query(`insert into notifications.recipients (user_id, email, name, role, version) values ($1, $2, $3, 'BUYER', 1)`, [userId, email, name]);
}

async function endpoint(merchantId: string, createdSecondsAgo: number, disabled = false): Promise<string> {
  const id = `whe_${suffix()}`;
  await database.query(
    `insert into notifications.webhook_endpoints (id, merchant_id, url, secret_sealed, created_at, disabled_at)
     values ($1, $2, 'https://hooks.example.com/paygraph', 'sealed', now() - $3::integer * interval '1 second', case when $4::text::boolean then now() end)`,
    [id, merchantId, String(createdSecondsAgo), String(disabled)],
  );
  return id;
}

function paymentSucceeded(buyerId: string, merchantId: string): DomainEvent {
  const paymentId = `pay_${suffix()}`;
  return {
    id: `evt_${suffix()}`,
    source: 'payments',
    sequence: '1',
    aggregateType: 'Payment',
    aggregateId: paymentId,
    aggregateVersion: 3,
    type: 'payment.succeeded',
    payload: { paymentId, orderId: 'ord_test', buyerId, merchantId, status: 'SUCCEEDED', previousStatus: 'PENDING', amount: '2500', currency: 'USD', amountCaptured: '2500', amountRefunded: '0', failureCode: null },
    occurredAt: new Date().toISOString(),
    traceParent: TRACE_PARENT,
  };
}

function userEvent(type: 'user.registered' | 'user.updated', userId: string, version: number, payload: Record<string, unknown>): DomainEvent {
  return { id: `evt_${suffix()}`, source: 'users', sequence: '1', aggregateType: 'User', aggregateId: userId, aggregateVersion: version, type, payload: { userId, role: 'BUYER', ...payload }, occurredAt: new Date().toISOString() };
}

const notificationsOf = (eventId: string) =>
  database.query<{ id: string; user_id: string; channel: string; type: string; title: string; body: string; status: string }>(
    `select id, user_id, channel, type, title, body, status from notifications.notifications where event_id = $1 order by position`,
    [eventId],
  );

const deliveriesOf = (eventId: string) =>
  database.query<Record<string, unknown>>(
    `select kind, channel, notification_id, endpoint_id, user_id, event_id, event_type, body, status, attempts, email_to, trace_parent from notifications.deliveries where event_id = $1 order by position`,
    [eventId],
  );

it('writes every notification and delivery of an event, in order, in two statements for known users, and once', async () => {
  const buyer = `usr_${suffix()}`;
  const merchant = `usr_${suffix()}`;
  await recipient(buyer, 'Ada Buyer', 'ada@example.test');
  await recipient(merchant, 'Corner Shop', null);
  await database.query(`insert into notifications.preferences (user_id, email, sms, push) values ($1, true, true, true)`, [buyer]);
  const older = await endpoint(merchant, 120);
  const newer = await endpoint(merchant, 60);
  await endpoint(merchant, 90, true); // disabled: no delivery
  await endpoint(merchant, -3600); // created after the event occurred: no delivery
  await endpoint(buyer, 120); // someone else's
  const event = paymentSucceeded(buyer, merchant);
  const plan = planEvent(event)!;
  const before = statements();
  const result = await store.applyEvent(event, plan, [], new Set([buyer, merchant]));
  expect(statements() - before).toBe(2);
  expect(result).toEqual({ applied: true, deliveries: 5, recipients: expect.arrayContaining([buyer, merchant]), gone: [] });
  expect(result.recipients).toHaveLength(2);

  const [toBuyer, toMerchant] = plan.compose((userId) => (userId === buyer ? 'Ada Buyer' : userId === merchant ? 'Corner Shop' : null));
  const written = await notificationsOf(event.id);
  const message = (planned: typeof toBuyer, channel: string, status: string) => ({ user_id: planned!.userId, channel, type: 'payment.succeeded', title: planned!.title, body: planned!.body, status });
  expect(written.map(({ id: _id, ...row }) => row)).toEqual([
    message(toBuyer, 'IN_APP', 'SENT'),
    message(toBuyer, 'EMAIL', 'PENDING'),
    message(toBuyer, 'SMS', 'PENDING'),
    message(toBuyer, 'PUSH', 'PENDING'),
    // The merchant has no address on file: IN_APP only (the default preferences would add EMAIL).
    message(toMerchant, 'IN_APP', 'SENT'),
  ]);
  expect(toBuyer!.body).toContain('"Corner Shop"');
  const common = { event_id: event.id, event_type: 'payment.succeeded', status: 'PENDING', attempts: 0, trace_parent: TRACE_PARENT, email_to: null };
  expect(await deliveriesOf(event.id)).toEqual([
    { ...common, kind: 'NOTIFICATION', channel: 'EMAIL', notification_id: written[1]!.id, endpoint_id: null, user_id: buyer, body: null },
    { ...common, kind: 'NOTIFICATION', channel: 'SMS', notification_id: written[2]!.id, endpoint_id: null, user_id: buyer, body: null },
    { ...common, kind: 'NOTIFICATION', channel: 'PUSH', notification_id: written[3]!.id, endpoint_id: null, user_id: buyer, body: null },
    { ...common, kind: 'WEBHOOK', channel: 'WEBHOOK', notification_id: null, endpoint_id: older, user_id: merchant, body: webhookBody(event) },
    { ...common, kind: 'WEBHOOK', channel: 'WEBHOOK', notification_id: null, endpoint_id: newer, user_id: merchant, body: webhookBody(event) },
  ]);

  // Delivered again: the read, then the write finds the inbox row and writes nothing.
  const again = statements();
  expect(await store.applyEvent(event, plan, [], new Set([buyer, merchant]))).toEqual({ applied: false, deliveries: 0, recipients: [], gone: [] });
  expect(statements() - again).toBe(2);
  expect(await notificationsOf(event.id)).toHaveLength(5);
  expect(await deliveriesOf(event.id)).toHaveLength(5);
});

it('rolls the whole event back when a user taken as known has no recipient row, and applies it once that user is looked up', async () => {
  const buyer = `usr_${suffix()}`;
  const merchant = `usr_${suffix()}`;
  await recipient(merchant, 'Corner Shop', 'shop@example.test');
  const event = paymentSucceeded(buyer, merchant);
  const plan = planEvent(event)!;
  expect(await store.applyEvent(event, plan, [], new Set([buyer, merchant]))).toEqual({ applied: false, deliveries: 0, recipients: [], gone: [buyer] });
  expect(await database.query(`select 1 from notifications.processed_events where event_id = $1`, [event.id])).toEqual([]);
  expect(await notificationsOf(event.id)).toEqual([]);
  // Looked up (version 0), then applied whole.
  const result = await store.applyEvent(event, plan, [{ userId: buyer, email: 'late@example.test', name: 'Late Buyer', role: 'BUYER' }], new Set([merchant]));
  expect(result).toMatchObject({ applied: true, deliveries: 2, gone: [] });
  expect((await notificationsOf(event.id)).map((row) => [row.user_id === buyer ? 'buyer' : 'merchant', row.channel])).toEqual([
    ['buyer', 'IN_APP'],
    ['buyer', 'EMAIL'],
    ['merchant', 'IN_APP'],
    ['merchant', 'EMAIL'],
  ]);
  expect((await database.query(`select email, version from notifications.recipients where user_id = $1`, [buyer]))[0]).toEqual({ email: 'late@example.test', version: 0 });
});

it('stores a name cut in the middle of an emoji as a text parameter does (U+FFFD), and emails an old address of an email change', async () => {
  const userId = `usr_${suffix()}`;
  const name = `${'a'.repeat(99)}\u{1F600}`; // the payload's name is cut at 100 UTF-16 units: half of the emoji
  const registered = userEvent('user.registered', userId, 1, { email: 'new@example.test', name });
  const before = statements();
  expect(await store.applyEvent(registered, planEvent(registered)!, [], new Set())).toMatchObject({ applied: true, deliveries: 1 });
  // The inbox row, the recipient's facts, one read, one write.
  expect(statements() - before).toBe(4);
  const [welcome] = await notificationsOf(registered.id);
  expect(welcome).toMatchObject({ channel: 'IN_APP', title: `Welcome to Paygraph, ${'a'.repeat(99)}\uFFFD` });
  expect((await database.query(`select name from notifications.recipients where user_id = $1`, [userId]))[0]).toEqual({ name: `${'a'.repeat(99)}\uFFFD` });

  await database.query(`insert into notifications.preferences (user_id, email, sms, push) values ($1, false, true, false)`, [userId]);
  const updated = userEvent('user.updated', userId, 2, { email: 'newer@example.test', name: 'Renamed', previousEmail: 'new@example.test' });
  expect(await store.applyEvent(updated, planEvent(updated)!, [], new Set())).toMatchObject({ applied: true, deliveries: 1 });
  // Whatever the preferences: IN_APP, and EMAIL to the old address only.
  expect((await notificationsOf(updated.id)).map((row) => [row.channel, row.type, row.status])).toEqual([
    ['IN_APP', 'user.email_changed', 'SENT'],
    ['EMAIL', 'user.email_changed', 'PENDING'],
  ]);
  expect(await deliveriesOf(updated.id)).toEqual([expect.objectContaining({ kind: 'NOTIFICATION', channel: 'EMAIL', user_id: userId, email_to: 'new@example.test', trace_parent: null, body: null })]);
});

/** A buyer and a merchant with email addresses, the merchant with one webhook endpoint enabled a minute ago. */
async function buyerAndMerchantWithEmailAndWebhook() {
  const buyer = `usr_${suffix()}`;
  const merchant = `usr_${suffix()}`;
  await recipient(buyer, 'Ada Buyer', 'ada@example.test');
  await recipient(merchant, 'Corner Shop', 'shop@example.test');
  await endpoint(merchant, 60);
  return { buyer, merchant };
}

it('applies an event delivered to two consumers at once exactly once (the inbox row decides, no transaction around the write)', async () => {
  const { buyer, merchant } = await buyerAndMerchantWithEmailAndWebhook();
  const event = paymentSucceeded(buyer, merchant);
  const plan = planEvent(event)!;
  const results = await Promise.all(Array.from({ length: 4 }, () => store.applyEvent(event, plan, [], new Set([buyer, merchant]))));
  expect(results.filter((result) => result.applied)).toHaveLength(1);
  expect(results.filter((result) => !result.applied).every((result) => result.deliveries === 0 && result.gone.length === 0)).toBe(true);
  // Buyer and merchant: IN_APP and EMAIL each; one webhook delivery; nothing twice.
  expect(await notificationsOf(event.id)).toHaveLength(4);
  expect(await deliveriesOf(event.id)).toHaveLength(3);
  expect(await database.query(`select event_id from notifications.processed_events where event_id = $1`, [event.id])).toEqual([{ event_id: event.id }]);
});

it('applies a batch of payment events in two statements, each once and in order, with the endpoints each one found when it occurred', async () => {
  const buyer = `usr_${suffix()}`;
  const merchant = `usr_${suffix()}`;
  const other = `usr_${suffix()}`;
  await recipient(buyer, 'Ada Buyer', 'ada@example.test');
  await recipient(merchant, 'Corner Shop', null);
  await recipient(other, 'Other Shop', null);
  const always = await endpoint(merchant, 120);
  const between = await endpoint(merchant, 30); // after the first event occurred, before the second
  const elsewhere = await endpoint(other, 120);
  const at = (event: DomainEvent, secondsAgo: number): DomainEvent => ({ ...event, occurredAt: new Date(Date.now() - secondsAgo * 1000).toISOString() });
  const first = at(paymentSucceeded(buyer, merchant), 60);
  const second = at(paymentSucceeded(buyer, merchant), 10);
  const third = at(paymentSucceeded(buyer, other), 5);
  // The first was applied before (a batch read again after a crash): the batch writes nothing for it.
  expect(await store.applyEvent(first, planEvent(first)!, [], new Set([buyer, merchant]))).toMatchObject({ applied: true, deliveries: 2 });

  const batch = [first, second, third].map((event) => ({ event, plan: planEvent(event)! }));
  const before = statements();
  const result = await store.applyEvents(batch, new Set([buyer, merchant, other]));
  expect(statements() - before).toBe(2);
  expect(result).toEqual({ applied: new Set([second.id, third.id]), deliveries: 3 + 2, recipients: expect.arrayContaining([buyer, merchant, other]), gone: [] });

  const hooks = async (eventId: string) => (await deliveriesOf(eventId)).filter((row) => row.kind === 'WEBHOOK').map((row) => row.endpoint_id);
  expect(await hooks(first.id)).toEqual([always]);
  expect(await hooks(second.id)).toEqual([always, between]);
  expect(await hooks(third.id)).toEqual([elsewhere]);
  // Each event's rows as applying it alone writes them (buyer: IN_APP and EMAIL; a merchant: IN_APP).
  for (const event of [first, second, third]) expect((await notificationsOf(event.id)).map((row) => row.channel)).toEqual(['IN_APP', 'EMAIL', 'IN_APP']);
  // In the batch's order: every row of the second before any of the third.
  const positions = await database.query<{ event_id: string }>(
    `select event_id from notifications.notifications where event_id in ($1, $2) order by position`,
    [second.id, third.id],
  );
  expect(positions.map((row) => row.event_id)).toEqual([second.id, second.id, second.id, third.id, third.id, third.id]);

  // The same batch again: nothing applied, nothing written.
  expect(await store.applyEvents(batch, new Set([buyer, merchant, other]))).toMatchObject({ applied: new Set(), deliveries: 0, recipients: [] });
  expect(await notificationsOf(second.id)).toHaveLength(3);
  expect(await deliveriesOf(third.id)).toHaveLength(2);
});

it('applies nothing of a batch when a user taken as known has no recipient row', async () => {
  const buyer = `usr_${suffix()}`;
  const merchant = `usr_${suffix()}`;
  const lost = `usr_${suffix()}`;
  await recipient(buyer, 'Ada Buyer', 'ada@example.test');
  await recipient(merchant, 'Corner Shop', null);
  const fine = paymentSucceeded(buyer, merchant);
  const orphan = paymentSucceeded(lost, merchant);
  const result = await store.applyEvents([fine, orphan].map((event) => ({ event, plan: planEvent(event)! })), new Set([buyer, merchant, lost]));
  expect(result).toEqual({ applied: new Set(), deliveries: 0, recipients: [], gone: [lost] });
  expect(await database.query(`select 1 from notifications.processed_events where event_id in ($1, $2)`, [fine.id, orphan.id])).toEqual([]);
  expect(await notificationsOf(fine.id)).toEqual([]);
});

it('applies each event once when overlapping batches are applied at the same time (two consumers of one log)', async () => {
  const { buyer, merchant } = await buyerAndMerchantWithEmailAndWebhook();
  const events = Array.from({ length: 6 }, () => paymentSucceeded(buyer, merchant));
  const batch = (from: number, to: number) => events.slice(from, to).map((event) => ({ event, plan: planEvent(event)! }));
  const known = new Set([buyer, merchant]);
  // Each batch in ascending log order, as every reader reads: overlapping, never in opposite orders.
  const results = await Promise.all([store.applyEvents(batch(0, 4), known), store.applyEvents(batch(2, 6), known), store.applyEvents(batch(0, 6), known), store.applyEvents(batch(1, 5), known)]);
  const appliedBy = results.flatMap((result) => [...result.applied]);
  expect(appliedBy.sort()).toEqual(events.map((event) => event.id).sort());
  expect(results.reduce((sum, result) => sum + result.deliveries, 0)).toBe(events.length * 3);
  for (const event of events) {
    // Buyer and merchant: IN_APP and EMAIL each; one email delivery each and one webhook delivery.
    expect(await notificationsOf(event.id)).toHaveLength(4);
    expect(await deliveriesOf(event.id)).toHaveLength(3);
  }
});
