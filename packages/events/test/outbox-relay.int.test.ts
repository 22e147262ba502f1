// Proves the relay pass on both databases, as the services open them (packages/db, statements
// counted): one statement claims positions and reads the batch, so a pass that finds events costs
// two statements (plus the advisory lock on PostgreSQL) and one that finds none costs one; the
// positions stay gap-free in commit order, events claimed by a pass that stopped are published
// first with the positions they have, and a pass that stopped after publishing publishes the same
// ids and positions again. A full batch is marked by the next round's statement. A service's
// transactions kick the relay only when they wrote events, and concurrent kicks lose none; the
// safety timer's pass on PostgreSQL is one read when nothing waits.
// The lock outlasts the services' idle-in-transaction timeout; should two passes still meet, a
// pass never rewrites a position the other gave.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openServiceDatabase, type DatabaseTarget, type QueryCounts, type ServiceDatabase, type SqlRunner } from '@paygraph/db';
import { createLogger } from '@paygraph/logging';
import { appendEvent, createInProcessTransport, relayPass, serviceOutbox, type DomainEvent, type RelayFaults } from '../src';
import { createTestDatabase, eventually, outboxStatements, pause, randomSuffix, type TestDatabase } from './fixture';

const SERVICE = 'events_relay_test';

describe.each(['pglite', 'postgres'] as const)('relay pass on %s', (kind) => {
  let server: TestDatabase | undefined;
  let database: ServiceDatabase<Record<string, never>>;
  let migrationsFolder: string;
  const counts: QueryCounts = new Map();
  const faults: RelayFaults = { crashAfterClaim: false, crashAfterPublish: false };
  /** Statements of the lock transaction per pass: PostgreSQL's advisory lock, none on PGlite. */
  const lock = kind === 'postgres' ? 1 : 0;

  beforeAll(async () => {
    // No migrations: each test creates its own source's outbox.
    migrationsFolder = mkdtempSync(path.join(tmpdir(), 'relay-test-'));
    mkdirSync(path.join(migrationsFolder, 'meta'));
    writeFileSync(path.join(migrationsFolder, 'meta', '_journal.json'), JSON.stringify({ version: '7', dialect: 'postgresql', entries: [] }));
    let target: DatabaseTarget;
    if (kind === 'postgres') {
      server = await createTestDatabase();
      target = { kind: 'postgres', url: server.url, poolMax: 4, queryCounts: counts };
    } else {
      target = { kind: 'pglite', dataDir: `memory://relay-${randomSuffix()}`, queryCounts: counts };
    }
    database = await openServiceDatabase({ service: SERVICE, target, schema: {}, migrationsFolder });
  });

  afterEach(() => {
    faults.crashAfterClaim = false;
    faults.crashAfterPublish = false;
  });

  afterAll(async () => {
    await database?.close();
    await server?.drop();
    rmSync(migrationsFolder, { recursive: true, force: true });
  });

  const newSource = async () => {
    const source = `src_${randomSuffix()}`;
    for (const statement of outboxStatements(source)) await database.query(statement);
    return source;
  };
  let version = 0;
  const append = (sql: SqlRunner, source: string, label: string) =>
    appendEvent(sql, source, { aggregateType: 'Payment', aggregateId: `agg_${label}`, aggregateVersion: (version += 1), type: 'PaymentTested', payload: { label } });
  /** Commits one event per label, each in its own transaction. */
  const commit = async (source: string, ...labels: string[]) => {
    for (const label of labels) await database.transaction((sql) => append(sql, source, label));
  };
  const recording = async () => {
    const transport = createInProcessTransport();
    const received: DomainEvent[] = [];
    await transport.subscribe((event) => void received.push(event));
    return { transport, received };
  };
  /** A pass and the statements it sent. */
  const counted = async (run: () => Promise<number>) => {
    const before = counts.get(SERVICE) ?? 0;
    const relayed = await run();
    return { relayed, statements: (counts.get(SERVICE) ?? 0) - before };
  };
  const labelsOf = (events: DomainEvent[]) => events.map((event) => (event.payload as { label: string }).label);
  const positionsOf = (events: DomainEvent[]) => events.map((event) => Number(event.sequence));
  const unpublished = async (source: string) =>
    Number((await database.query<{ count: string }>(`select count(*)::text as count from ${source}.outbox_events where published_at is null`))[0]!.count);

  it('claims and reads in one statement: a pass with events costs two statements (and the lock), an empty one one', async () => {
    const source = await newSource();
    const { transport, received } = await recording();
    await commit(source, 'a', 'b', 'c');
    expect(await counted(() => relayPass(database, source, transport))).toEqual({ relayed: 3, statements: 2 + lock });
    expect(await counted(() => relayPass(database, source, transport))).toEqual({ relayed: 0, statements: 1 + lock });
    await commit(source, 'd');
    expect(await counted(() => relayPass(database, source, transport))).toEqual({ relayed: 1, statements: 2 + lock });
    expect(labelsOf(received)).toEqual(['a', 'b', 'c', 'd']);
    expect(positionsOf(received)).toEqual([1, 2, 3, 4]);
    expect(await unpublished(source)).toBe(0);
  });

  it.skipIf(kind === 'pglite')('gives positions in commit order, not insertion order', async () => {
    const source = await newSource();
    const { transport, received } = await recording();
    let inserted!: () => void;
    let release!: () => void;
    const insertedFirst = new Promise<void>((resolve) => (inserted = resolve));
    const released = new Promise<void>((resolve) => (release = resolve));
    // `early` takes the lower sequence, then waits uncommitted while `late` commits and is relayed.
    const early = database.transaction(async (sql) => {
      await append(sql, source, 'early');
      await sql.query('select 1'); // appendEvent sends its insert without waiting: this answer comes after it ran
      inserted();
      await released;
    });
    await insertedFirst;
    await commit(source, 'late');
    expect(await relayPass(database, source, transport)).toBe(1);
    release();
    await early;
    expect(await relayPass(database, source, transport)).toBe(1);
    expect(labelsOf(received)).toEqual(['late', 'early']);
    expect(positionsOf(received)).toEqual([1, 2]);
    const bySequence = await database.query<{ label: string }>(`select payload->>'label' as label from ${source}.outbox_events order by sequence`);
    expect(bySequence.map((row) => row.label)).toEqual(['early', 'late']);
  });

  it('publishes what a stopped pass claimed first, with its positions, then the newer events, with no gap, across batches', async () => {
    const source = await newSource();
    const { transport, received } = await recording();
    await commit(source, 'a', 'b');
    faults.crashAfterClaim = true;
    await expect(relayPass(database, source, transport, { batchMax: 3, faults })).rejects.toThrow(/crash after claiming/);
    faults.crashAfterClaim = false;
    expect(received).toEqual([]);
    await commit(source, 'c', 'd', 'e', 'f', 'g');
    // Batches of 3: a, b (claimed before) with c; then d, e, f; then g. A full batch is marked by
    // the next round's statement: three statements and the last batch's mark.
    expect(await counted(() => relayPass(database, source, transport, { batchMax: 3 }))).toEqual({ relayed: 7, statements: 4 + lock });
    expect(labelsOf(received)).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g']);
    expect(positionsOf(received)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(await unpublished(source)).toBe(0);
    expect(await relayPass(database, source, transport)).toBe(0);
  });

  it('marks a full batch in the next round; a round that fails republishes only its own batch', async () => {
    const source = await newSource();
    const { transport, received } = await recording();
    let publishes = 0;
    // Hands every batch over, and fails after handing the second one (a transport error).
    const failingSecond = {
      ...transport,
      async publish(events: DomainEvent[]) {
        await transport.publish(events);
        publishes += 1;
        if (publishes === 2) throw new Error('transport failed after the second batch');
      },
    };
    await commit(source, 'a', 'b', 'c', 'd', 'e', 'f', 'g');
    await expect(relayPass(database, source, failingSecond, { batchMax: 3 })).rejects.toThrow(/second batch/);
    expect(labelsOf(received)).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    // The second round's statement marked a, b, c; d, e, f were never marked.
    expect(await unpublished(source)).toBe(4);
    expect(await counted(() => relayPass(database, source, transport, { batchMax: 3 }))).toEqual({ relayed: 4, statements: 3 + lock });
    expect(labelsOf(received)).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'd', 'e', 'f', 'g']);
    expect(positionsOf(received)).toEqual([1, 2, 3, 4, 5, 6, 4, 5, 6, 7]);
    expect(await unpublished(source)).toBe(0);
    // Two full batches and nothing after them: the empty third round marks the second batch.
    await commit(source, 'h', 'i', 'j', 'k', 'l', 'm');
    expect(await counted(() => relayPass(database, source, transport, { batchMax: 3 }))).toEqual({ relayed: 6, statements: 3 + lock });
    expect(positionsOf(received.slice(10))).toEqual([8, 9, 10, 11, 12, 13]);
    expect(await unpublished(source)).toBe(0);
  });

  it('publishes the same ids and positions again after a pass stopped between publishing and marking', async () => {
    const source = await newSource();
    const { transport, received } = await recording();
    await commit(source, 'a', 'b');
    expect(await relayPass(database, source, transport)).toBe(2);
    await commit(source, 'c', 'd');
    faults.crashAfterPublish = true;
    await expect(relayPass(database, source, transport, { faults })).rejects.toThrow(/crash after publishing/);
    faults.crashAfterPublish = false;
    await commit(source, 'e');
    expect(await relayPass(database, source, transport)).toBe(3);
    expect(labelsOf(received)).toEqual(['a', 'b', 'c', 'd', 'c', 'd', 'e']);
    expect(positionsOf(received)).toEqual([1, 2, 3, 4, 3, 4, 5]);
    expect(received.slice(4, 6).map((event) => event.id)).toEqual(received.slice(2, 4).map((event) => event.id));
    expect(await relayPass(database, source, transport)).toBe(0);
  });

  /** A service's outbox on a new source, relaying to a recording transport while `body` runs. */
  const withServiceOutbox = async (
    options: { intervalMs: number; committedBefore?: string[] },
    body: (context: { source: string; outbox: ReturnType<typeof serviceOutbox>; received: DomainEvent[] }) => Promise<void>,
  ) => {
    const source = await newSource();
    const { transport, received } = await recording();
    const outbox = serviceOutbox(source, database);
    await commit(source, ...(options.committedBefore ?? []));
    outbox.start(transport, { logger: createLogger({ level: 'silent' }), intervalMs: options.intervalMs });
    try {
      await body({ source, outbox, received });
    } finally {
      await outbox.stop();
    }
  };

  // A timer that never fires during the test: only kicks run passes (and the one at start).
  it('kicks the relay after a service transaction that wrote events, not after one that wrote none', () =>
    withServiceOutbox({ intervalMs: 600_000, committedBefore: ['before'] }, async ({ source, outbox, received }) => {
      // The start-up pass, marked too, before counting.
      await eventually(async () => expect([labelsOf(received), await unpublished(source)]).toEqual([['before'], 0]), 2000);
      const quiet = await counted(async () => {
        await outbox.transaction((sql) => sql.query(`select 1`));
        await pause(100);
        return 0;
      });
      expect(quiet.statements).toBe(1);
      await outbox.transaction((sql) => append(sql, source, 'kicked'));
      await eventually(() => expect(labelsOf(received)).toEqual(['before', 'kicked']), 2000);
      expect(positionsOf(received)).toEqual([1, 2]);
    }));

  it("makes the timer's pass one read, without the lock transaction, when nothing waits (PostgreSQL)", async () => {
    const source = await newSource();
    const { transport, received } = await recording();
    const timerPass = () => relayPass(database, source, transport, { onlyIfWaiting: true });
    // PostgreSQL: the read instead of the lock transaction and the claim; PGlite: the claim itself.
    expect(await counted(timerPass)).toEqual({ relayed: 0, statements: 1 });
    await commit(source, 'a', 'b');
    expect(await counted(timerPass)).toEqual({ relayed: 2, statements: 2 + 2 * lock });
    await commit(source, 'c');
    faults.crashAfterClaim = true;
    await expect(relayPass(database, source, transport, { faults })).rejects.toThrow(/crash after claiming/);
    faults.crashAfterClaim = false;
    // Claimed and not published: it waits too.
    expect(await timerPass()).toBe(1);
    expect(labelsOf(received)).toEqual(['a', 'b', 'c']);
    expect(await counted(timerPass)).toEqual({ relayed: 0, statements: 1 });
  });

  // One process owns a PGlite: no second pass can run there.
  it.skipIf(kind !== 'postgres')('never rewrites a position given meanwhile by a pass that lost its lock (PostgreSQL)', async () => {
    // The lock transaction can be ended under a running pass (idle past
    // DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS), so another pass may claim the same rows at once.
    // Here the other pass is a transaction that positions the event and holds the row while this
    // pass's claim reads it as unclaimed and waits for it.
    const source = await newSource();
    const { transport, received } = await recording();
    await commit(source, 'a');
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let holding!: () => void;
    const held = new Promise<void>((resolve) => (holding = resolve));
    const other = server!.database.transaction(async (sql) => {
      await sql.query(`update ${source}.outbox_events set position = 7 where aggregate_id = 'agg_a'`);
      holding();
      await gate;
    });
    await held;
    const pass = relayPass(database, source, transport);
    await pause(200); // the pass's claim waits on the row
    release();
    await other;
    await pass;
    const [row] = await database.query<{ position: string }>(`select position::text as position from ${source}.outbox_events where aggregate_id = 'agg_a'`);
    expect(row?.position).toBe('7');
    await relayPass(database, source, transport);
    expect(positionsOf(received)).toEqual([7]);
  });

  it.skipIf(kind !== 'postgres')('keeps its lock through a pass that outlasts the idle-in-transaction timeout (PostgreSQL)', async () => {
    // The services' pool ends sessions idle in a transaction after
    // DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS; the relay's lock transaction idles for its whole
    // pass and must not be ended under it (a second pass would publish at the same time).
    const source = await newSource();
    await commit(source, 'a', 'b');
    // A pool of its own (another URL string) with the configuration's smallest timeout.
    const strict = await openServiceDatabase({
      service: `${SERVICE}_strict`,
      target: { kind: 'postgres', url: `${server!.url}?application_name=relay_idle_test`, poolMax: 4, idleInTransactionTimeoutMs: 1_000 },
      schema: {},
      migrationsFolder,
    });
    try {
      const { transport, received } = await recording();
      let passesAtOnce = 0;
      let mostAtOnce = 0;
      const slow = {
        ...transport,
        publish: async (events: readonly DomainEvent[]) => {
          mostAtOnce = Math.max(mostAtOnce, (passesAtOnce += 1));
          await pause(1_500); // past the timeout, with the lock transaction idle
          passesAtOnce -= 1;
          return transport.publish(events);
        },
      };
      // A second pass asked for meanwhile waits on the lock instead of publishing beside the first.
      const first = relayPass(strict, source, slow);
      await pause(100);
      await commit(source, 'c');
      const second = relayPass(strict, source, slow);
      expect(await first).toBe(2);
      expect(await second).toBe(1);
      expect(mostAtOnce).toBe(1);
      expect(labelsOf(received)).toEqual(['a', 'b', 'c']);
      expect(positionsOf(received)).toEqual([1, 2, 3]);
    } finally {
      await strict.close();
    }
  });

  it('relays on the timer what committed without a kick', () =>
    withServiceOutbox({ intervalMs: 50 }, async ({ source, received }) => {
      await pause(100);
      await commit(source, 'unkicked'); // not through the service's transactions: no kick
      await eventually(() => expect(labelsOf(received)).toEqual(['unkicked']), 2000);
      await eventually(async () => expect(await unpublished(source)).toBe(0), 2000); // marked after publishing
    }));

  it('relays every event of concurrent service transactions on kicks alone, once each, gap-free', () =>
    withServiceOutbox({ intervalMs: 600_000 }, async ({ source, outbox, received }) => {
      const labels = Array.from({ length: 40 }, (_, index) => `e${index}`);
      // Kicks land while passes run and while others are queued; none may be lost.
      await Promise.all(labels.map((label) => outbox.transaction((sql) => append(sql, source, label))));
      await eventually(() => expect(received).toHaveLength(40), 5000);
      await pause(100);
      expect(received).toHaveLength(40);
      expect(new Set(received.map((event) => event.id)).size).toBe(40);
      expect([...labelsOf(received)].sort()).toEqual([...labels].sort());
      expect(positionsOf(received)).toEqual(labels.map((_, index) => index + 1));
      await eventually(async () => expect(await unpublished(source)).toBe(0), 2000);
    }));
});
