/**
 * Ledger posting throughput on PostgreSQL: transfers per second through the ledger store (drizzle,
 * the code the service runs) beside the same SQL statements issued directly with postgres.js
 * tagged templates (the physical limit of this design), at 1, 16 and 64 concurrent clients.
 *
 *   npm run bench:ledger                 (DATABASE_URL defaults to the local server)
 *   BENCH_SECONDS=10 npm run bench:ledger
 *
 * Each client moves money between its own pair of accounts, so the figure is the posting path,
 * not lock contention on one hot row. Loopback only; bounded in time; creates and drops its own
 * database.
 */
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { timed } from './timed';
import { closeSharedDatabases, newId, openServiceDatabase } from '@paygraph/db';
import { schema } from '../subgraphs/ledger/src/db/schema';
import { chainPayload, requestHash } from '../subgraphs/ledger/src/domain/postings';
import { migrationsFolder } from '../subgraphs/ledger/src/server';
import { createLedgerStore } from '../subgraphs/ledger/src/store/ledger-store';
import { LEDGER_SQL } from '../subgraphs/ledger/src/store/statements';

const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const clientCounts = (process.env.BENCH_CLIENTS ?? '1,16,64').split(',').map(Number);
const POOL_MAX = 32;
const WARMUP_MS = 1_000;

interface Pair {
  from: string;
  to: string;
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

    const maxClients = Math.max(...clientCounts);
    const bank = await store.ensureAccount('bench-bank', 'SYSTEM_BANK', 'USD');
    const pairs: Pair[] = [];
    for (let client = 0; client < maxClients; client += 1) {
      const from = await store.ensureAccount(`bench-from-${client}`, 'USER_WALLET', 'USD');
      const to = await store.ensureAccount(`bench-to-${client}`, 'USER_WALLET', 'USD');
      await store.postTransaction({
        idempotencyKey: `fund-${client}`,
        description: null,
        lines: [
          { accountId: bank.id, direction: 'DEBIT', amount: 10n ** 14n, currency: 'USD' },
          { accountId: from.id, direction: 'CREDIT', amount: 10n ** 14n, currency: 'USD' },
        ],
      });
      pairs.push({ from: from.id, to: to.id });
    }

    const viaStore = (client: number) => {
      const pair = pairs[client]!;
      return store
        .postTransaction({
          idempotencyKey: newId('bench'),
          description: null,
          lines: [
            { accountId: pair.from, direction: 'DEBIT', amount: 1n, currency: 'USD' },
            { accountId: pair.to, direction: 'CREDIT', amount: 1n, currency: 'USD' },
          ],
        })
        .then(() => undefined);
    };

    // The same statements (LEDGER_SQL) issued directly with postgres.js, no store around them:
    // claim the key, two entries, guarded account updates in id order, chain head; one transaction.
    const viaRawSql = async (client: number) => {
      const pair = pairs[client]!;
      const lines = [
        { id: newId('len'), accountId: pair.from, direction: 'DEBIT' as const, amount: 1n, currency: 'USD' },
        { id: newId('len'), accountId: pair.to, direction: 'CREDIT' as const, amount: 1n, currency: 'USD' },
      ];
      const transaction = { id: newId('ltx'), idempotencyKey: newId('bench'), description: null };
      const [debit, credit] = lines as [(typeof lines)[0], (typeof lines)[1]];
      await raw.begin(async (sql) => {
        const run = (text: string, params: (string | null)[]) => sql.unsafe(text, params, { prepare: true });
        const claimed = await run(LEDGER_SQL.insertTransaction, [transaction.id, transaction.idempotencyKey, requestHash('post', { description: null, lines }), 'TRANSFER', null, null]);
        if (claimed.length === 0) throw new Error('unexpected replay');
        await run(LEDGER_SQL.insertTwoEntries, [debit.id, transaction.id, debit.accountId, 'DEBIT', '1', 'USD', credit.id, credit.accountId, 'CREDIT', '1', 'USD']);
        const updates: [string, string, string][] = [
          [pair.from, '1', '0'],
          [pair.to, '0', '1'],
        ];
        for (const [accountId, debits, credits] of updates.sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
          const updated = await run(LEDGER_SQL.applyDelta, [accountId, debits, credits, '0', '0']);
          if (updated.length === 0) throw new Error('insufficient funds');
        }
        await run(LEDGER_SQL.chain, [transaction.id, chainPayload(transaction, lines)]);
      });
    };

    const rows: string[] = [];
    console.log(`ledger transfers on PostgreSQL (${new URL(serverUrl).host}), ${seconds} s per point, pool ${POOL_MAX}`);
    for (const clients of clientCounts) {
      await timed(clients, WARMUP_MS, viaRawSql);
      const rawResult = await timed(clients, seconds * 1000, viaRawSql);
      await timed(clients, WARMUP_MS, viaStore);
      const storeResult = await timed(clients, seconds * 1000, viaStore);
      const ratio = storeResult.perSecond / rawResult.perSecond;
      const row = `| ${clients} | ${rawResult.perSecond.toFixed(0)} | ${rawResult.p50.toFixed(2)} / ${rawResult.p99.toFixed(2)} | ${storeResult.perSecond.toFixed(0)} | ${storeResult.p50.toFixed(2)} / ${storeResult.p99.toFixed(2)} | ${(ratio * 100).toFixed(0)}% |`;
      rows.push(row);
      console.log(`clients ${clients}: raw ${rawResult.perSecond.toFixed(0)}/s, store ${storeResult.perSecond.toFixed(0)}/s, store/raw ${(ratio * 100).toFixed(0)}%`);
    }
    console.log('\n| clients | raw SQL transfers/s | raw p50 / p99 ms | store transfers/s | store p50 / p99 ms | store / raw |');
    console.log('|---|---|---|---|---|---|');
    for (const row of rows) console.log(row);

    await raw.end();
    await opened.close();
    await closeSharedDatabases();
  } finally {
    await admin.unsafe(`drop database if exists ${database} with (force)`);
    await admin.end();
  }
}

await main();
