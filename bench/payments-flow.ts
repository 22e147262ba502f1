/**
 * Payment throughput: createOrder + payOrder (automatic capture) through the gateway of a platform
 * started as `npm start` starts it (its own process, on PostgreSQL), at 1, 16 and 64 concurrent
 * clients; beside it the same database work issued directly as raw SQL from this process (every
 * statement the services run for one payment, in the same transactions: the physical limit).
 *
 *   npm run bench:payments          (DATABASE_URL defaults to the local server; BENCH_SECONDS=5)
 *
 * Each client is its own buyer paying its own merchant (no hot account row). The risk rules of the
 * benchmark database allow the attempt rate (velocity limit raised). Loopback only; bounded in
 * time; creates and drops its own database.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import postgres from 'postgres';
import { timed } from './timed';
import { loadServiceList } from '@paygraph/config';
import { newId } from '@paygraph/db';
import { gql, loginAs, registerAndLogin, type TestUser } from '@paygraph/testing';
import { chainPayload, requestHash } from '../subgraphs/ledger/src/domain/postings';
import { LEDGER_SQL } from '../subgraphs/ledger/src/store/statements';

const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const clientCounts = (process.env.BENCH_CLIENTS ?? '1,16,64').split(',').map(Number);
const WARMUP_MS = 2_000;
const ADMIN_PASSWORD = 'bench admin password';


function spawnReady(args: string[], env: NodeJS.ProcessEnv, ready: RegExp) {
  const child = spawn('npm', args, { cwd: path.resolve(import.meta.dirname, '..'), env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  // Never leave a platform behind, even when the benchmark itself is interrupted.
  const killGroup = () => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  process.once('exit', killGroup);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
  let output = '';
  const url = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`npm ${args.join(' ')} did not start:\n${output}`)), 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = ready.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`npm ${args.join(' ')} exited with ${code}:\n${output}`)));
  });
  const stop = async () => {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      process.kill(-child.pid!, 'SIGINT');
    } catch {
      return;
    }
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
  };
  return { url, stop };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * `single`: `npm start`, everything in one process. `processes`: one process per service and one
 * for the gateway, as docker-compose.yml deploys them (the OS spreads them over the cores).
 */
async function startPlatform(topology: 'single' | 'processes', databaseUrl: string, adminEmail: string) {
  const services = loadServiceList({});
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: databaseUrl,
    LOG_LEVEL: 'error',
    // A load test: the per-client rate limits and login throttles would measure themselves.
    RATE_LIMITS: 'off',
    ADMIN_EMAIL: adminEmail,
    ADMIN_PASSWORD,
    DATABASE_POOL_MAX: topology === 'single' ? '20' : '8',
    SERVICE_SECRET: randomBytes(32).toString('hex'),
    PORT: String(await freePort()),
  };
  for (const service of services) env[`${service.name.toUpperCase()}_PORT`] = String(await freePort());
  if (topology === 'single') {
    const platform = spawnReady(['start'], env, /Gateway ready at (\S+) /);
    return { gatewayUrl: await platform.url, stop: platform.stop };
  }
  const started: { stop: () => Promise<void> }[] = [];
  const auth = spawnReady(['start', '-w', 'subgraphs/auth'], env, /auth subgraph ready at (\S+)/);
  started.push(auth);
  await auth.url;
  const others = services.filter((service) => service.name !== 'auth').map((service) => spawnReady(['start', '-w', `subgraphs/${service.name}`], env, new RegExp(`${service.name} subgraph ready at (\\S+)`)));
  started.push(...others);
  await Promise.all(others.map((other) => other.url));
  const gateway = spawnReady(['start', '-w', 'gateway'], env, /Gateway ready at (\S+)/);
  started.push(gateway);
  return { gatewayUrl: await gateway.url, stop: async () => void (await Promise.all(started.map((process) => process.stop()))) };
}

/**
 * The database work of one payment, statement for statement as the services issue it (payments,
 * users, risk, wallet, ledger), each service's transaction as its own transaction here too.
 */
function rawPayment(sql: postgres.Sql, fixture: { buyerId: string; merchantId: string; buyerAccount: string; merchantAccount: string }) {
  return async () => {
    const orderId = newId('ord');
    const paymentId = newId('pay');
    const amount = '100';
    const event = (tx: postgres.TransactionSql, aggregateType: string, aggregateId: string, version: number, type: string) =>
      tx`insert into payments.outbox_events (id, aggregate_type, aggregate_id, aggregate_version, type, payload) values (${newId('evt')}, ${aggregateType}, ${aggregateId}, ${version}, ${type}, ${tx.json({ id: aggregateId })})`;
    // createOrder: merchant role (users), order + event (payments)
    await sql`select id, role from users.users where id in (${fixture.merchantId})`;
    await sql.begin(async (tx) => {
      await tx`insert into payments.orders (id, buyer_id, merchant_id, amount, currency, status) values (${orderId}, ${fixture.buyerId}, ${fixture.merchantId}, ${amount}, 'USD', 'PENDING')`;
      await event(tx, 'Order', orderId, 1, 'order.created');
    });
    // payOrder: replay lookup, order, payment + event
    await sql`select * from payments.payments where buyer_id = ${fixture.buyerId} and idempotency_key = ${paymentId}`;
    await sql`select * from payments.orders where id in (${orderId})`;
    await sql.begin(async (tx) => {
      await tx`insert into payments.payments (id, order_id, buyer_id, merchant_id, amount, currency, status, step, capture_method, idempotency_key, request_hash)
        values (${paymentId}, ${orderId}, ${fixture.buyerId}, ${fixture.merchantId}, ${amount}, 'USD', 'PENDING', 'CREATED', 'AUTOMATIC', ${paymentId}, 'h')`;
      await event(tx, 'Payment', paymentId, 1, 'payment.created');
    });
    // risk: buyer (users), rules, blocklist, assessment under the per-buyer lock
    await sql`select id, email, created_at from users.users where id in (${fixture.buyerId})`;
    await sql`select * from risk.rule_sets order by version desc limit 1`;
    await sql`select kind from risk.blocklist where (kind = 'USER' and value = ${fixture.buyerId}) or (kind = 'EMAIL_DOMAIN' and value = 'example.test') limit 1`;
    await sql.begin(async (tx) => {
      await tx`select pg_advisory_xact_lock(hashtext(${`risk:attempts:${fixture.buyerId}`}))`;
      await tx`select * from risk.assessments where payment_id = ${paymentId}`;
      await tx`select count(*)::text from risk.assessments where user_id = ${fixture.buyerId} and created_at > now() - interval '10 minutes'`;
      await tx`insert into risk.assessments (id, user_id, merchant_id, payment_id, amount, currency, rule_set_version, features, decision, score, reasons)
        values (${newId('rsk')}, ${fixture.buyerId}, ${fixture.merchantId}, ${paymentId}, ${amount}, 'USD', 1, ${sql.json({})}, 'APPROVE', 0, ${sql.json([])})`;
    });
    const step = async (changes: Record<string, string | null>) =>
      sql.begin(async (tx) => {
        await tx`select * from payments.payments where id = ${paymentId} for update`;
        await tx`update payments.payments set ${tx(changes)}, updated_at = now() where id = ${paymentId}`;
      });
    await step({ step: 'RISK_ASSESSED', risk_decision: 'APPROVE' });
    // wallets (wallet service) and the hold (ledger)
    await sql`select * from wallet.wallets where user_id = ${fixture.buyerId} and currency = 'USD'`;
    await sql`select * from wallet.wallets where user_id = ${fixture.merchantId} and currency = 'USD'`;
    const holdId = newId('hld');
    await sql.begin(async (tx) => {
      const run = (text: string, params: (string | null)[]) => tx.unsafe(text, params, { prepare: true });
      await run(LEDGER_SQL.insertHold, [holdId, `payment:${paymentId}:authorize`, 'h', fixture.buyerAccount, fixture.merchantAccount, amount, 'USD', null, new Date(Date.now() + 86_400_000).toISOString()]);
      const updates: [string, string[]][] = [
        [fixture.buyerAccount, ['0', '0', amount, '0']],
        [fixture.merchantAccount, ['0', '0', '0', amount]],
      ];
      for (const [account, delta] of updates.sort((a, b) => (a[0] < b[0] ? -1 : 1))) await run(LEDGER_SQL.applyDelta, [account, ...delta]);
    });
    await step({ step: 'HOLD_PLACED', hold_id: holdId, buyer_account_id: fixture.buyerAccount, merchant_account_id: fixture.merchantAccount });
    // capture (ledger)
    const transactionId = newId('ltx');
    const lines = [
      { id: newId('len'), accountId: fixture.buyerAccount, direction: 'DEBIT' as const, amount: 100n, currency: 'USD' },
      { id: newId('len'), accountId: fixture.merchantAccount, direction: 'CREDIT' as const, amount: 100n, currency: 'USD' },
    ];
    await sql.begin(async (tx) => {
      const run = (text: string, params: (string | null)[]) => tx.unsafe(text, params, { prepare: true });
      await run(LEDGER_SQL.holdForUpdate, [holdId]);
      await run(LEDGER_SQL.insertTransaction, [transactionId, `payment:${paymentId}:capture`, requestHash('capture', { holdId, amount: 100n }), 'CAPTURE', holdId, null]);
      await run(LEDGER_SQL.insertTwoEntries, [lines[0]!.id, transactionId, fixture.buyerAccount, 'DEBIT', amount, 'USD', lines[1]!.id, fixture.merchantAccount, 'CREDIT', amount, 'USD']);
      const updates: [string, string[]][] = [
        [fixture.buyerAccount, [amount, '0', `-${amount}`, '0']],
        [fixture.merchantAccount, ['0', amount, '0', `-${amount}`]],
      ];
      for (const [account, delta] of updates.sort((a, b) => (a[0] < b[0] ? -1 : 1))) await run(LEDGER_SQL.applyDelta, [account, ...delta]);
      await run(LEDGER_SQL.chain, [transactionId, chainPayload({ id: transactionId, idempotencyKey: `payment:${paymentId}:capture`, description: null }, lines)]);
      await run(LEDGER_SQL.markHoldCaptured, [holdId, amount, transactionId, `payment:${paymentId}:capture`]);
    });
    // succeeded: payment, order, two events (payments)
    await sql.begin(async (tx) => {
      await tx`select * from payments.payments where id = ${paymentId} for update`;
      await tx`update payments.payments set status = 'SUCCEEDED', step = 'CAPTURED', amount_captured = ${amount}, version = version + 1, updated_at = now() where id = ${paymentId}`;
      await tx`insert into payments.outbox_events (id, aggregate_type, aggregate_id, aggregate_version, type, payload) values (${newId('evt')}, 'Payment', ${paymentId}, 2, 'payment.succeeded', ${tx.json({})})`;
      await tx`select status from payments.orders where id = ${orderId}`;
      await tx`update payments.orders set status = 'PAID', version = version + 1, updated_at = now() where id = ${orderId} and status in ('PENDING')`;
      await tx`insert into payments.outbox_events (id, aggregate_type, aggregate_id, aggregate_version, type, payload) values (${newId('evt')}, 'Order', ${orderId}, 2, 'order.paid', ${tx.json({})})`;
    });
  };
}

async function measure(topology: 'single' | 'processes') {
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  const database = `paygraph_bench_${randomBytes(4).toString('hex')}`;
  await admin.unsafe(`create database ${database}`);
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  const adminEmail = `admin-${randomBytes(3).toString('hex')}@example.test`;
  const platform = await startPlatform(topology, url.toString(), adminEmail);
  const raw = postgres(url.toString(), { max: 20, onnotice: () => {} });
  const rows: string[] = [];
  try {
    const gatewayUrl = platform.gatewayUrl;
    const urls = { register: gatewayUrl, login: gatewayUrl };
    const adminUser = await loginAs(gatewayUrl, adminEmail, ADMIN_PASSWORD);
    const rules = await gql(gatewayUrl, `mutation { updateRiskRules(input: { velocityMaxAttempts: 10000, velocityWindowMinutes: 1 }) { version } }`, {}, adminUser.accessToken);
    if (rules.errors) throw new Error(`could not raise the velocity limit: ${JSON.stringify(rules.errors)}`);
    const maxClients = Math.max(...clientCounts);
    const buyers: TestUser[] = [];
    const merchants: TestUser[] = [];
    for (let client = 0; client < maxClients; client += 1) {
      const buyer = await registerAndLogin(urls);
      await gql(gatewayUrl, `mutation($input: CreditWalletInput!) { creditWallet(input: $input) { id } }`, { input: { amount: { amount: '100000000000', currency: 'USD' }, idempotencyKey: `fund-${client}` } }, buyer.accessToken);
      buyers.push(buyer);
      merchants.push(await registerAndLogin(urls, 'MERCHANT'));
    }
    const viaGateway = async (client: number) => {
      const buyer = buyers[client]!;
      const order = await gql(gatewayUrl, `mutation Order($input: CreateOrderInput!) { createOrder(input: $input) { id } }`, { input: { merchantId: merchants[client]!.id, amount: { amount: '100', currency: 'USD' } } }, buyer.accessToken);
      const paid = await gql(gatewayUrl, `mutation Pay($input: PayOrderInput!) { payOrder(input: $input) { id status } }`, { input: { orderId: order.data!.createOrder.id, idempotencyKey: newId('k') } }, buyer.accessToken);
      if (paid.data?.payOrder?.status !== 'SUCCEEDED') throw new Error(`payment did not succeed: ${JSON.stringify(paid)}`);
    };
    // Fixtures for the raw path: the same users and their ledger accounts (made by one real payment each).
    for (let client = 0; client < maxClients; client += 1) await viaGateway(client);
    const accounts = await raw`select id, owner_id from ledger.accounts where kind = 'USER_WALLET'`;
    const accountOf = (owner: string) => accounts.find((row) => row.owner_id === owner)!.id as string;
    const fixtures = buyers.map((buyer, client) => ({ buyerId: buyer.id, merchantId: merchants[client]!.id, buyerAccount: accountOf(buyer.id), merchantAccount: accountOf(merchants[client]!.id) }));
    const rawPayments = fixtures.map((fixture) => rawPayment(raw, fixture));
    const viaRawSql = (client: number) => rawPayments[client]!();

    for (const clients of clientCounts) {
      await timed(clients, WARMUP_MS, viaRawSql);
      const rawResult = await timed(clients, seconds * 1000, viaRawSql);
      await timed(clients, WARMUP_MS, viaGateway);
      const gatewayResult = await timed(clients, seconds * 1000, viaGateway);
      const ratio = gatewayResult.perSecond / rawResult.perSecond;
      rows.push(`| ${topology} | ${clients} | ${rawResult.perSecond.toFixed(0)} | ${rawResult.p50.toFixed(1)} / ${rawResult.p99.toFixed(1)} | ${gatewayResult.perSecond.toFixed(0)} | ${gatewayResult.p50.toFixed(1)} / ${gatewayResult.p99.toFixed(1)} | ${(ratio * 100).toFixed(0)}% |`);
      console.log(`${topology}, clients ${clients}: raw SQL ${rawResult.perSecond.toFixed(0)}/s, gateway ${gatewayResult.perSecond.toFixed(0)}/s, gateway/raw ${(ratio * 100).toFixed(0)}%`);
    }
    const checks = await gql(gatewayUrl, `{ verifyLedger { ok } reconcilePayments { ok } }`, {}, adminUser.accessToken);
    console.log(`${topology}: ledger verified ${checks.data?.verifyLedger?.ok}, payments reconciled ${checks.data?.reconcilePayments?.ok}`);
  } finally {
    await raw.end();
    await platform.stop();
    await admin.unsafe(`drop database if exists ${database} with (force)`);
    await admin.end();
  }
  return rows;
}

const topologies = (process.env.BENCH_TOPOLOGY ?? 'single,processes').split(',') as ('single' | 'processes')[];
console.log(`payments (createOrder + payOrder, automatic capture) on PostgreSQL, ${seconds} s per point`);
const rows: string[] = [];
for (const topology of topologies) rows.push(...(await measure(topology)));
console.log('\n| topology | clients | raw SQL payments/s | raw p50 / p99 ms | gateway payments/s | gateway p50 / p99 ms | gateway / raw |');
console.log('|---|---|---|---|---|---|---|');
for (const row of rows) console.log(row);
