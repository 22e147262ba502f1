// Proves the PostgreSQL LISTEN/NOTIFY transport on a database of its own: the shared transport
// contract (fan-out, durable resume and retry, relay crash windows), plus what is particular to it:
// offsets kept in paygraph_events.consumer_offsets, sources that appear later, lost notifications
// made up by the safety poll, and selection from the environment.
import { describe, expect, it } from 'vitest';
import { createLogger } from '@paygraph/logging';
import { createEventTransport, createPostgresTransport } from '../src';
import { eventually, randomSuffix, range, recorder } from './fixture';
import { transportContract } from './transport-contract';

const logger = createLogger({ level: 'silent' });
// A long poll: deliveries in these tests come from notifications unless a test says otherwise.
const suite = transportContract({ open: (db) => createPostgresTransport({ url: db.url, logger, pollIntervalMs: 60_000 }) });

/** The position a durable consumer saved for a source, or null before its first save. */
async function savedOffset(consumer: string, source: string): Promise<string | null> {
  const rows = await suite.database().database.query<{ position: string }>(
    `select position::text as position from paygraph_events.consumer_offsets where consumer = $1 and source = $2`,
    [consumer, source],
  );
  return rows[0]?.position ?? null;
}

describe('PostgreSQL transport', () => {
  it('keeps a durable consumer position per source in paygraph_events.consumer_offsets', async () => {
    const db = suite.database();
    const source = await suite.newSource();
    const relay = await suite.open();
    const durable = `audit-${randomSuffix()}`;
    const seen = recorder();
    await (await suite.open()).subscribe(seen.handler, { durable });
    await db.append(source, 3);
    await db.relay(source, relay);
    await eventually(() => expect(suite.of(source, seen.events)).toEqual(range(source, 1, 3)));
    // Saved after the batch's last event is handled.
    await eventually(async () => {
      const rows = await db.database.query(`select consumer, source, position::text as position from paygraph_events.consumer_offsets where consumer = $1 and source = $2`, [durable, source]);
      expect(rows).toEqual([{ consumer: durable, source, position: '3' }]);
    });
  });

  it('saves a durable offset per batch read, and up to the last handled event when a handler fails mid-batch', async () => {
    const db = suite.database();
    const source = await suite.newSource();
    const relay = await suite.open();
    const durable = `batch-${randomSuffix()}`;
    const offset = () => savedOffset(durable, source);
    // Five events in the log before the consumer reads: one batch. The third fails once.
    await db.append(source, 5);
    await db.relay(source, relay);
    const handled: number[] = [];
    let failedOnce = false;
    let offsetWhileFailing: string | null = 'not read';
    let offsetInBatch: string | null = 'not read';
    const consumer = await (await suite.open()).subscribe(
      async (event) => {
        if (event.source !== source) return;
        const position = Number(event.sequence);
        if (position === 3 && !failedOnce) {
          failedOnce = true;
          throw new Error('the third event fails once');
        }
        // The retry of the third: the first two were saved when the batch stopped at the failure.
        if (position === 3) offsetWhileFailing = await offset();
        // Within a batch nothing is saved per event: the retry's batch (3, 4, 5) starts after 2.
        if (position === 5) offsetInBatch = await offset();
        handled.push(position);
      },
      { durable },
    );
    try {
      await eventually(() => expect(handled).toEqual([1, 2, 3, 4, 5]));
      expect(offsetWhileFailing).toBe('2');
      expect(offsetInBatch).toBe('2');
      await eventually(async () => expect(await offset()).toBe('5'));
    } finally {
      await consumer.unsubscribe();
    }
  });

  it("hands a durable consumer's batch handler a batch read in one call, and goes event by event when it throws", async () => {
    const db = suite.database();
    const source = await suite.newSource();
    const relay = await suite.open();
    const durable = `batches-${randomSuffix()}`;
    const offset = () => savedOffset(durable, source);
    // Four events in the log before the consumer reads: one batch.
    await db.append(source, 4);
    await db.relay(source, relay);
    const batches: number[][] = [];
    const single: number[] = [];
    let failBatches = false;
    let failThird = false;
    const consumer = await (await suite.open()).subscribe(
      async (event) => {
        if (event.source !== source) return;
        if (Number(event.sequence) === 7 && failThird) {
          failThird = false;
          throw new Error('the seventh event fails once');
        }
        single.push(Number(event.sequence));
      },
      {
        durable,
        handleBatch: async (events) => {
          const mine = events.filter((event) => event.source === source).map((event) => Number(event.sequence));
          if (mine.length === 0) return;
          if (failBatches) throw new Error('this batch fails');
          batches.push(mine);
        },
      },
    );
    try {
      await eventually(() => expect(batches).toEqual([[1, 2, 3, 4]]));
      await eventually(async () => expect(await offset()).toBe('4'));
      expect(single).toEqual([]);
      // The next batch throws: its events go one by one, and the one that fails is retried alone
      // (the offset stops before it), then the rest follow.
      failBatches = true;
      failThird = true;
      await db.append(source, 4);
      await db.relay(source, relay);
      await eventually(() => expect(single).toEqual([5, 6, 7, 8]));
      await eventually(async () => expect(await offset()).toBe('8'));
      expect(batches).toEqual([[1, 2, 3, 4]]);
    } finally {
      await consumer.unsubscribe();
    }
  });

  it('delivers a source created after subscribing from its first event', async () => {
    const db = suite.database();
    const relay = await suite.open();
    const seen = recorder();
    await (await suite.open()).subscribe(seen.handler);
    const source = await suite.newSource();
    await db.append(source, 2);
    await db.relay(source, relay);
    await eventually(() => expect(suite.of(source, seen.events)).toEqual(range(source, 1, 2)));
  });

  it('makes up for lost notifications with the safety poll, for known and new sources', async () => {
    const db = suite.database();
    const known = await suite.newSource();
    // Publishing on another channel: the subscriber hears nothing and must find the events itself.
    const deafRelay = await createPostgresTransport({ url: db.url, logger, channel: 'elsewhere' });
    const seen = recorder();
    const polling = await createPostgresTransport({ url: db.url, logger, pollIntervalMs: 200 });
    try {
      await polling.subscribe(seen.handler);
      const added = await suite.newSource();
      await db.append(known, 2);
      await db.relay(known, deafRelay);
      await db.append(added, 1);
      await db.relay(added, deafRelay);
      await eventually(() => {
        expect(suite.of(known, seen.events)).toEqual(range(known, 1, 2));
        expect(suite.of(added, seen.events)).toEqual(range(added, 1, 1));
      });
    } finally {
      await Promise.all([deafRelay.close(), polling.close()]);
    }
  });

  it('keeps delivering after its listening connection was lost', async () => {
    const db = suite.database();
    const source = await suite.newSource();
    const relay = await suite.open();
    const seen = recorder();
    await (await suite.open()).subscribe(seen.handler);
    await db.append(source, 1);
    await db.relay(source, relay);
    await eventually(() => expect(suite.of(source, seen.events)).toEqual(range(source, 1, 1)));
    const terminated = await db.database.query(`select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and query ilike 'listen%'`);
    expect(terminated).toHaveLength(1);
    await db.append(source, 2);
    await db.relay(source, relay);
    await eventually(() => expect(suite.of(source, seen.events)).toEqual(range(source, 1, 3)));
  });

  it('is chosen by DATABASE_URL or EVENT_TRANSPORT=postgres', async () => {
    const url = suite.database().url;
    for (const env of [{ DATABASE_URL: url }, { DATABASE_URL: url, EVENT_TRANSPORT: 'postgres' }]) {
      const transport = await createEventTransport({ env, logger });
      expect(transport.kind).toBe('postgres');
      await transport.close();
    }
  });
});

// Last: it leaves 10,005 events behind (see crossingPowersOfTen).
describe('positions as integers', () => suite.crossingPowersOfTen());
