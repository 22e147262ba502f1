// Proves the delivery claim on a real database of this file's own (PGlite, or PostgreSQL with
// DATABASE_URL, where claims really run side by side on several connections): workers claiming at
// once never take the same delivery, a claimed delivery is nobody else's until its lease ends, a
// worker whose lease ran out cannot overwrite the outcome of the one that took over, and a failure
// waits its backoff before the next attempt and the last one fails the notification with it.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ServiceDatabase } from '@paygraph/db';
import { schema } from '../src/db/schema';
import { createNotificationsStore, type AttemptOutcome, type NotificationsStore } from '../src/store/notifications-store';
import { ownNotificationsDatabase } from './support';

let database: ServiceDatabase<typeof schema>;
let store: NotificationsStore;
let own: Awaited<ReturnType<typeof ownNotificationsDatabase>>;
/** Statements sent to this file's database. */
const statements = () => own.statements();

beforeAll(async () => {
  own = await ownNotificationsDatabase('notification_claims');
  database = own.database;
  store = createNotificationsStore(database);
});

afterAll(async () => {
  await own?.close();
});

const suffix = () => randomBytes(6).toString('hex');

/** The deliveries a claim took. */
const claim = async (limit: number, leaseMs: number) => (await store.claimDue(limit, leaseMs)).claimed;
const record = (outcome: AttemptOutcome) => store.recordAttempts([outcome]);

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

const outcome = (deliveryId: string, attempt: number, status: 'SENT' | 'FAILED' | 'PENDING', retryInMs = 0): AttemptOutcome => ({
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
  const claims = await Promise.all([claim(12, 60_000), claim(12, 60_000), claim(12, 60_000)]);
  const claimed = claims.flat();
  expect(claimed.map((delivery) => delivery.id).sort()).toEqual([...seeded].sort());
  expect(claimed.every((delivery) => delivery.attempt === 1 && delivery.notification?.title === 'Title')).toBe(true);
  // Claimed deliveries are leased: nobody takes them again before the lease ends.
  expect(await claim(50, 60_000)).toEqual([]);
  for (const delivery of claimed) await record(outcome(delivery.id, delivery.attempt, 'SENT'));
  expect((await statusOf(seeded[0]!)).notification_status).toBe('SENT');
});

it('lets another worker take over when a lease ends, and ignores the outcome of the worker that lost it', async () => {
  const [deliveryId] = await seed(1);
  const [first] = await claim(5, 1);
  expect(first).toMatchObject({ id: deliveryId, attempt: 1 });
  await new Promise((resolve) => setTimeout(resolve, 20));
  const [second] = await claim(5, 60_000);
  expect(second).toMatchObject({ id: deliveryId, attempt: 2 });
  // The first worker comes back late with a failure: recorded as its attempt, nothing else changes.
  await record(outcome(deliveryId!, 1, 'FAILED'));
  expect(await statusOf(deliveryId!)).toMatchObject({ status: 'PENDING', attempts: 2, notification_status: 'PENDING' });
  await record(outcome(deliveryId!, 2, 'SENT'));
  expect(await statusOf(deliveryId!)).toMatchObject({ status: 'SENT', notification_status: 'SENT' });
  const attempts = await store.attemptsByDeliveryIds([deliveryId!]);
  expect(attempts.map((attempt) => [attempt.number, attempt.succeeded])).toEqual([
    [1, false],
    [2, true],
  ]);
});

it('waits the backoff after a failure and fails the notification with the last attempt', async () => {
  const [deliveryId] = await seed(1);
  const [claimed] = await claim(5, 60_000);
  await record(outcome(deliveryId!, claimed!.attempt, 'PENDING', 60_000));
  const waiting = await statusOf(deliveryId!);
  expect(waiting).toMatchObject({ status: 'PENDING', attempts: 1 });
  expect(new Date(String(waiting.next_attempt_at instanceof Date ? waiting.next_attempt_at.toISOString() : waiting.next_attempt_at)).getTime()).toBeGreaterThan(Date.now() + 50_000);
  const later = await store.claimDue(5, 60_000);
  expect(later.claimed).toEqual([]);
  expect(later.nextDueAt!.getTime()).toBeGreaterThan(Date.now() + 50_000);
  await database.query(`update notifications.deliveries set next_attempt_at = now() where id = $1`, [deliveryId]);
  const [again] = await claim(5, 60_000);
  expect(again).toMatchObject({ id: deliveryId, attempt: 2 });
  await record(outcome(deliveryId!, 2, 'FAILED'));
  expect(await statusOf(deliveryId!)).toMatchObject({ status: 'FAILED', attempts: 2, notification_status: 'FAILED' });
  expect(await claim(5, 60_000)).toEqual([]);
});

it('records a batch of outcomes in one statement, each changing its delivery only while still its worker\'s claim', async () => {
  const seeded = await seed(4);
  const stale = await claim(10, 1);
  expect(stale.map((delivery) => delivery.id).sort()).toEqual([...seeded].sort());
  await new Promise((resolve) => setTimeout(resolve, 20));
  // Another worker takes two of them over when the lease ends; the first worker still holds the other two.
  const takenOver = (await claim(2, 60_000)).map((delivery) => delivery.id);
  expect(takenOver).toHaveLength(2);
  const [lostSent, lostFailed] = takenOver as [string, string];
  const [keptSent, keptRetry] = seeded.filter((id) => !takenOver.includes(id)) as [string, string];
  const before = statements();
  const retries = await store.recordAttempts([outcome(lostSent, 1, 'SENT'), outcome(lostFailed, 1, 'FAILED'), outcome(keptSent, 1, 'SENT'), outcome(keptRetry, 1, 'PENDING', 60_000)]);
  expect(statements() - before).toBe(1);
  // The lost claims' outcomes are recorded as attempts and change nothing else.
  expect(await statusOf(lostSent)).toMatchObject({ status: 'PENDING', attempts: 2, notification_status: 'PENDING' });
  expect(await statusOf(lostFailed)).toMatchObject({ status: 'PENDING', attempts: 2, notification_status: 'PENDING' });
  expect(await statusOf(keptSent)).toMatchObject({ status: 'SENT', attempts: 1, notification_status: 'SENT' });
  const retrying = await statusOf(keptRetry);
  expect(retrying).toMatchObject({ status: 'PENDING', attempts: 1, notification_status: 'PENDING' });
  // Only the delivery this record left PENDING is returned, with when its retry falls due.
  expect([...retries.keys()]).toEqual([keptRetry]);
  expect(retries.get(keptRetry)!.getTime()).toBe(new Date(String(retrying.next_attempt_at instanceof Date ? retrying.next_attempt_at.toISOString() : retrying.next_attempt_at)).getTime());
  expect(retries.get(keptRetry)!.getTime()).toBeGreaterThan(Date.now() + 50_000);
  const attempts = await store.attemptsByDeliveryIds(seeded);
  expect(attempts.map((attempt) => [attempt.deliveryId, attempt.number, attempt.succeeded, attempt.error]).sort()).toEqual(
    [
      [lostSent, 1, true, null],
      [lostFailed, 1, false, 'provider refused'],
      [keptSent, 1, true, null],
      [keptRetry, 1, false, 'provider refused'],
    ].sort(),
  );
  // Outcomes written again (a retried write) change nothing: the attempts exist, the claims are spent.
  expect((await store.recordAttempts([outcome(lostSent, 1, 'FAILED'), outcome(keptSent, 1, 'FAILED')])).size).toBe(0);
  expect(await statusOf(lostSent)).toMatchObject({ status: 'PENDING', attempts: 2, notification_status: 'PENDING' });
  expect(await statusOf(keptSent)).toMatchObject({ status: 'SENT', notification_status: 'SENT' });
  expect((await store.attemptsByDeliveryIds([lostSent, keptSent])).map((attempt) => attempt.succeeded)).toEqual([true, true]);
  // The worker that took over finishes its two.
  await store.recordAttempts([outcome(lostSent, 2, 'SENT'), outcome(lostFailed, 2, 'FAILED')]);
  expect(await statusOf(lostSent)).toMatchObject({ status: 'SENT', notification_status: 'SENT' });
  expect(await statusOf(lostFailed)).toMatchObject({ status: 'FAILED', notification_status: 'FAILED' });
  await database.query(`update notifications.deliveries set status = 'SENT' where id = $1`, [keptRetry]);
});

it('says in the claim when the earliest delivery it did not take falls due', async () => {
  const [soon, later] = await seed(2);
  await database.query(`update notifications.deliveries set next_attempt_at = now() + interval '30 seconds' where id = $1`, [soon]);
  await database.query(`update notifications.deliveries set next_attempt_at = now() + interval '90 seconds' where id = $1`, [later]);
  const [due] = await seed(1);
  const before = statements();
  const first = await store.claimDue(5, 600_000);
  expect(statements() - before).toBe(1);
  expect(first.claimed.map((delivery) => delivery.id)).toEqual([due]);
  // Not the claimed one's lease: the earliest of the others.
  expect(first.nextDueAt!.getTime()).toBeGreaterThan(Date.now() + 20_000);
  expect(first.nextDueAt!.getTime()).toBeLessThan(Date.now() + 40_000);
  await store.recordAttempts([outcome(due!, 1, 'SENT')]);
  await database.query(`update notifications.deliveries set status = 'SENT' where id = any(string_to_array($1, ','))`, [[soon, later].join(',')]);
  expect(await store.claimDue(5, 60_000)).toEqual({ claimed: [], nextDueAt: null });
});
