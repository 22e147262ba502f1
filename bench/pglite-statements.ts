/**
 * The hand-written SQL path on embedded PGlite: PGlite's own `query()` (six calls into the
 * database per statement, the text parsed and planned each time; what `packages/db` ran before)
 * against `pgliteRunners` (`packages/db/src/pglite-statements.ts`: named statements, one call per
 * run). Each transaction is a payment capture's shape on two tables: lock and read the order,
 * insert a payment, move two balances (the debit guarded), insert an outbox row, update the order.
 * Rounds alternate the two paths on one in-memory instance (BENCH_DISK=1: a data folder instead);
 * prints wall and CPU milliseconds per transaction per round and the medians.
 *
 *   npx tsx bench/pglite-statements.ts       # BENCH_TRANSACTIONS=2000 BENCH_ROUNDS=3
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import type { RawTransaction, SqlRunner } from '../packages/db/src/raw';
import { pgliteRunners } from '../packages/db/src/pglite-statements';

const TRANSACTIONS = Number(process.env.BENCH_TRANSACTIONS ?? 2000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const folder = process.env.BENCH_DISK === '1' ? mkdtempSync(path.join(tmpdir(), 'pglite-bench-')) : null;
const client = await PGlite.create(folder ?? 'memory://bench');
await client.exec(`
  create table orders (id text primary key, status text not null, amount bigint not null);
  create table accounts (id text primary key, balance bigint not null);
  create table payments (id text primary key, order_id text not null, amount bigint not null);
  create table outbox (position bigserial primary key, payload jsonb not null);
  insert into accounts values ('buyer', 1000000000000), ('merchant', 0);`);

/** What `packages/db` ran on PGlite before: PGlite's transaction object and query(). */
const before: RawTransaction = (work) =>
  client.transaction(async (tx) => {
    const sent: Promise<unknown>[] = [];
    const result = await work({
      query: async <T>(text: string, params: readonly unknown[] = []) => (await tx.query<T>(text, [...params])).rows,
      send: (text, params = []) => void sent.push(tx.query(text, [...params])),
    });
    await Promise.all(sent);
    return result;
  });
const after = pgliteRunners(client, () => {}).transaction;

let sequence = 0;
async function capture(sql: SqlRunner): Promise<void> {
  const id = `o${++sequence}`;
  await sql.query(`insert into orders (id, status, amount) values ($1, 'PENDING', $2::bigint)`, [id, '125']);
  const [order] = await sql.query<{ amount: string }>(`select amount::text as amount from orders where id = $1 for update`, [id]);
  sql.send!(`insert into payments (id, order_id, amount) values ($1, $2, $3::bigint)`, [`p${sequence}`, id, order!.amount]);
  const moved = await sql.query(`update accounts set balance = balance - $2::bigint where id = $1 and balance >= $2::bigint returning balance::text`, ['buyer', order!.amount]);
  if (moved.length !== 1) throw new Error('insufficient funds');
  sql.send!(`update accounts set balance = balance + $2::bigint where id = $1`, ['merchant', order!.amount]);
  sql.send!(`insert into outbox (payload) values ($1::jsonb)`, [JSON.stringify({ type: 'PaymentSucceeded', orderId: id, amount: order!.amount })]);
  sql.send!(`update orders set status = 'PAID' where id = $1`, [id]);
}

async function round(transaction: RawTransaction): Promise<{ wallMs: number; cpuMs: number }> {
  const started = performance.now();
  const cpu = process.cpuUsage();
  for (let i = 0; i < TRANSACTIONS; i++) await transaction(capture);
  const used = process.cpuUsage(cpu);
  return { wallMs: (performance.now() - started) / TRANSACTIONS, cpuMs: (used.user + used.system) / 1000 / TRANSACTIONS };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
console.log(`pglite-statements: ${TRANSACTIONS} payment-capture transactions (7 statements) per round, ${ROUNDS} rounds, ${folder ? 'data folder' : 'in memory'}; node ${process.version}`);
await round(before); // warm-up, both paths
await round(after);
const results = { before: [] as { wallMs: number; cpuMs: number }[], after: [] as { wallMs: number; cpuMs: number }[] };
for (let r = 1; r <= ROUNDS; r++) {
  for (const [name, transaction] of [['before', before], ['after', after]] as const) {
    const result = await round(transaction);
    results[name].push(result);
    console.log(`round ${r} ${name.padEnd(6)} ${result.wallMs.toFixed(3)} ms per transaction, ${result.cpuMs.toFixed(3)} ms CPU`);
  }
}
const [{ balance }] = (await client.query<{ balance: string }>(`select (select sum(balance) from accounts)::text as balance`)).rows as [{ balance: string }];
if (balance !== '1000000000000') throw new Error(`balances do not add up: ${balance}`);
const summary = (name: 'before' | 'after') => ({ wall: median(results[name].map((r) => r.wallMs)), cpu: median(results[name].map((r) => r.cpuMs)) });
const b = summary('before');
const a = summary('after');
console.log(`\nmedians: query() ${b.wall.toFixed(3)} ms (${b.cpu.toFixed(3)} CPU), named statements ${a.wall.toFixed(3)} ms (${a.cpu.toFixed(3)} CPU): ${(b.wall / a.wall).toFixed(2)}x the transactions per second`);
await client.close();
if (folder) rmSync(folder, { recursive: true, force: true });
