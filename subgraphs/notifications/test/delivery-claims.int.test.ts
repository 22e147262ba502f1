// Proves the delivery claim on a real database of this file's own (PGlite, or PostgreSQL with
// DATABASE_URL, where claims really run side by side on several connections): workers claiming at
// once never take the same delivery, a claimed delivery is nobody else's until its lease ends, a
// worker whose lease ran out cannot overwrite the outcome of the one that took over, and a failure
// waits its backoff before the next attempt and the last one fails the notification with it.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openServiceDatabase, type ServiceDatabase } from '@paygraph/db';
import { schema } from '../src/db/schema';
import { migrationsFolder } from '../src/server';
import { createNotificationsStore, type NotificationsStore } from '../src/store/notifications-store';
import { isolatedDatabase } from './support';

let database: ServiceDatabase<typeof schema>;
let store: NotificationsStore;
let drop: () => Promise<void>;

beforeAll(async () => {
  const own = await isolatedDatabase('notification_claims');
  drop = own.drop;
  database = await openServiceDatabase({
    service: 'notifications',
    target: own.url ? { kind: 'postgres', url: own.url, poolMax: 10 } : { kind: 'pglite', dataDir: 'memory://notification-claims' },
    schema,
    migrationsFolder,
  });
  store = createNotificationsStore(database);
});

afterAll(async () => {
  await database?.close();
  await drop?.();
});

const suffix = () => randomBytes(6).toString('hex');

/** Pending SMS notifications with their deliveries, due now; returns the delivery ids. */
async function seed(count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let index = 0; index < count; index += 1) {
    const notificationId = `ntf_${suffix()}`;
    const deliveryId = `dlv_${suffix()}`;
    await database.query(`insert into notifications.notifications (id, user_id, channel, type, title, body, status, event_id) values ($1, 'usr_claims', 'SMS', 'payment.succeeded', 'Title', 'Body', 'PENDING', $2)`, [
      notificationId,
      `evt_${suffix()}`,
    ]);
    await database.query(`insert into notifications.deliveries (id, kind, channel, notification_id, user_id, event_id, event_type, status) values ($1, 'NOTIFICATION', 'SMS', $2, 'usr_claims', 'evt_x', 'payment.succeeded', 'PENDING')`, [
      deliveryId,
      notificationId,
    ]);
    ids.push(deliveryId);
  }
  return ids;
}

const statusOf = async (deliveryId: string) =>
  (await database.query<{ status: string; attempts: number; notification_status: string; next_attempt_at: unknown }>(
    `select d.status, d.attempts, d.next_attempt_at, n.status as notification_status from notifications.deliveries d join notifications.notifications n on n.id = d.notification_id where d.id = $1`,
    [deliveryId],
  ))[0]!;

const outcome = (deliveryId: string, attempt: number, status: 'SENT' | 'FAILED' | 'PENDING', retryInMs = 0) => ({
  deliveryId,
  attempt,
  attemptedAt: new Date(),
  succeeded: status === 'SENT',
  responseStatus: null,
  error: status === 'SENT' ? null : 'provider refused',
  status,
  retryInMs,
});

it('gives each due delivery to exactly one of several workers claiming at once', async () => {
  const seeded = await seed(30);
  const claims = await Promise.all([store.claimDue(12, 60_000), store.claimDue(12, 60_000), store.claimDue(12, 60_000)]);
  const claimed = claims.flat();
  expect(claimed.map((delivery) => delivery.id).sort()).toEqual([...seeded].sort());
  expect(claimed.every((delivery) => delivery.attempt === 1 && delivery.notification?.title === 'Title')).toBe(true);
  // Claimed deliveries are leased: nobody takes them again before the lease ends.
  expect(await store.claimDue(50, 60_000)).toEqual([]);
  for (const delivery of claimed) await store.recordAttempt(outcome(delivery.id, delivery.attempt, 'SENT'));
  expect((await statusOf(seeded[0]!)).notification_status).toBe('SENT');
});

it('lets another worker take over when a lease ends, and ignores the outcome of the worker that lost it', async () => {
  const [deliveryId] = await seed(1);
  const [first] = await store.claimDue(5, 1);
  expect(first).toMatchObject({ id: deliveryId, attempt: 1 });
  await new Promise((resolve) => setTimeout(resolve, 20));
  const [second] = await store.claimDue(5, 60_000);
  expect(second).toMatchObject({ id: deliveryId, attempt: 2 });
  // The first worker comes back late with a failure: recorded as its attempt, nothing else changes.
  await store.recordAttempt(outcome(deliveryId!, 1, 'FAILED'));
  expect(await statusOf(deliveryId!)).toMatchObject({ status: 'PENDING', attempts: 2, notification_status: 'PENDING' });
  await store.recordAttempt(outcome(deliveryId!, 2, 'SENT'));
  expect(await statusOf(deliveryId!)).toMatchObject({ status: 'SENT', notification_status: 'SENT' });
  const attempts = await store.attemptsByDeliveryIds([deliveryId!]);
  expect(attempts.map((attempt) => [attempt.number, attempt.succeeded])).toEqual([
    [1, false],
    [2, true],
  ]);
});

it('waits the backoff after a failure and fails the notification with the last attempt', async () => {
  const [deliveryId] = await seed(1);
  const [claimed] = await store.claimDue(5, 60_000);
  await store.recordAttempt(outcome(deliveryId!, claimed!.attempt, 'PENDING', 60_000));
  const waiting = await statusOf(deliveryId!);
  expect(waiting).toMatchObject({ status: 'PENDING', attempts: 1 });
  expect(new Date(String(waiting.next_attempt_at instanceof Date ? waiting.next_attempt_at.toISOString() : waiting.next_attempt_at)).getTime()).toBeGreaterThan(Date.now() + 50_000);
  expect(await store.claimDue(5, 60_000)).toEqual([]);
  expect((await store.nextDueAt())!.getTime()).toBeGreaterThan(Date.now() + 50_000);
  await database.query(`update notifications.deliveries set next_attempt_at = now() where id = $1`, [deliveryId]);
  const [again] = await store.claimDue(5, 60_000);
  expect(again).toMatchObject({ id: deliveryId, attempt: 2 });
  await store.recordAttempt(outcome(deliveryId!, 2, 'FAILED'));
  expect(await statusOf(deliveryId!)).toMatchObject({ status: 'FAILED', attempts: 2, notification_status: 'FAILED' });
  expect(await store.claimDue(5, 60_000)).toEqual([]);
});
