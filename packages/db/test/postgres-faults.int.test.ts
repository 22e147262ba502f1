// Proves that PostgreSQL faults never end the process and that pools come back, on a private
// cluster (tests/support/private-postgres.ts) this file restarts and stops: the upstream
// postgres.js crash (porsager/postgres#1208) reproduced in a child process exits cleanly with the
// patch; a service pool under load survives `-m immediate` and `-m fast` restarts and reconnects;
// while the database is stopped queries fail within 2 s with errors classified as unavailable and
// readiness says down; start-up while the database is down waits, logs each attempt, and comes up.
import { execFile } from 'node:child_process';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDatabaseUnavailable, openServiceDatabase, pingServiceDatabase, type ServiceDatabase } from '@paygraph/db';
import { createPrivatePostgres, type PrivatePostgres } from '../../../tests/support/private-postgres';

/** A request must get its answer (success or SERVICE_UNAVAILABLE) within this. */
const ANSWER_BOUND_MS = 2_000;
const LOAD_CLIENTS = 8;
const CHILD_TIMEOUT_MS = 30_000;
/** How long a reconnect may take after the server is back (bounded polling). */
const RECOVERY_BOUND_MS = 10_000;

const repositoryRoot = path.resolve(import.meta.dirname, '../../..');
const migrationsFolder = path.join(import.meta.dirname, 'fixtures/migrations');

let cluster: PrivatePostgres;
let url: string;

beforeAll(async () => {
  cluster = await createPrivatePostgres();
  url = await cluster.createDatabase('faults');
});

afterAll(async () => {
  await cluster?.destroy();
});

function runFixture(file: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'fixtures', file), ...args], { cwd: repositoryRoot, timeout: CHILD_TIMEOUT_MS }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** Runs `work` in a loop on `clients` concurrent workers until `stop()` says so; counts outcomes. */
function load(work: () => Promise<unknown>, clients = LOAD_CLIENTS) {
  let running = true;
  const outcomes = { ok: 0, unavailable: 0, other: [] as unknown[], slowestFailureMs: 0 };
  const workers = Array.from({ length: clients }, async () => {
    while (running) {
      const started = Date.now();
      try {
        await work();
        outcomes.ok += 1;
      } catch (error) {
        outcomes.slowestFailureMs = Math.max(outcomes.slowestFailureMs, Date.now() - started);
        if (isDatabaseUnavailable(error)) outcomes.unavailable += 1;
        else outcomes.other.push(error);
        // A failed query returns at once while the server is down: do not spin.
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    }
  });
  return {
    outcomes,
    async stop() {
      running = false;
      await Promise.all(workers);
      return outcomes;
    },
  };
}

async function eventually<T>(attempt: () => Promise<T>, boundMs = RECOVERY_BOUND_MS): Promise<{ value: T; afterMs: number }> {
  const started = Date.now();
  for (;;) {
    try {
      return { value: await attempt(), afterMs: Date.now() - started };
    } catch (error) {
      if (Date.now() - started > boundMs) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** Polls `condition` until it holds or `boundMs` passed (the caller asserts what it waited for). */
async function waitUntil(condition: () => boolean, boundMs = RECOVERY_BOUND_MS): Promise<void> {
  const started = Date.now();
  while (!condition() && Date.now() - started < boundMs) await new Promise((resolve) => setTimeout(resolve, 20));
}

/**
 * A proxy in front of the server that resets the client's first connection (RST) when a chunk the
 * client sends contains `marker`, and passes everything else through. Its URL, the resets so far.
 */
async function resettingProxy(marker: string) {
  const upstreamPort = Number(new URL(url).port);
  const state = { resets: 0 };
  const proxy = net.createServer((client) => {
    const upstream = net.connect(upstreamPort, '127.0.0.1');
    client.on('error', () => {});
    upstream.on('error', () => {});
    client.on('data', (chunk) => {
      if (state.resets === 0 && chunk.includes(marker)) {
        state.resets += 1;
        upstream.destroy();
        client.resetAndDestroy();
        return;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk) => client.write(chunk));
    upstream.on('close', () => client.destroy());
    client.on('close', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const proxied = new URL(url);
  proxied.port = String((proxy.address() as net.AddressInfo).port);
  return { url: proxied.toString(), state, close: () => new Promise((resolve) => proxy.close(resolve)) };
}

describe('the postgres.js crash (porsager/postgres#1154, #1066, #1208)', () => {
  it('is patched in the installed driver (patches/postgres+3.4.9.patch, applied by postinstall)', () => {
    const require = createRequire(import.meta.url);
    // The CommonJS entry is <root>/cjs/src/index.js (package.json is not exported).
    const driverRoot = path.resolve(path.dirname(require.resolve('postgres')), '../..');
    for (const build of ['src', 'cjs/src']) {
      const source = readFileSync(path.join(driverRoot, build, 'connection.js'), 'utf8');
      expect(source, `${build}/connection.js`).toContain('if (socket === null) {');
      expect(source, `${build}/connection.js`).toContain('return fetchArrayTypes().catch(() => {})');
      expect(source, `${build}/connection.js`).toContain("const lost = Errors.connection('CONNECTION_CLOSED', options, socket)");
      expect(readFileSync(path.join(driverRoot, build, 'index.js'), 'utf8'), `${build}/index.js`).toContain('return q.reject(lost)');
      expect(readFileSync(path.join(driverRoot, build, 'index.js'), 'utf8'), `${build}/index.js`).toContain('started && await started');
    }
  });

  it('a backend terminated inside a transaction rejects with CONNECTION_CLOSED and the process lives on', async () => {
    const result = await runFixture('terminate-in-transaction.ts', [url]);
    expect(result.stderr).not.toContain("Cannot read properties of null (reading 'write')");
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout.trim().split('\n').at(-1)!)).toEqual({ transaction: 'CONNECTION_CLOSED', after: 1 });
  });
});

describe('a connection lost while postgres.js fetches the array types (porsager/postgres#1192, #1205, #1223)', () => {
  // Every new connection first asks for the array types, a query nothing awaits: lost then (a
  // restart, a reset), its rejection went unobserved and ended the process. A proxy in front of
  // the server resets the first connection when that query passes through it.
  it('rejects the waiting query with the connection error and leaves no rejection unhandled', async () => {
    const proxy = await resettingProxy('typarray');
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    const { default: postgres } = await import('postgres');
    const sql = postgres(proxy.url, { max: 1, onnotice: () => {}, backoff: () => 0.05 });
    try {
      const first = await sql`select 1 as one`.then(
        () => null,
        (error: unknown) => error,
      );
      expect(proxy.state.resets).toBe(1);
      expect(isDatabaseUnavailable(first), String(first)).toBe(true);
      // The next query gets a new connection (its types fetched through the proxy untouched).
      expect(await sql`select 1 as one`).toEqual([{ one: 1 }]);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await sql.end({ timeout: 1 }).catch(() => {});
      await proxy.close();
    }
  });
});

describe('a statement written between a connection reset and its close (the ROLLBACK of a failed transaction)', () => {
  // Found by the fault suite (PostgreSQL restarted -m immediate): the ledger's batch transaction
  // waited forever, its backend active in ClientRead. A reset rejects what was sent, then begin()
  // writes ROLLBACK before the socket's 'close'; unpatched, that ROLLBACK stayed queued as sent and
  // the connection's next socket took later answers for it: the second statement after the
  // reconnect got the answer meant for nothing, and a described statement was never bound.
  it('rejects it at the close, so the next socket answers each statement its own', async () => {
    const proxy = await resettingProxy('reset_marker');
    let rollbacksAfterReset = 0;
    const { default: postgres } = await import('postgres');
    // One connection, so the next statements reuse the connection the reset closed.
    const sql = postgres(proxy.url, { max: 1, onnotice: () => {}, backoff: () => 0.05, debug: (_connection, query) => {
      if (proxy.state.resets === 1 && /^rollback$/i.test(query.trim())) rollbacksAfterReset += 1;
    } });
    const withinBound = <T>(promise: Promise<T>) =>
      Promise.race([promise, new Promise<never>((_resolve, reject) => setTimeout(() => reject(new Error(`no answer within ${ANSWER_BOUND_MS} ms`)), ANSWER_BOUND_MS))]);
    try {
      const failed = await sql
        .begin(async (tx) => {
          await tx`select 'reset_marker' as marker`;
        })
        .then(
          () => null,
          (error: unknown) => error,
        );
      expect(proxy.state.resets).toBe(1);
      expect(isDatabaseUnavailable(failed), String(failed)).toBe(true);
      expect(rollbacksAfterReset).toBe(1); // the case under test: ROLLBACK written after the reset
      // Each statement on the new socket gets its own answer, in order, within the bound.
      expect(await withinBound(sql`select 1 as one`)).toEqual([{ one: 1 }]);
      expect(await withinBound(sql`select 2 as two`)).toEqual([{ two: 2 }]);
      expect(await withinBound(sql.begin(async (tx) => [await tx`select ${3}::int as three`, await tx`select ${'four'}::text as four`]))).toEqual([[{ three: 3 }], [{ four: 'four' }]]);
    } finally {
      await sql.end({ timeout: 1 }).catch(() => {});
      await proxy.close();
    }
  });
});

describe('a transaction whose connection died while its function did other work', () => {
  // begin() rejects when its connection closes, but its function runs on; the pool reopens that
  // connection for other work. Unpatched, a statement the function sent afterwards ran on the new
  // socket, outside any transaction (committed at once) or inside another caller's.
  it('refuses what the function sends afterwards, even once the connection is open again', async () => {
    const { default: postgres } = await import('postgres');
    const sql = postgres(url, { max: 1, onnotice: () => {}, backoff: () => 0.05 });
    const admin = postgres(url, { max: 1, onnotice: () => {} });
    let release = () => {};
    const otherWorkDone = new Promise<void>((resolve) => (release = resolve));
    let backendPid: number | null = null;
    let afterwards: unknown = 'not sent';
    try {
      await admin`create table if not exists lost_transaction (id text primary key)`;
      const transaction = sql
        .begin(async (tx) => {
          backendPid = (await tx`select pg_backend_pid() as pid`)[0]!.pid as number;
          await otherWorkDone; // e.g. a call to another service
          afterwards = await tx`insert into lost_transaction (id) values ('after the close')`.then(
            () => 'ran',
            (error: unknown) => error,
          );
        })
        .then(
          () => null,
          (error: unknown) => error,
        );
      await waitUntil(() => backendPid !== null, ANSWER_BOUND_MS);
      await admin`select pg_terminate_backend(${backendPid})`;
      const failed = await transaction;
      expect(isDatabaseUnavailable(failed), String(failed)).toBe(true);
      // The pool's one connection is open again, for someone else.
      expect(await sql`select 1 as one`).toEqual([{ one: 1 }]);
      release();
      await waitUntil(() => afterwards !== 'not sent', ANSWER_BOUND_MS);
      expect(isDatabaseUnavailable(afterwards), String(afterwards)).toBe(true);
      expect(await admin`select id from lost_transaction`).toEqual([]);
    } finally {
      release();
      await sql.end({ timeout: 1 }).catch(() => {});
      await admin.end({ timeout: 1 }).catch(() => {});
    }
  });
});

describe('a statement queued in a transaction when its connection dies (porsager/postgres#1186)', () => {
  // A statement with parameters not yet prepared is described first, which stops the connection
  // taking more: the transaction's next statement waits in its own queue. Unpatched, that one
  // never settled when the connection closed (begin() rejected; its function waited forever).
  it('rejects the queued statement with the connection error', async () => {
    const { default: postgres } = await import('postgres');
    const sql = postgres(url, { max: 1, onnotice: () => {}, backoff: () => 0.05 });
    const admin = postgres(url, { max: 1, onnotice: () => {} });
    let backendPid: number | null = null;
    const outcomes: Record<string, unknown> = {};
    const settle = (name: string, statement: Promise<unknown>) =>
      statement.then(
        () => (outcomes[name] = 'answered'),
        (error: unknown) => (outcomes[name] = error),
      );
    try {
      const transaction = sql
        .begin(async (tx) => {
          backendPid = (await tx`select pg_backend_pid() as pid`)[0]!.pid as number;
          await Promise.all([settle('described first', tx`select pg_sleep(${5}::float8)`), settle('queued', tx`select 1 as queued`)]);
        })
        .catch((error: unknown) => error);
      await waitUntil(() => backendPid !== null, ANSWER_BOUND_MS);
      await new Promise((resolve) => setTimeout(resolve, 200)); // both statements handed over, the sleep running
      await admin`select pg_terminate_backend(${backendPid})`;
      expect(isDatabaseUnavailable(await transaction), 'begin() rejects').toBe(true);
      await waitUntil(() => 'queued' in outcomes && 'described first' in outcomes, ANSWER_BOUND_MS);
      expect(isDatabaseUnavailable(outcomes['described first']), String(outcomes['described first'])).toBe(true);
      expect(isDatabaseUnavailable(outcomes.queued), String(outcomes.queued ?? 'never settled')).toBe(true);
    } finally {
      await sql.end({ timeout: 1 }).catch(() => {});
      await admin.end({ timeout: 1 }).catch(() => {});
    }
  });
});

describe('BEGIN pipelined with the first statements (patches/postgres+3.4.9.patch)', () => {
  // A proxy between the driver and the server holds every answer back for a while and records
  // what the client sent meanwhile: with BEGIN awaited, the transaction's first statement could
  // only leave after BEGIN's answer arrived; pipelined, it reaches the server first.
  async function throughSlowProxy<T>(run: (sql: import('postgres').Sql) => Promise<T>) {
    const upstreamPort = Number(new URL(url).port);
    const log: string[] = [];
    const proxy = net.createServer((client) => {
      const upstream = net.connect(upstreamPort, '127.0.0.1');
      client.on('error', () => {});
      upstream.on('error', () => {});
      client.on('data', (chunk) => {
        if (chunk.includes('pipelined_marker')) log.push('statement sent');
        upstream.write(chunk);
      });
      upstream.on('data', (chunk) => {
        setTimeout(() => {
          if (!client.destroyed) {
            if (chunk.includes('BEGIN')) log.push('BEGIN answered');
            client.write(chunk);
          }
        }, 150);
      });
      upstream.on('close', () => setTimeout(() => client.destroy(), 200));
      client.on('close', () => upstream.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const proxied = new URL(url);
    proxied.port = String((proxy.address() as net.AddressInfo).port);
    const { default: postgres } = await import('postgres');
    const sql = postgres(proxied.toString(), { max: 1, onnotice: () => {} });
    try {
      await sql`select 1`; // connected and idle: the case the patch pipelines
      return { result: await run(sql), log };
    } finally {
      await sql.end({ timeout: 1 }).catch(() => {});
      await new Promise((resolve) => proxy.close(resolve));
    }
  }

  it('sends the first statement before BEGIN is answered, and commits it', async () => {
    const { default: postgres } = await import('postgres');
    const direct = postgres(url, { max: 1, onnotice: () => {} });
    try {
      await direct`create table if not exists pipelined (id text primary key)`;
      const { result, log } = await throughSlowProxy((sql) =>
        sql.begin(async (tx) => {
          await tx.unsafe(`insert into pipelined (id) values ('committed') returning 'pipelined_marker' as marker`);
          return (await tx`select txid_current_if_assigned() is not null as in_transaction`)[0]!.in_transaction;
        }),
      );
      expect(log.slice(0, 2)).toEqual(['statement sent', 'BEGIN answered']);
      expect(result).toBe(true); // the insert ran inside the transaction, not in autocommit
      expect(await direct`select id from pipelined where id = 'committed'`).toEqual([{ id: 'committed' }]);
    } finally {
      await direct.end({ timeout: 1 });
    }
  });

  it('rolls back the pipelined first statement when a later one fails', async () => {
    const { default: postgres } = await import('postgres');
    const direct = postgres(url, { max: 1, onnotice: () => {} });
    try {
      await direct`create table if not exists pipelined (id text primary key)`;
      const { result } = await throughSlowProxy((sql) =>
        sql
          .begin(async (tx) => {
            await tx.unsafe(`insert into pipelined (id) values ('rolled back') returning 'pipelined_marker' as marker`);
            await tx`select 1 / 0`;
          })
          .then(
            () => 'committed',
            (error: { code?: string }) => error.code,
          ),
      );
      expect(result).toBe('22012'); // division_by_zero
      expect(await direct`select id from pipelined where id = 'rolled back'`).toEqual([]);
    } finally {
      await direct.end({ timeout: 1 });
    }
  });
});

describe('a service pool through restarts and a stop', () => {
  let database: ServiceDatabase<Record<string, never>>;

  beforeAll(async () => {
    database = await openServiceDatabase({ service: 'faults', target: { kind: 'postgres', url, poolMax: 4 }, schema: {}, migrationsFolder });
    await database.query('create table if not exists faults_counter (id serial primary key, at timestamptz not null default now())');
  });

  afterAll(async () => {
    await database?.close();
  });

  // One statement and one transaction per iteration: the transaction is where the crash came from.
  const work = async () => {
    await database.query('select count(*) from faults_counter');
    await database.transaction(async (tx) => {
      await tx.query('insert into faults_counter default values');
      await tx.query('select pg_sleep(0.005)');
    });
  };

  for (const mode of ['immediate', 'fast'] as const) {
    it(`survives a restart -m ${mode} under load and reconnects`, async () => {
      const running = load(work);
      // Under load 500 ms was not always enough for the first request: the restart must meet a pool at work.
      await new Promise((resolve) => setTimeout(resolve, 500));
      await waitUntil(() => running.outcomes.ok > 0);
      const okBefore = running.outcomes.ok;
      await cluster.restart(mode);
      const { afterMs } = await eventually(() => database.query('select 1'));
      await new Promise((resolve) => setTimeout(resolve, 500));
      const okAfterRecovery = running.outcomes.ok;
      await new Promise((resolve) => setTimeout(resolve, 500));
      await waitUntil(() => running.outcomes.ok > okAfterRecovery);
      const outcomes = await running.stop();
      expect(okBefore).toBeGreaterThan(0);
      // The pool carries on: work completes after the restart.
      expect(outcomes.ok).toBeGreaterThan(okAfterRecovery);
      expect(afterMs).toBeLessThan(RECOVERY_BOUND_MS);
      // Every failure during the restart is a connection fault (SERVICE_UNAVAILABLE), none other.
      expect(outcomes.other).toEqual([]);
      expect(await pingServiceDatabase('faults')).toBe('up');
    });
  }

  it('while stopped, queries fail within 2 s as unavailable and readiness is down; after start they succeed', async () => {
    await cluster.stop('fast');
    try {
      for (let attempt = 0; attempt < 5; attempt += 1) {
        const started = Date.now();
        const error = await work().then(
          () => null,
          (failure: unknown) => failure,
        );
        expect(Date.now() - started).toBeLessThan(ANSWER_BOUND_MS);
        expect(isDatabaseUnavailable(error), String(error)).toBe(true);
      }
      const pingStarted = Date.now();
      expect(await pingServiceDatabase('faults')).toBe('down');
      expect(Date.now() - pingStarted).toBeLessThan(ANSWER_BOUND_MS);
    } finally {
      await cluster.start();
    }
    await eventually(work);
    expect(await pingServiceDatabase('faults')).toBe('up');
  });
});

describe('start-up while the database is down', () => {
  it('waits with backoff, logging each attempt, and opens once the database answers', async () => {
    await cluster.stop('fast');
    const attempts: Record<string, unknown>[] = [];
    const { setDatabaseLogger } = await import('@paygraph/db');
    setDatabaseLogger({ warn: (fields) => void attempts.push(fields), info: () => {} });
    const started = Date.now();
    let openedAt = 0;
    const opening = openServiceDatabase({ service: 'faults_startup', target: { kind: 'postgres', url, poolMax: 2, startupWaitMs: 30_000 }, schema: {}, migrationsFolder }).then((database) => {
      openedAt = Date.now();
      return database;
    });
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(openedAt).toBe(0);
    await cluster.start();
    const database = await opening;
    try {
      expect(openedAt - started).toBeGreaterThanOrEqual(2_000);
      expect(attempts.length).toBeGreaterThanOrEqual(2);
      expect(attempts[0]).toMatchObject({ what: 'faults_startup migrations', attempt: 1 });
      expect(await database.query<{ one: number }>('select 1 as one')).toEqual([{ one: 1 }]);
    } finally {
      await database.close();
    }
  });

  it('gives up after the wait when the database never comes', async () => {
    await cluster.stop('fast');
    try {
      const started = Date.now();
      await expect(
        openServiceDatabase({ service: 'faults_never', target: { kind: 'postgres', url, poolMax: 2, startupWaitMs: 1_500 }, schema: {}, migrationsFolder }),
      ).rejects.toSatisfy(isDatabaseUnavailable);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await cluster.start();
    }
  });
});
