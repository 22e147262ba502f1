// Proves that PostgreSQL faults never end the process and that pools come back, on a private
// cluster (tests/support/private-postgres.ts) this file restarts and stops: the upstream
// postgres.js crash (porsager/postgres#1208) reproduced in a child process exits cleanly with the
// patch; a service pool under load survives `-m immediate` and `-m fast` restarts and reconnects;
// while the database is stopped queries fail within 2 s with errors classified as unavailable and
// readiness says down; start-up while the database is down waits, logs each attempt, and comes up.
import { execFile } from 'node:child_process';
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

describe('the postgres.js crash (porsager/postgres#1154, #1066, #1208)', () => {
  it('is patched in the installed driver (patches/postgres+3.4.9.patch, applied by postinstall)', () => {
    const require = createRequire(import.meta.url);
    // The CommonJS entry is <root>/cjs/src/index.js (package.json is not exported).
    const driverRoot = path.resolve(path.dirname(require.resolve('postgres')), '../..');
    for (const build of ['src', 'cjs/src']) {
      const source = readFileSync(path.join(driverRoot, build, 'connection.js'), 'utf8');
      expect(source, `${build}/connection.js`).toContain('if (socket === null) {');
    }
  });

  it('a backend terminated inside a transaction rejects with CONNECTION_CLOSED and the process lives on', async () => {
    const result = await runFixture('terminate-in-transaction.ts', [url]);
    expect(result.stderr).not.toContain("Cannot read properties of null (reading 'write')");
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout.trim().split('\n').at(-1)!)).toEqual({ transaction: 'CONNECTION_CLOSED', after: 1 });
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
      await new Promise((resolve) => setTimeout(resolve, 500));
      const okBefore = running.outcomes.ok;
      await cluster.restart(mode);
      const { afterMs } = await eventually(() => database.query('select 1'));
      await new Promise((resolve) => setTimeout(resolve, 500));
      const okAfterRecovery = running.outcomes.ok;
      await new Promise((resolve) => setTimeout(resolve, 500));
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
