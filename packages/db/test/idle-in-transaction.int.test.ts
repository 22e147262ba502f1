// A process that freezes mid-transaction (SIGSTOP, a stalled VM, a network cut that leaves the
// socket open) must not hold its row locks, and everyone queued behind them, until it wakes: the
// services' pool asks PostgreSQL to end a session idle in a transaction after
// DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS (open.ts). PostgreSQL only (PGlite has one connection
// and no other process); CI's PostgreSQL pass runs it.
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDatabaseUnavailable, openServiceDatabase, type ServiceDatabase } from '@paygraph/db';
import { createOwnDatabase, type OwnDatabase } from '@paygraph/db/testing';

const serverUrl = process.env.DATABASE_URL;
/** The smallest the configuration accepts, so the test is quick; the product's default is 15 s. */
const IDLE_TIMEOUT_MS = 1_000;
/** How long the "frozen" transaction sleeps between its statements: far past the timeout. */
const FROZEN_MS = 4_000;

describe.skipIf(!serverUrl)('a transaction left idle by a frozen process (PostgreSQL)', () => {
  let own: OwnDatabase;
  let database: ServiceDatabase<Record<string, never>>;

  beforeAll(async () => {
    own = await createOwnDatabase(serverUrl!, 'idle_tx');
    database = await openServiceDatabase({
      service: 'idle_tx_test',
      target: { kind: 'postgres', url: own.url, poolMax: 4, idleInTransactionTimeoutMs: IDLE_TIMEOUT_MS },
      schema: {},
      migrationsFolder: path.join(import.meta.dirname, 'fixtures/migrations'),
    });
    await database.query(`create table wallets (id text primary key, balance integer not null)`);
  });

  afterAll(async () => {
    await database?.close();
    await own?.drop();
  });

  it('is ended by the server: its locks are released to the next writer and its changes rolled back', async () => {
    await database.query(`insert into wallets (id, balance) values ('hot', 100)`);
    let woke!: Promise<unknown>;
    let locking = 0;
    let holding!: () => void;
    const held = new Promise<void>((resolve) => (holding = resolve));
    const frozen = database
      .transaction(async (sql) => {
        locking = Date.now(); // the server's idle clock starts after this
        await sql.query(`update wallets set balance = balance - 10 where id = 'hot'`);
        holding();
        await sleep(FROZEN_MS); // the process stops answering with the row locked
        // Woken: its next statement must be refused, not run on the pool's reopened connection.
        woke = sql.query(`update wallets set balance = balance - 1 where id = 'hot'`).then(
          () => 'ran',
          (error: unknown) => error,
        );
        await woke;
        return 'committed';
      })
      .then(
        (value) => ({ value, error: undefined as unknown }),
        (error: unknown) => ({ value: undefined, error }),
      );
    await Promise.race([held, frozen]); // the frozen transaction holds the row now (a fixed pause could end before it did)
    await database.query(`update wallets set balance = balance + 5 where id = 'hot'`);
    const through = Date.now() - locking;
    // Queued behind the lock until the server ended the idle session (not before: the lock was
    // held), and not until the holder woke.
    expect(through).toBeGreaterThanOrEqual(IDLE_TIMEOUT_MS);
    expect(through).toBeLessThan(FROZEN_MS - 1_000);

    const outcome = await frozen;
    expect(outcome.value).toBeUndefined();
    // The woken process's request answers as a database that went away (SERVICE_UNAVAILABLE, retryable).
    expect(isDatabaseUnavailable(outcome.error)).toBe(true);
    await sleep(Math.max(0, FROZEN_MS - through)); // until the frozen process wakes
    await expect.poll(() => woke, { timeout: 2_000 }).toBeDefined();
    expect(isDatabaseUnavailable(await woke)).toBe(true);
    const [row] = await database.query<{ balance: number }>(`select balance from wallets where id = 'hot'`);
    expect(row?.balance).toBe(105); // the frozen -10 rolled back, the waiting +5 applied, the woken -1 refused
  });

  it('leaves a transaction that keeps working alone, however long it runs in all', async () => {
    await database.query(`insert into wallets (id, balance) values ('busy', 0)`);
    const committed = await database.transaction(async (sql) => {
      // Six pauses each a quarter of the timeout: 1.5 s in all, past the timeout.
      for (let step = 0; step < 6; step += 1) {
        await sql.query(`update wallets set balance = balance + 1 where id = 'busy'`);
        await sleep(IDLE_TIMEOUT_MS / 4);
      }
      return 'committed';
    });
    expect(committed).toBe('committed');
    const [row] = await database.query<{ balance: number }>(`select balance from wallets where id = 'busy'`);
    expect(row?.balance).toBe(6);
  });

  it('applies to every connection of the pool, and the pool carries on after a session was ended', async () => {
    const settings = await Promise.all(
      Array.from({ length: 4 }, () =>
        database.transaction(async (sql) => {
          const [row] = await sql.query<{ setting: string }>(`select current_setting('idle_in_transaction_session_timeout') as setting`);
          await sleep(50); // the four transactions overlap: four connections
          return row?.setting;
        }),
      ),
    );
    expect(settings).toEqual(Array(4).fill(`${IDLE_TIMEOUT_MS / 1000}s`));
  });
});
