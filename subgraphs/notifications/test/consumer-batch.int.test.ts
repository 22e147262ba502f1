// Proves the consumer's batch (handleBatch, what the PostgreSQL transport hands it) on a database of
// this file's own: the events are applied in their order with the effect of handling each alone;
// the payment events of users already seen go together (one read, one write), while a user event
// or a user not seen yet is handled alone in its place, so an event after it that needs it finds it.
// Redelivering the batch changes nothing.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { DomainEvent } from '@paygraph/events';
import { createLogger } from '@paygraph/logging';
import type { ServiceClient } from '@paygraph/service-client';
import { createEventConsumer, type EventConsumer } from '../src/consumer';
import { createNotificationsStore } from '../src/store/notifications-store';
import { ownNotificationsDatabase } from './support';

let own: Awaited<ReturnType<typeof ownNotificationsDatabase>>;
let consumer: EventConsumer;
/** Users the users service knows, and how often it was asked. */
const directory = new Map<string, { id: string; email: string; name: string; role: string }>();
let lookups = 0;
/** While set, the users service answers no lookup (down). */
let usersDown = false;
let deliveriesCreated = 0;

beforeAll(async () => {
  own = await ownNotificationsDatabase('notification_batch');
  const users: ServiceClient = {
    request: async <T>(_target: string, _query: string, variables?: Record<string, unknown>) => {
      lookups += 1;
      if (usersDown) throw new Error('users is unreachable');
      return { user: directory.get(String(variables?.id)) ?? null } as T;
    },
  };
  consumer = createEventConsumer({
    store: createNotificationsStore(own.database),
    users,
    logger: createLogger({ level: 'silent' }),
    onDeliveriesCreated: () => void (deliveriesCreated += 1),
  });
});

afterAll(async () => {
  await own?.close();
});

const suffix = () => randomBytes(6).toString('hex');
let sequence = 0;

function event(type: string, source: string, payload: Record<string, unknown>): DomainEvent {
  sequence += 1;
  return { id: `evt_${suffix()}`, source, sequence: String(sequence), aggregateType: source === 'users' ? 'User' : 'Payment', aggregateId: `agg_${suffix()}`, aggregateVersion: 1, type, payload, occurredAt: new Date().toISOString() };
}

const succeeded = (buyerId: string, merchantId: string) =>
  event('payment.succeeded', 'payments', { paymentId: `pay_${suffix()}`, orderId: 'ord_test', buyerId, merchantId, status: 'SUCCEEDED', previousStatus: 'PENDING', amount: '2500', currency: 'USD', amountCaptured: '2500', amountRefunded: '0', failureCode: null });

const registered = (userId: string, name: string) => event('user.registered', 'users', { userId, email: `${userId}@example.test`, name, role: 'BUYER' });

const channelsOf = async (eventId: string) =>
  (await own.database.query<{ user_id: string; channel: string }>(`select user_id, channel from notifications.notifications where event_id = $1 order by position`, [eventId])).map((row) => `${row.user_id}:${row.channel}`);

it('applies a batch in order as handling each event alone would, the payment events of users already seen together', async () => {
  const buyer = `usr_${suffix()}`;
  const merchant = `usr_${suffix()}`;
  const newcomer = `usr_${suffix()}`;
  directory.set(buyer, { id: buyer, email: `${buyer}@example.test`, name: 'Ada Buyer', role: 'BUYER' });
  directory.set(merchant, { id: merchant, email: `${merchant}@example.test`, name: 'Corner Shop', role: 'MERCHANT' });
  // The first payment makes both users known to this consumer (looked up, then remembered).
  const first = succeeded(buyer, merchant);
  expect(await consumer.handle(first)).toBe(true);
  expect(lookups).toBe(2);

  const together = [succeeded(buyer, merchant), succeeded(buyer, merchant), succeeded(buyer, merchant)];
  const welcome = registered(newcomer, 'New Buyer');
  // Needs the newcomer, whom the user event before it in the batch stores.
  const afterWelcome = succeeded(newcomer, merchant);
  const unrelated = event('order.created', 'payments', { orderId: `ord_${suffix()}` });
  // An event that asks nothing of notifications, in the middle of the run: it does not split it.
  const batch = [together[0]!, unrelated, together[1]!, together[2]!, welcome, afterWelcome];

  const before = own.statements();
  const createdBefore = deliveriesCreated;
  await consumer.handleBatch(batch);
  // The three payments (across the unrelated event): one read, one write. The user event: its own transaction (inbox, recipient,
  // read, write). The newcomer's payment: known from the user event just applied (no lookup), alone
  // as the last run (read, write).
  expect(own.statements() - before).toBe(2 + 4 + 2);
  expect(lookups).toBe(2);
  expect(deliveriesCreated - createdBefore).toBeGreaterThanOrEqual(1);

  for (const paid of together) expect(await channelsOf(paid.id)).toEqual(await channelsOf(first.id));
  expect(await channelsOf(first.id)).toEqual([`${buyer}:IN_APP`, `${buyer}:EMAIL`, `${merchant}:IN_APP`, `${merchant}:EMAIL`]);
  expect(await channelsOf(welcome.id)).toEqual([`${newcomer}:IN_APP`, `${newcomer}:EMAIL`]);
  expect(await channelsOf(afterWelcome.id)).toEqual([`${newcomer}:IN_APP`, `${newcomer}:EMAIL`, `${merchant}:IN_APP`, `${merchant}:EMAIL`]);
  expect(await channelsOf(unrelated.id)).toEqual([]);
  const inbox = await own.database.query<{ event_id: string }>(`select event_id from notifications.processed_events where event_id = any(string_to_array($1, ','))`, [batch.map((e) => e.id).join(',')]);
  expect(new Set(inbox.map((row) => row.event_id))).toEqual(new Set([...together, welcome, afterWelcome].map((e) => e.id)));

  // The same batch again (a crash before the offset was saved): nothing is written twice.
  const count = async () => Number((await own.database.query<{ n: string }>(`select count(*)::text as n from notifications.notifications`))[0]!.n);
  const rows = await count();
  await consumer.handleBatch(batch);
  expect(await count()).toBe(rows);
});

it('stops a batch at an event it cannot apply yet, leaving the runs before it applied; the batch again applies the rest once', async () => {
  const buyer = `usr_${suffix()}`;
  const merchant = `usr_${suffix()}`;
  const newcomer = `usr_${suffix()}`;
  for (const [userId, name] of [[buyer, 'Ada Buyer'], [merchant, 'Corner Shop'], [newcomer, 'New Buyer']] as const) {
    directory.set(userId, { id: userId, email: `${userId}@example.test`, name, role: 'BUYER' });
  }
  expect(await consumer.handle(succeeded(buyer, merchant))).toBe(true);
  const before = [succeeded(buyer, merchant), succeeded(buyer, merchant)];
  // The newcomer was never seen: applying this needs users, which is down.
  const blocked = succeeded(newcomer, merchant);
  const after = succeeded(buyer, merchant);
  const batch = [...before, blocked, after];
  usersDown = true;
  try {
    await expect(consumer.handleBatch(batch)).rejects.toThrow('users is unreachable');
  } finally {
    usersDown = false;
  }
  // A crash between two steps of the batch: the run before the failing event is applied, nothing after it.
  for (const paid of before) expect(await channelsOf(paid.id)).toHaveLength(4);
  expect(await channelsOf(blocked.id)).toEqual([]);
  expect(await channelsOf(after.id)).toEqual([]);
  // The transport delivers the same batch again once users answers: the rest is applied, nothing twice.
  await consumer.handleBatch(batch);
  for (const paid of batch) expect(await channelsOf(paid.id)).toHaveLength(4);
  const inbox = await own.database.query<{ n: string }>(`select count(*)::text as n from notifications.processed_events where event_id = any(string_to_array($1, ','))`, [batch.map((e) => e.id).join(',')]);
  expect(inbox[0]!.n).toBe('4');
});
