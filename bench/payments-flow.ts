/**
 * Payment throughput: createOrder + payOrder (automatic capture) through the gateway of a platform
 * started as `npm start` starts it (its own process, on PostgreSQL), at 1, 16 and 64 concurrent
 * clients; beside it the same database work issued directly as raw SQL from this process (every
 * statement the services run for one payment, in the same transactions: the physical limit).
 *
 *   npm run bench:payments          (DATABASE_URL defaults to the local server; BENCH_SECONDS=5)
 *
 * The platform runs with the pool users get (DATABASE_POOL_MAX's default) unless BENCH_POOL_MAX
 * is set; BENCH_PG_STATEMENTS=1 prints PostgreSQL's busiest statements per payment in each phase.
 *
 * Each client is its own buyer paying its own merchant (no hot account row). The risk rules of the
 * benchmark database allow the attempt rate (velocity limit raised). Loopback only; bounded in
 * time; creates and drops its own database.
 */
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { spawnReady, startServiceProcesses } from './platform';
import { timed } from './timed';
import { cpuPerOperation, cpuSnapshot, machineCpu } from './cpu';
import { loadServiceList } from '@paygraph/config';
import { newId } from '@paygraph/db';
import { postText } from '@paygraph/service-client';
import { freePort, gql, loginAs, registerAndLogin, type TestUser } from '@paygraph/testing';
import { chainPayload, requestHash } from '../subgraphs/ledger/src/domain/postings';
import { LEDGER_SQL } from '../subgraphs/ledger/src/store/statements';

const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const clientCounts = (process.env.BENCH_CLIENTS ?? '1,16,64').split(',').map(Number);
const WARMUP_MS = 2_000;
/** A measured request that takes this long fails the run (the gateway answers far sooner). */
const LOAD_REQUEST_TIMEOUT_MS = 30_000;
/**
 * BENCH_PG_STATEMENTS=1: the server's busiest statements per payment in each phase, from
 * pg_stat_statements (the server must preload it and the extension must exist in DATABASE_URL's
 * database; a private cluster, since loading it needs a restart).
 */
const pgStatements = process.env.BENCH_PG_STATEMENTS === '1';
const ADMIN_PASSWORD = 'bench admin password';

/**
 * The load generator's client for the two measured mutations: service-client's `postText()`,
 * undici's `request()` on a keep-alive pool, as autocannon drives `bench:gateway`. Until 2026-12-02
 * it was the tests' `gql()` on global `fetch`, whose per-request machinery cost this process
 * 2.4-3.4 ms of CPU per payment, taken from the two cores the platform and PostgreSQL share.
 */
function loadClient(url: string) {
  return async (query: string, variables: Record<string, unknown>, token: string): Promise<{ data?: Record<string, any> | null; errors?: unknown }> => {
    const response = await postText(url, { 'content-type': 'application/json', authorization: `Bearer ${token}` }, JSON.stringify({ query, variables }), LOAD_REQUEST_TIMEOUT_MS);
    try {
      return JSON.parse(response.text);
    } catch {
      throw new Error(`HTTP ${response.status} with a non-JSON body: ${response.text.slice(0, 200)}`);
    }
  };
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
    // The pool users get (DATABASE_POOL_MAX's default: one pool shared by the services of a
    // process) unless BENCH_POOL_MAX sets one. Until 2026-12-01 this was 20 in `single` and 8 per
    // process in `processes`: PostgreSQL's CPU per payment grows with the connections in use.
    ...(process.env.BENCH_POOL_MAX ? { DATABASE_POOL_MAX: process.env.BENCH_POOL_MAX } : {}),
    SERVICE_SECRET: randomBytes(32).toString('hex'),
    PORT: String(await freePort()),
  };
  const ports: Record<string, number> = {};
  for (const service of services) {
    ports[service.name] = await freePort();
    env[`${service.name.toUpperCase()}_PORT`] = String(ports[service.name]);
  }
  if (topology === 'single') {
    const platform = spawnReady(['start'], env, /Gateway ready at (\S+) /);
    return { gatewayUrl: await platform.url, stop: platform.stop, groups: { 'npm start': platform.pid } as Record<string, number>, ports };
  }
  const { groups, gatewayUrl, stop } = await startServiceProcesses(env, services);
  return { groups, gatewayUrl, stop, ports };
}

/** How long the platform may take to finish the work payments left behind (relay, consumer, deliveries). */
const DRAIN_BOUND_MS = 60_000;

/** A sample's value from a Prometheus text page (the first line of `name` whose labels contain every one given). */
function sampleOf(page: string, name: string, labels: string[]): number | null {
  for (const match of page.matchAll(new RegExp(`^${name}\\{([^}]*)\\} (\\S+)`, 'gm'))) {
    if (labels.every((label) => match[1]!.includes(label))) return Number(match[2]);
  }
  return null;
}

/**
 * Waits until the work the payments made is done: every payments event relayed and applied by the
 * notifications consumer, and no notification delivery due. Counted in the CPU window, so CPU per
 * payment includes what runs after the response (the relay, the consumer, the delivery worker),
 * whether or not it keeps up during the load. Returns how long it took after the load stopped.
 */
async function drained(ports: Record<string, number>): Promise<number> {
  const started = Date.now();
  const page = async (service: string) => (await fetch(`http://127.0.0.1:${ports[service]}/metrics`)).text();
  while (Date.now() - started < DRAIN_BOUND_MS) {
    const [payments, notifications] = await Promise.all([page('payments'), page('notifications')]);
    const head = sampleOf(payments, 'events_log_head_position', ['source="payments"']);
    const unpublished = sampleOf(payments, 'events_outbox_unpublished', ['source="payments"']);
    const applied = sampleOf(notifications, 'events_consumer_position', ['source="payments"']);
    const due = sampleOf(notifications, 'notifications_delivery_queue_depth', ['state="due"']);
    if (head !== null && applied !== null && unpublished === 0 && applied >= head && due === 0) return Date.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`the platform did not finish the payments' work within ${DRAIN_BOUND_MS} ms`);
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
    // An event insert is not awaited: its answer comes with the COMMIT's (as appendEvent's send()).
    const event = (tx: postgres.TransactionSql, aggregateType: string, aggregateId: string, version: number, type: string) =>
      void tx`insert into payments.outbox_events (id, aggregate_type, aggregate_id, aggregate_version, type, payload) values (${newId('evt')}, ${aggregateType}, ${aggregateId}, ${version}, ${type}, ${tx.json({ id: aggregateId })})`.execute();
    // The services' warm path: the merchant's role, the buyer's sign-up date and both wallets'
    // account ids are cached, so no users or wallet statement per payment.
    // createOrder: order + event (payments)
    await sql.begin(async (tx) => {
      await tx`insert into payments.orders (id, buyer_id, merchant_id, amount, currency, status) values (${orderId}, ${fixture.buyerId}, ${fixture.merchantId}, ${amount}, 'USD', 'PENDING') returning *`;
      event(tx, 'Order', orderId, 1, 'order.created');
    });
    // payOrder: the order under its lock and the payment copied from it, sent together, then the event (the key is claimed by the insert)
    await sql.begin(async (tx) => {
      await Promise.all([
        tx`select buyer_id, merchant_id, amount::text as amount, currency, status from payments.orders where id = ${orderId} for update`,
        tx`insert into payments.payments (id, order_id, buyer_id, merchant_id, amount, currency, status, step, capture_method, idempotency_key, request_hash)
          select ${paymentId}, o.id, o.buyer_id, o.merchant_id, o.amount, o.currency, 'PENDING', 'CREATED', 'AUTOMATIC', ${paymentId}, 'h' from payments.orders as o
          where o.id = ${orderId} and o.buyer_id = ${fixture.buyerId} and o.status = 'PENDING' returning *`,
      ]);
      event(tx, 'Payment', paymentId, 1, 'payment.created');
    });
    // risk: rules and blocklist in one read, then the assessment under the per-buyer lock (the
    // lock sent with the read, the insert with the COMMIT)
    await sql`select (select row_to_json(current) from (select * from risk.rule_sets order by version desc limit 1) as current) as rules,
      exists (select 1 from risk.blocklist where (kind = 'USER' and value = ${fixture.buyerId}) or (kind = 'EMAIL_DOMAIN' and value = 'example.test')) as blocklisted`;
    await sql.begin(async (tx) => {
      void tx`select pg_advisory_xact_lock(hashtext(${`risk:attempts:${fixture.buyerId}`}))`.execute();
      await tx`select (select count(*) from risk.assessments where user_id = ${fixture.buyerId} and created_at > now() - interval '1 minute')::text as attempts, existing.*
        from (select 1) as one left join risk.assessments as existing on existing.payment_id = ${paymentId}`;
      void tx`insert into risk.assessments (id, user_id, merchant_id, payment_id, amount, currency, rule_set_version, features, decision, score, reasons)
        values (${newId('rsk')}, ${fixture.buyerId}, ${fixture.merchantId}, ${paymentId}, ${amount}, 'USD', 1, ${sql.json({})}, 'APPROVE', 0, ${sql.json([])})`.execute();
    });
    // the step recorded: one statement, no transaction
    await sql`with before as (select id, status from payments.payments where id = ${paymentId} and status = 'PENDING' for update)
      update payments.payments as payment set step = 'RISK_ASSESSED', risk_decision = 'APPROVE', updated_at = now() from before where payment.id = before.id returning payment.*`;
    // the hold placed and captured in one ledger transaction (an approved automatic capture: the
    // ledger's authorize with captureIdempotencyKey)
    const holdId = newId('hld');
    const transactionId = newId('ltx');
    const lines = [
      { id: newId('len'), accountId: fixture.buyerAccount, direction: 'DEBIT' as const, amount: 100n, currency: 'USD' },
      { id: newId('len'), accountId: fixture.merchantAccount, direction: 'CREDIT' as const, amount: 100n, currency: 'USD' },
    ];
    await sql.begin(async (tx) => {
      const run = (text: string, params: (string | null)[]) => tx.unsafe(text, params, { prepare: true });
      await run(LEDGER_SQL.insertHold, [holdId, `payment:${paymentId}:authorize`, 'h', fixture.buyerAccount, fixture.merchantAccount, amount, 'USD', null, new Date(Date.now() + 86_400_000).toISOString()]);
      await run(LEDGER_SQL.insertTransaction, [transactionId, `payment:${paymentId}:capture`, requestHash('capture', { holdId, amount: 100n }), 'CAPTURE', holdId, null]);
      const entries = run(LEDGER_SQL.insertTwoEntries, [lines[0]!.id, transactionId, fixture.buyerAccount, 'DEBIT', amount, 'USD', lines[1]!.id, fixture.merchantAccount, 'CREDIT', amount, 'USD']);
      const updates: [string, string[]][] = [
        [fixture.buyerAccount, [amount, '0', '0', '0']],
        [fixture.merchantAccount, ['0', amount, '0', '0']],
      ];
      // entries, totals, chain link and the hold marked captured sent together (as the ledger does)
      await Promise.all([
        entries,
        ...updates.sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([account, delta]) => run(LEDGER_SQL.applyDelta, [account, ...delta])),
        run(LEDGER_SQL.chain, [transactionId, chainPayload({ id: transactionId, idempotencyKey: `payment:${paymentId}:capture`, description: null }, lines)]),
        run(LEDGER_SQL.markHoldCaptured, [holdId, amount, transactionId, `payment:${paymentId}:capture`]),
      ]);
    });
    // succeeded: payment and order, each one statement under its lock, sent together, then their events
    await sql.begin(async (tx) => {
      await Promise.all([
        tx`with before as (select id, status from payments.payments where id = ${paymentId} and status = 'PENDING' for update)
          update payments.payments as payment set status = 'SUCCEEDED', step = 'CAPTURED', amount_captured = ${amount}, hold_id = ${holdId}, buyer_account_id = ${fixture.buyerAccount}, merchant_account_id = ${fixture.merchantAccount}, version = payment.version + 1, updated_at = now()
          from before where payment.id = before.id returning payment.*, before.status as previous_status`,
        tx`with before as (select id, status from payments.orders where id = ${orderId} for update)
          update payments.orders as moved set status = 'PAID', version = moved.version + 1, updated_at = now() from before where moved.id = before.id and before.status = 'PENDING'
          returning moved.*, before.status as previous_status`,
      ]);
      event(tx, 'Payment', paymentId, 2, 'payment.succeeded');
      event(tx, 'Order', orderId, 2, 'order.paid');
    });
  };
}

/**
 * CPU per payment over a window: each platform process group, every PostgreSQL server process, this
 * process (the load generator, or the raw-SQL client in the raw phase), and the machine's busy cores.
 */
function cpuWindow(groups: Record<string, number>) {
  const before = cpuSnapshot(groups);
  const benchBefore = process.cpuUsage();
  const machineBefore = machineCpu();
  const startedAt = performance.now();
  return {
    close(payments: number) {
      const elapsedMs = performance.now() - startedAt;
      const machineAfter = machineCpu();
      const bench = process.cpuUsage(benchBefore);
      const perProcess = cpuPerOperation(before, cpuSnapshot(groups), payments);
      perProcess['bench process'] = payments > 0 ? (bench.user + bench.system) / 1000 / payments : 0;
      return { perProcess, busyCores: (machineAfter.busyMs - machineBefore.busyMs) / elapsedMs, stealCores: (machineAfter.stealMs - machineBefore.stealMs) / elapsedMs };
    },
  };
}

function cpuRow(topology: string, clients: number, phase: string, cpu: ReturnType<ReturnType<typeof cpuWindow>['close']>) {
  const total = Object.values(cpu.perProcess).reduce((sum, value) => sum + value, 0);
  const byProcess = Object.entries(cpu.perProcess).map(([name, ms]) => `${name} ${ms.toFixed(2)}`).join(', ');
  return `| ${topology} | ${clients} | ${phase} | ${byProcess} | ${total.toFixed(1)} | ${cpu.busyCores.toFixed(2)} (${cpu.stealCores.toFixed(2)}) |`;
}

/** pg_stat_statements since its last reset, per payment: the busiest statements by execution time, and the totals. */
async function printStatements(admin: postgres.Sql, database: string, phase: string, payments: number) {
  const rows = await admin`select calls::float8 as calls, total_exec_time::float8 as ms, rows::float8 as rows, regexp_replace(query, '\\s+', ' ', 'g') as query
    from pg_stat_statements where dbid = (select oid from pg_database where datname = ${database}) order by total_exec_time desc`;
  const per = (value: number) => value / Math.max(payments, 1);
  const totalCalls = rows.reduce((sum, row) => sum + Number(row.calls), 0);
  const totalMs = rows.reduce((sum, row) => sum + Number(row.ms), 0);
  console.log(`\n${phase}: ${per(totalCalls).toFixed(1)} statements and ${per(totalMs).toFixed(3)} ms of execution per payment (${payments} payments); the busiest:`);
  console.log('| calls per payment | exec ms per payment | rows per call | statement |');
  console.log('|---|---|---|---|');
  for (const row of rows.slice(0, 25)) {
    console.log(`| ${per(Number(row.calls)).toFixed(2)} | ${per(Number(row.ms)).toFixed(3)} | ${(Number(row.rows) / Math.max(Number(row.calls), 1)).toFixed(1)} | ${String(row.query).slice(0, 160).replaceAll('|', '\\|')} |`);
  }
}

async function measure(topology: 'single' | 'processes') {
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  const database = `paygraph_bench_${randomBytes(4).toString('hex')}`;
  await admin.unsafe(`create database ${database}`);
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  const adminEmail = `admin-${randomBytes(3).toString('hex')}@example.test`;
  const raw = postgres(url.toString(), { max: 20, onnotice: () => {} });
  const rows: string[] = [];
  // Started inside the try: a platform that fails to start still has its database dropped.
  let platform: Awaited<ReturnType<typeof startPlatform>> | undefined;
  try {
    platform = await startPlatform(topology, url.toString(), adminEmail);
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
    const post = loadClient(gatewayUrl);
    const viaGateway = async (client: number) => {
      const buyer = buyers[client]!;
      const order = await post(`mutation Order($input: CreateOrderInput!) { createOrder(input: $input) { id } }`, { input: { merchantId: merchants[client]!.id, amount: { amount: '100', currency: 'USD' } } }, buyer.accessToken);
      const orderId = order.data?.createOrder?.id;
      if (typeof orderId !== 'string') throw new Error(`order was not created: ${JSON.stringify(order)}`);
      const paid = await post(`mutation Pay($input: PayOrderInput!) { payOrder(input: $input) { id status } }`, { input: { orderId, idempotencyKey: newId('k') } }, buyer.accessToken);
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
      if (pgStatements) {
        await drained(platform.ports);
        await admin`select pg_stat_statements_reset()`;
        console.log(`${topology}, ${clients} clients: raw SQL window opens`);
      }
      const rawWindow = cpuWindow(platform.groups);
      const rawResult = await timed(clients, seconds * 1000, viaRawSql);
      const rawCpu = rawWindow.close(rawResult.completed);
      if (pgStatements) await printStatements(admin, database, `${topology}, ${clients} clients, raw SQL phase`, rawResult.completed);
      await timed(clients, WARMUP_MS, viaGateway);
      // The raw phase's events and the warm-up's work are done before the CPU window opens.
      await drained(platform.ports);
      if (pgStatements) {
        await admin`select pg_stat_statements_reset()`;
        console.log(`${topology}, ${clients} clients: gateway window opens`);
      }
      const gatewayWindow = cpuWindow(platform.groups);
      const gatewayResult = await timed(clients, seconds * 1000, viaGateway);
      const drainMs = await drained(platform.ports);
      const cpu = gatewayWindow.close(gatewayResult.completed);
      if (pgStatements) await printStatements(admin, database, `${topology}, ${clients} clients, gateway phase (drain included)`, gatewayResult.completed);
      console.log(`${topology}, clients ${clients}: the payments' remaining work (relay, notifications consumer, deliveries) done ${drainMs} ms after the load stopped (in the CPU window)`);
      cpuRows.push(cpuRow(topology, clients, 'gateway', cpu));
      cpuRows.push(cpuRow(topology, clients, 'raw SQL', rawCpu));
      const ratio = gatewayResult.perSecond / rawResult.perSecond;
      rows.push(`| ${topology} | ${clients} | ${rawResult.perSecond.toFixed(0)} | ${rawResult.p50.toFixed(1)} / ${rawResult.p99.toFixed(1)} | ${gatewayResult.perSecond.toFixed(0)} | ${gatewayResult.p50.toFixed(1)} / ${gatewayResult.p99.toFixed(1)} | ${(ratio * 100).toFixed(0)}% |`);
      console.log(`${topology}, clients ${clients}: raw SQL ${rawResult.perSecond.toFixed(0)}/s, gateway ${gatewayResult.perSecond.toFixed(0)}/s, gateway/raw ${(ratio * 100).toFixed(0)}%`);
    }
    const checks = await gql(gatewayUrl, `{ verifyLedger { ok } reconcilePayments { ok } }`, {}, adminUser.accessToken);
    console.log(`${topology}: ledger verified ${checks.data?.verifyLedger?.ok}, payments reconciled ${checks.data?.reconcilePayments?.ok}`);
  } finally {
    await raw.end();
    await platform?.stop();
    await admin.unsafe(`drop database if exists ${database} with (force)`);
    await admin.end();
  }
  return rows;
}

const topologies = (process.env.BENCH_TOPOLOGY ?? 'single,processes').split(',') as ('single' | 'processes')[];
console.log(
  `payments (createOrder + payOrder, automatic capture) on PostgreSQL, ${seconds} s per point; platform pool: ` +
    `${process.env.BENCH_POOL_MAX ? `DATABASE_POOL_MAX=${process.env.BENCH_POOL_MAX}` : 'the default DATABASE_POOL_MAX'} per process; raw side: 20 connections`,
);
const rows: string[] = [];
/** CPU ms per payment in each process group (and the PostgreSQL server's processes) during the gateway phase. */
const cpuRows: string[] = [];
for (const topology of topologies) rows.push(...(await measure(topology)));
console.log('\n| topology | clients | raw SQL payments/s | raw p50 / p99 ms | gateway payments/s | gateway p50 / p99 ms | gateway / raw |');
console.log('|---|---|---|---|---|---|---|');
for (const row of rows) console.log(row);
console.log(
  '\nCPU milliseconds per payment in each phase (per process group; postgresql = every PostgreSQL server process on the machine; bench process = the load generator,' +
    ' or in the raw-SQL phase the raw client; in the raw-SQL phase the platform relays and consumes the raw side\'s events), and the machine\'s busy (stolen) cores:',
);
console.log('| topology | clients | phase | CPU ms per payment, by process | total | machine busy (steal), cores |');
console.log('|---|---|---|---|---|---|');
for (const row of cpuRows) console.log(row);
