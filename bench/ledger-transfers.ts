/**
 * Ledger posting throughput on PostgreSQL, two scenarios, each beside a baseline in the same run:
 *
 * - uniform: each client moves money between its own pair of accounts (no hot row), through the
 *   ledger store (the code the service runs) and through the same statements issued per request
 *   with postgres.js (the physical limit of one transaction per transfer), at 1, 16 and 64 clients;
 * - hot: 64 clients moving money among 10 hot wallets, through the store (group commit: postings
 *   that arrive together share one transaction), through the store's per-request statements, and
 *   through pgbench's hot-wallet transfer script (two guarded wallet updates in id order, a
 *   transfer and its two entries, one transaction each) on the same server.
 *
 *   npm run bench:ledger                 (DATABASE_URL defaults to the local server)
 *   BENCH_SECONDS=10 npm run bench:ledger
 *   BENCH_SCENARIOS=hot npm run bench:ledger
 *
 * Loopback only; bounded in time; creates and drops its own database. The hot scenario runs first,
 * so pgbench's 64 connections and the pools' 64 are never open at once (max_connections 100).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { timed } from './timed';
import { closeSharedDatabases, newId, openServiceDatabase } from '@paygraph/db';
import { schema } from '../subgraphs/ledger/src/db/schema';
import { chainPayload, requestHash } from '../subgraphs/ledger/src/domain/postings';
import { migrationsFolder } from '../subgraphs/ledger/src/server';
import { createLedgerStore } from '../subgraphs/ledger/src/store/ledger-store';
import { verifyLedger } from '../subgraphs/ledger/src/store/verify';
import { LEDGER_SQL } from '../subgraphs/ledger/src/store/statements';

const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const clientCounts = (process.env.BENCH_CLIENTS ?? '1,16,64').split(',').map(Number);
const scenarios = (process.env.BENCH_SCENARIOS ?? 'hot,uniform').split(',');
const POOL_MAX = 32;
const WARMUP_MS = 1_000;
const HOT_WALLETS = 10;
const HOT_CLIENTS = Number(process.env.BENCH_HOT_CLIENTS ?? 64);
const FUNDING = 10n ** 14n;

/**
 * pgbench's hot-wallet transfer: two distinct wallets of 10, updated in id order with the debit
 * guarded (balance >= amount), then the transfer and its two entries; one transaction.
 */
const PGBENCH_HOT_SETUP = `
  create schema hot;
  create table hot.wallets (id int primary key, balance bigint not null check (balance >= 0));
  insert into hot.wallets select g, ${FUNDING} from generate_series(1, ${HOT_WALLETS}) g;
  create table hot.transfers (id bigserial primary key, from_wallet int not null, to_wallet int not null, amount bigint not null, created_at timestamptz not null default now());
  create table hot.entries (id bigserial primary key, transfer_id bigint not null, wallet_id int not null, amount bigint not null);`;
const PGBENCH_HOT_SCRIPT = `\\set a random(1, ${HOT_WALLETS})
\\set b 1 + (:a + random(0, ${HOT_WALLETS - 2})) % ${HOT_WALLETS}
\\set lo least(:a, :b)
\\set hi greatest(:a, :b)
BEGIN;
UPDATE hot.wallets SET balance = balance + CASE WHEN id = :a THEN -1 ELSE 1 END WHERE id = :lo AND (id <> :a OR balance >= 1);
UPDATE hot.wallets SET balance = balance + CASE WHEN id = :a THEN -1 ELSE 1 END WHERE id = :hi AND (id <> :a OR balance >= 1);
WITH t AS (INSERT INTO hot.transfers (from_wallet, to_wallet, amount) VALUES (:a, :b, 1) RETURNING id)
  INSERT INTO hot.entries (transfer_id, wallet_id, amount) SELECT id, :a, -1 FROM t UNION ALL SELECT id, :b, 1 FROM t;
COMMIT;
`;

/** Runs pgbench's script at `clients` for `seconds` against `databaseUrl`; transactions per second and mean latency. */
async function pgbench(databaseUrl: string, script: string, clients: number, seconds: number) {
  const url = new URL(databaseUrl);
  const folder = await mkdtemp(join(tmpdir(), 'paygraph-pgbench-'));
  try {
    const file = join(folder, 'script.sql');
    await writeFile(file, script);
    const args = ['-n', '-c', String(clients), '-j', '2', '-T', String(seconds), '-f', file, '-h', url.hostname, '-p', url.port || '5432', '-U', decodeURIComponent(url.username || 'postgres'), url.pathname.slice(1)];
    const { stdout } = await promisify(execFile)('pgbench', args, { env: { ...process.env, PGPASSWORD: decodeURIComponent(url.password) }, timeout: (seconds + 60) * 1000 });
    const tps = /tps = ([\d.]+)/.exec(stdout);
    const latency = /latency average = ([\d.]+) ms/.exec(stdout);
    if (!tps) throw new Error(`pgbench printed no tps:\n${stdout}`);
    return { perSecond: Number(tps[1]), latencyMs: latency ? Number(latency[1]) : Number.NaN };
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}


async function main() {
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  const database = `paygraph_bench_${randomBytes(4).toString('hex')}`;
  await admin.unsafe(`create database ${database}`);
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  try {
    const opened = await openServiceDatabase({ service: 'ledger', target: { kind: 'postgres', url: url.toString(), poolMax: POOL_MAX }, schema, migrationsFolder });
    const store = createLedgerStore(opened);
    const raw = postgres(url.toString(), { max: POOL_MAX, onnotice: () => {} });

    const bank = await store.ensureAccount('bench-bank', 'SYSTEM_BANK', 'USD');
    const fund = (accountId: string, label: string) =>
      store.postTransaction({
        idempotencyKey: `fund-${label}`,
        description: null,
        lines: [
          { accountId: bank.id, direction: 'DEBIT', amount: FUNDING, currency: 'USD' },
          { accountId, direction: 'CREDIT', amount: FUNDING, currency: 'USD' },
        ],
      });

    const transferViaStore = (from: string, to: string) =>
      store
        .postTransaction({
          idempotencyKey: newId('bench'),
          description: null,
          lines: [
            { accountId: from, direction: 'DEBIT', amount: 1n, currency: 'USD' },
            { accountId: to, direction: 'CREDIT', amount: 1n, currency: 'USD' },
          ],
        })
        .then(() => undefined);

    // The store's statements (LEDGER_SQL) issued per request with postgres.js, one transaction
    // each: claim the key, two entries, guarded account updates in id order, chain head. This is
    // what the store did for every transfer before group commit.
    const transferViaRawSql = async (from: string, to: string) => {
      const lines = [
        { id: newId('len'), accountId: from, direction: 'DEBIT' as const, amount: 1n, currency: 'USD' },
        { id: newId('len'), accountId: to, direction: 'CREDIT' as const, amount: 1n, currency: 'USD' },
      ];
      const transaction = { id: newId('ltx'), idempotencyKey: newId('bench'), description: null };
      const [debit, credit] = lines as [(typeof lines)[0], (typeof lines)[1]];
      await raw.begin(async (sql) => {
        const run = (text: string, params: (string | null)[]) => sql.unsafe(text, params, { prepare: true });
        const claimed = await run(LEDGER_SQL.insertTransaction, [transaction.id, transaction.idempotencyKey, requestHash('post', { description: null, lines }), 'TRANSFER', null, null]);
        if (claimed.length === 0) throw new Error('unexpected replay');
        await run(LEDGER_SQL.insertTwoEntries, [debit.id, transaction.id, debit.accountId, 'DEBIT', '1', 'USD', credit.id, credit.accountId, 'CREDIT', '1', 'USD']);
        const updates: [string, string, string][] = [
          [from, '1', '0'],
          [to, '0', '1'],
        ];
        for (const [accountId, debits, credits] of updates.sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
          const updated = await run(LEDGER_SQL.applyDelta, [accountId, debits, credits, '0', '0']);
          if (updated.length === 0) throw new Error('insufficient funds');
        }
        await run(LEDGER_SQL.chain, [transaction.id, chainPayload(transaction, lines)]);
      });
    };

    const summary: string[] = [];
    const show = (result: { perSecond: number; p50: number; p99: number }) => `${result.perSecond.toFixed(0)}/s (p50 ${result.p50.toFixed(1)} ms, p99 ${result.p99.toFixed(1)} ms)`;
    console.log(`ledger transfers on PostgreSQL (${new URL(serverUrl).host}), ${seconds} s per point, pool ${POOL_MAX}`);

    if (scenarios.includes('hot')) {
      const hot: string[] = [];
      for (let wallet = 0; wallet < HOT_WALLETS; wallet += 1) {
        const account = await store.ensureAccount(`bench-hot-${wallet}`, 'USER_WALLET', 'USD');
        await fund(account.id, `hot-${wallet}`);
        hot.push(account.id);
      }
      const hotPair = () => {
        const from = Math.floor(Math.random() * HOT_WALLETS);
        const to = (from + 1 + Math.floor(Math.random() * (HOT_WALLETS - 1))) % HOT_WALLETS;
        return [hot[from]!, hot[to]!] as const;
      };
      const setup = postgres(url.toString(), { max: 1, onnotice: () => {} });
      await setup.unsafe(PGBENCH_HOT_SETUP);
      await setup.end();

      await pgbench(url.toString(), PGBENCH_HOT_SCRIPT, HOT_CLIENTS, 1);
      const viaPgbench = await pgbench(url.toString(), PGBENCH_HOT_SCRIPT, HOT_CLIENTS, seconds);
      await timed(HOT_CLIENTS, WARMUP_MS, () => transferViaStore(...hotPair()));
      const viaStore = await timed(HOT_CLIENTS, seconds * 1000, () => transferViaStore(...hotPair()));
      await timed(HOT_CLIENTS, WARMUP_MS, () => transferViaRawSql(...hotPair()));
      const viaRaw = await timed(HOT_CLIENTS, seconds * 1000, () => transferViaRawSql(...hotPair()));
      console.log(`hot (${HOT_WALLETS} wallets, ${HOT_CLIENTS} clients): pgbench ${viaPgbench.perSecond.toFixed(0)} tx/s (mean ${viaPgbench.latencyMs.toFixed(1)} ms), store ${show(viaStore)}, raw SQL per request ${show(viaRaw)}`);
      summary.push(
        `\n| hot: ${HOT_WALLETS} wallets, ${HOT_CLIENTS} clients | transfers/s | latency ms | / pgbench |`,
        '|---|---|---|---|',
        `| pgbench hot-wallet script | ${viaPgbench.perSecond.toFixed(0)} | mean ${viaPgbench.latencyMs.toFixed(1)} | 1.00x |`,
        `| ledger store (group commit) | ${viaStore.perSecond.toFixed(0)} | p50 ${viaStore.p50.toFixed(1)} / p99 ${viaStore.p99.toFixed(1)} | ${(viaStore.perSecond / viaPgbench.perSecond).toFixed(2)}x |`,
        `| store's statements per request (raw SQL) | ${viaRaw.perSecond.toFixed(0)} | p50 ${viaRaw.p50.toFixed(1)} / p99 ${viaRaw.p99.toFixed(1)} | ${(viaRaw.perSecond / viaPgbench.perSecond).toFixed(2)}x |`,
      );
    }

    if (scenarios.includes('uniform')) {
      const maxClients = Math.max(...clientCounts);
      const pairs: { from: string; to: string }[] = [];
      for (let client = 0; client < maxClients; client += 1) {
        const from = await store.ensureAccount(`bench-from-${client}`, 'USER_WALLET', 'USD');
        const to = await store.ensureAccount(`bench-to-${client}`, 'USER_WALLET', 'USD');
        await fund(from.id, `pair-${client}`);
        pairs.push({ from: from.id, to: to.id });
      }
      const rows: string[] = [];
      for (const clients of clientCounts) {
        const rawSide = (client: number) => transferViaRawSql(pairs[client]!.from, pairs[client]!.to);
        const storeSide = (client: number) => transferViaStore(pairs[client]!.from, pairs[client]!.to);
        await timed(clients, WARMUP_MS, rawSide);
        const rawResult = await timed(clients, seconds * 1000, rawSide);
        await timed(clients, WARMUP_MS, storeSide);
        const storeResult = await timed(clients, seconds * 1000, storeSide);
        const ratio = storeResult.perSecond / rawResult.perSecond;
        rows.push(`| ${clients} | ${rawResult.perSecond.toFixed(0)} | ${rawResult.p50.toFixed(2)} / ${rawResult.p99.toFixed(2)} | ${storeResult.perSecond.toFixed(0)} | ${storeResult.p50.toFixed(2)} / ${storeResult.p99.toFixed(2)} | ${(ratio * 100).toFixed(0)}% |`);
        console.log(`uniform, clients ${clients}: raw ${rawResult.perSecond.toFixed(0)}/s, store ${storeResult.perSecond.toFixed(0)}/s, store/raw ${(ratio * 100).toFixed(0)}%`);
      }
      summary.push('\n| uniform: clients | raw SQL transfers/s | raw p50 / p99 ms | store transfers/s | store p50 / p99 ms | store / raw |', '|---|---|---|---|---|---|', ...rows);
    }
    for (const line of summary) console.log(line);

    const verification = await verifyLedger(opened.db);
    console.log(`\nverifyLedger after the run: ok ${verification.ok}, ${verification.checkedTransactions} transactions${verification.ok ? '' : `: ${verification.mismatches.slice(0, 5).join('; ')}`}`);

    await raw.end();
    await opened.close();
    await closeSharedDatabases();
  } finally {
    await admin.unsafe(`drop database if exists ${database} with (force)`);
    await admin.end();
  }
}

await main();
