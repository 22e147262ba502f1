// The one log reader over a real PostgreSQL outbox: positions are compared and ordered as integers
// (crossing 9→10, 99→100, 999→1,000 and 9,999→10,000) by the relay feeding the in-process
// transport and by the paged replay of payment status changes; a viewer's replay reads only its
// own payments; retention prunes old published events but never the newest, never what a durable
// consumer has not applied, and the log's tail then tells a resume that its events are gone.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createInProcessTransport, logHead, logTail, pruneLog, readLog, readPaymentStatusChanges, type DomainEvent } from '../src';
import { createTestDatabase, randomSuffix, recorder, type TestDatabase } from './fixture';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

/** A source named `payments` is what the status-change reader reads; each test gets its own database schema name otherwise. */
async function paymentsSource(): Promise<string> {
  await db.database.query(`drop schema if exists payments cascade`);
  await db.addSource('payments');
  return 'payments';
}

const expected = (count: number) => Array.from({ length: count }, (_, index) => index + 1);

it('relays 10,005 events to the in-process transport in integer position order', async () => {
  const source = `src_${randomSuffix()}`;
  await db.addSource(source);
  const transport = createInProcessTransport();
  const seen = recorder();
  await transport.subscribe(seen.handler, { durable: 'crossing' });
  await db.appendMany(source, 10_005);
  expect(await db.relay(source, transport)).toBe(10_005);
  expect(seen.events.map((event: DomainEvent) => Number(event.sequence))).toEqual(expected(10_005));
  expect(await logHead(db.database.query, source)).toBe(10_005n);
  // Read back in pages that end on each boundary.
  for (const after of [8n, 98n, 998n, 9_998n]) {
    const page = await readLog(db.database.query, source, { after, limit: 3 });
    expect(page.map((event) => event.sequence)).toEqual([after + 1n, after + 2n, after + 3n].map(String));
  }
}, 120_000);

it('replays payment status changes page by page across every power of ten, and one viewer only its own', async () => {
  const source = await paymentsSource();
  await db.appendMany(source, 10_005);
  await db.relay(source, createInProcessTransport());
  const all: number[] = [];
  let after = 0n;
  for (let page = 0; page < 100; page += 1) {
    const changes = await readPaymentStatusChanges(db.database.query, { after, limit: 500 });
    all.push(...changes.map((change) => Number(change.sequence)));
    if (changes.length < 500) break;
    after = changes[changes.length - 1]!.sequence;
  }
  expect(all).toEqual(expected(10_005));
  // appendMany gives buyer usr_b<n % 3>: one viewer's replay holds exactly its third.
  const mine = await readPaymentStatusChanges(db.database.query, { after: 9_990n, limit: 100, partyId: 'usr_b1' });
  expect(mine.map((change) => Number(change.sequence))).toEqual([9_991, 9_994, 9_997, 10_000, 10_003]);
  expect(mine.every((change) => change.buyerId === 'usr_b1')).toBe(true);
  // The merchant of every payment sees them all.
  expect(await readPaymentStatusChanges(db.database.query, { after: 10_000n, limit: 100, partyId: 'usr_m' })).toHaveLength(5);
}, 120_000);

it('prunes published events past retention, never the newest nor what a durable consumer still needs', async () => {
  const source = `src_${randomSuffix()}`;
  await db.addSource(source);
  await db.appendMany(source, 30);
  await db.relay(source, createInProcessTransport());
  await db.appendMany(source, 5); // positioned below, but never published: kept whatever their age
  await db.database.query(`update ${source}.outbox_events set created_at = now() - interval '40 days'`);
  await db.database.query(`with head as (select coalesce(max(position), 0) p from ${source}.outbox_events)
    update ${source}.outbox_events o set position = head.p + n.rn from head, (select id, row_number() over (order by sequence) rn from ${source}.outbox_events where position is null) n where o.id = n.id`);
  expect(await logTail(db.database.query, source)).toBe(1n);

  // A durable consumer has applied up to 20: 21 onwards stays.
  expect(await pruneLog(db.database.query, source, { olderThanSeconds: 30 * 86_400, keepFrom: 21n })).toBe(20);
  expect(await logTail(db.database.query, source)).toBe(21n);
  // Young events stay.
  expect(await pruneLog(db.database.query, source, { olderThanSeconds: 60 * 86_400, keepFrom: null })).toBe(0);
  // Everything published and old goes, except the newest published one... and the unpublished 31..35.
  expect(await pruneLog(db.database.query, source, { olderThanSeconds: 30 * 86_400, keepFrom: null })).toBe(10);
  expect(await logTail(db.database.query, source)).toBe(31n);
  expect(await logHead(db.database.query, source)).toBe(35n);
  await db.relay(source, createInProcessTransport());
  // Now all published: the newest (35) is still kept so the log's head and tail stay known.
  expect(await pruneLog(db.database.query, source, { olderThanSeconds: 30 * 86_400, keepFrom: null })).toBe(4);
  expect(await logTail(db.database.query, source)).toBe(35n);
});
