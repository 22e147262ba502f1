/**
 * What every shared transport (PostgreSQL, NATS) must do, as one suite each transport's test file
 * runs: fan-out to live subscribers, durable consumers that resume and retry, and the relay's
 * crash windows losing nothing. Each transport instance stands for a process (a gateway, a
 * consumer); events are written to a real outbox and published by the real relay.
 */
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { applyOnce, type DomainEvent, type EventTransport, type RelayFaults } from '../src';
import { createTestDatabase, eventually, pause, randomSuffix, range, recorder, type TestDatabase } from './fixture';

export interface TransportUnderTest {
  /** A new transport instance (a new process) on the test file's servers. */
  open(database: TestDatabase): Promise<EventTransport>;
}

export function transportContract(subject: TransportUnderTest) {
  let db: TestDatabase;
  let opened: EventTransport[] = [];
  /** The relay's crash points, passed to the passes that test them (no module global). */
  const relayFaults: RelayFaults = { crashAfterClaim: false, crashAfterPublish: false };
  const open = async () => {
    const transport = await subject.open(db);
    opened.push(transport);
    return transport;
  };
  /** A source of the test's own, so that the tests of a file do not see each other's events. */
  const newSource = async () => {
    const source = `src_${randomSuffix()}`;
    await db.addSource(source);
    return source;
  };
  const of = (source: string, events: DomainEvent[]) => events.filter((event) => event.source === source).map((event) => `${event.source}:${event.sequence}`);

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterEach(async () => {
    relayFaults.crashAfterClaim = false;
    relayFaults.crashAfterPublish = false;
    await Promise.all(opened.map((transport) => transport.close()));
    opened = [];
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('delivers to two independent live subscribers in position order, each event once', async () => {
    const source = await newSource();
    const [relay, gatewayA, gatewayB] = [await open(), await open(), await open()];
    const a = recorder();
    const b = recorder();
    await gatewayA.subscribe(a.handler);
    await gatewayB.subscribe(b.handler);
    await db.append(source, 3);
    await db.relay(source, relay);
    await db.append(source, 2);
    await db.relay(source, relay);
    await eventually(() => {
      expect(of(source, a.events)).toEqual(range(source, 1, 5));
      expect(of(source, b.events)).toEqual(range(source, 1, 5));
    });
    await pause(300);
    expect(of(source, a.events)).toEqual(range(source, 1, 5));
    expect(of(source, b.events)).toEqual(range(source, 1, 5));
  });

  it('gives a live subscriber nothing that was published before it subscribed', async () => {
    const source = await newSource();
    const relay = await open();
    await db.append(source, 3);
    expect(await db.relay(source, relay)).toBe(3);
    const late = recorder();
    await (await open()).subscribe(late.handler);
    await db.append(source, 2);
    await db.relay(source, relay);
    await eventually(() => expect(of(source, late.events)).toEqual(range(source, 4, 5)));
    await pause(300);
    expect(of(source, late.events)).toEqual(range(source, 4, 5));
  });

  it('gives a durable consumer that was down what it missed, in order', async () => {
    const source = await newSource();
    const relay = await open();
    const durable = `billing-${randomSuffix()}`;
    const first = recorder();
    const before = await (await open()).subscribe(first.handler, { durable });
    await db.append(source, 2);
    await db.relay(source, relay);
    await eventually(() => expect(of(source, first.events)).toEqual(range(source, 1, 2)));
    await before.unsubscribe();

    await db.append(source, 3);
    await db.relay(source, relay);
    await pause(200);
    expect(of(source, first.events)).toEqual(range(source, 1, 2));

    const restarted = recorder();
    await (await open()).subscribe(restarted.handler, { durable });
    await eventually(() => expect(of(source, restarted.events)).toEqual(range(source, 3, 5)));
    await db.append(source, 1);
    await db.relay(source, relay);
    await eventually(() => expect(of(source, restarted.events)).toEqual(range(source, 3, 6)));
  });

  it('gives a durable handler that threw the same event again, then the next ones in order', async () => {
    const source = await newSource();
    const relay = await open();
    const attempts: string[] = [];
    let failed = false;
    await (await open()).subscribe(
      (event) => {
        if (event.source !== source) return;
        attempts.push(event.sequence);
        if (event.sequence === '2' && !failed) {
          failed = true;
          throw new Error('handler failed once');
        }
      },
      { durable: `ledger-${randomSuffix()}` },
    );
    await db.append(source, 4);
    await db.relay(source, relay);
    await eventually(() => expect(attempts).toEqual(['1', '2', '2', '3', '4']));
    await pause(300);
    expect(attempts).toEqual(['1', '2', '2', '3', '4']);
  });

  it('loses nothing in the relay crash windows, and an inbox consumer applies each event exactly once', async () => {
    const source = await newSource();
    const relay = await open();
    const durable = `notifier-${randomSuffix()}`;
    await db.database.query(`create table if not exists consumer.effects (event_id text not null)`);
    const applyThroughInbox = async (event: DomainEvent) => {
      if (event.source !== source) return;
      await applyOnce(db.database.transaction, 'consumer', durable, event, async (sql) => {
        await sql.query(`insert into consumer.effects (event_id) values ($1)`, [event.id]);
      });
    };
    const live = recorder();
    await (await open()).subscribe(live.handler);
    // Two instances of one durable consumer (two replicas of a service).
    await (await open()).subscribe(applyThroughInbox, { durable });
    await (await open()).subscribe(applyThroughInbox, { durable });

    await db.append(source, 2);
    relayFaults.crashAfterClaim = true;
    await expect(db.relay(source, relay, relayFaults)).rejects.toThrow(/crash after claiming/);
    relayFaults.crashAfterClaim = false;

    await db.append(source, 2);
    relayFaults.crashAfterPublish = true;
    await expect(db.relay(source, relay, relayFaults)).rejects.toThrow(/crash after publishing/);
    relayFaults.crashAfterPublish = false;
    // The next pass publishes the same events again: the same ids and positions.
    expect(await db.relay(source, relay)).toBe(4);

    await db.append(source, 1);
    expect(await db.relay(source, relay)).toBe(1);

    const ids = (await db.database.query<{ id: string }>(`select id from ${source}.outbox_events order by position`)).map((row) => row.id);
    expect(ids).toHaveLength(5);
    const effectsOf = async () =>
      (await db.database.query<{ event_id: string }>(`select event_id from consumer.effects where event_id = any(string_to_array($1, ','))`, [ids.join(',')])).map((row) => row.event_id).sort();
    await eventually(async () => expect(await effectsOf()).toEqual([...ids].sort()));
    await eventually(() => expect(of(source, live.events)).toEqual(range(source, 1, 5)));
    await pause(300);
    expect(of(source, live.events)).toEqual(range(source, 1, 5));
    expect(await effectsOf()).toEqual([...ids].sort());
  });

  return {
    database: () => db,
    open,
    newSource,
    of,
    /**
     * Defined by each transport's file after its own tests: it fills the shared stream or log with
     * 10,005 events, which a durable consumer created later (reading from the start) would wade through.
     */
    crossingPowersOfTen() {
      it('crosses 9→10, 99→100, 999→1,000 and 9,999→10,000 in position order with no gap, live and durable', async () => {
        // The PostgreSQL durable consumer commits its offset after each batch read: without waiting for
        // the WAL flush of each (this test's database only; a server crash is not under test here)
        // its 10,005 took 3.5 s instead of 41 s on a loaded machine. Set before the transports below
        // open their connections.
        await db.database.query(`alter database "${new URL(db.url).pathname.slice(1)}" set synchronous_commit = off`);
        const source = await newSource();
        const relay = await open();
        const count = 10_005;
        const live = recorder();
        await (await open()).subscribe(live.handler);
        const durable = recorder();
        const durableName = `crossing-${randomSuffix()}`;
        const consumer = await (await open()).subscribe(durable.handler, { durable: durableName });
        // A durable consumer with a batch handler too: a transport that batches (PostgreSQL) hands it
        // whole reads, the others call the per-event handler; either way every event once, in order.
        const batched = recorder();
        let batchCalls = 0;
        const transport = await open();
        const batchedConsumer = await transport.subscribe(batched.handler, {
          durable: `crossing-batched-${randomSuffix()}`,
          handleBatch: async (events) => {
            batchCalls += 1;
            for (const event of events) batched.handler(event);
          },
        });
        await db.appendMany(source, count);
        expect(await db.relay(source, relay)).toBe(count);
        const positions = (events: DomainEvent[]) => events.filter((event) => event.source === source).map((event) => Number(event.sequence));
        const expected = Array.from({ length: count }, (_, index) => index + 1);
        await eventually(() => expect(positions(live.events)).toHaveLength(count), 60_000);
        expect(positions(live.events)).toEqual(expected);
        // The durable consumer applies one event at a time (acknowledged each): all 10,005, in order,
        // none twice. Waits for the last one, so a gap fails on the comparison below, not a timeout.
        await eventually(() => expect(positions(durable.events).at(-1)).toBe(count), 120_000);
        await eventually(() => expect(positions(batched.events).at(-1)).toBe(count), 120_000);
        await pause(300);
        await consumer.unsubscribe();
        await batchedConsumer.unsubscribe();
        expect(positions(durable.events)).toEqual(expected);
        expect(positions(batched.events)).toEqual(expected);
        if (transport.kind === 'postgres') expect(batchCalls).toBeGreaterThan(0);
      }, 240_000);

    },
  };
}
