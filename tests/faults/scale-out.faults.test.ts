// Proves issue 16's scale-out shape holds money and events through the loss of one instance: every
// service runs as its own process from its workspace entry, two payments processes share a private
// database, two gateways (each pointed at both payments instances) carry concurrent payments and
// live subscribers, events travel over NATS JetStream on a stream of this run; one payments process
// is SIGKILLed mid-load and restarted, then money, ledger, reconciliation, acknowledged writes,
// every subscriber against a replay and the notifications are checked. A third gateway, for
// subscribers only, knows payments instance A alone: while A is down it cannot resolve events, so
// its subscribers must be ended with SERVICE_UNAVAILABLE (never sent a silent gap), resume with
// `after` and end up equal to the replay. Figures: tests/faults/README.md.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadServiceList } from '@paygraph/config';
import { loginAs, registerAndLogin, type TestUser } from '@paygraph/testing';
import { TEST_SERVICE_SECRET } from '../support/constants';
import { freePort } from '../support/private-postgres';
import { OUTPUT_TAIL_CHARS, PROCESS_START_TIMEOUT_MS, serviceProcess, type ServiceProcess } from '../support/service-process';
import { request, sleep, type Answer } from './client';
import { readLedgerFacts } from './ledger-facts';
import { replayFromStart, startResumingSubscriber, unexpectedEndings, type ResumingSubscriber, type StatusEvent } from './subscribers';

const run = promisify(execFile);

/** Clients paying concurrently through each gateway. */
const CLIENTS_PER_GATEWAY = 4;
/** The load runs this long; payments instance A is killed at KILL_AT_MS and started again RESTART_AFTER_MS later. */
const LOAD_MS = 30_000;
const KILL_AT_MS = 9_000;
const RESTART_AFTER_MS = 6_000;
/**
 * The kill waits, at most this much longer, until gateway-3's subscribers have an event: then their
 * resumption carries an `after` past 0 (on a slow machine the first payments may come after 9 s).
 */
const KILL_WAIT_MAX_MS = 15_000;
/** Attempts of one keyed operation during the load, then left to the resolution after it. */
const RETRIES_MAX = 3;
const RETRY_FIRST_MS = 300;
/** The velocity rule reviews a buyer's 11th payment in 10 minutes: renew buyers before. */
const PAYMENTS_PER_BUYER_MAX = 8;
const BUYER_FUNDING_MINOR = 500_000n;
/** Per payment, in minor units: far below the new-account review threshold (1,000.00). */
const PAYMENT_MINOR_MIN = 100;
const PAYMENT_MINOR_MAX = 5_000;
/** Bounds on the phases after the load. */
const RESOLVE_TIMEOUT_MS = 40_000;
const SETTLE_TIMEOUT_MS = 45_000;
const CATCH_UP_TIMEOUT_MS = 25_000;
const SUITE_TIMEOUT_MS = 240_000;

/** Which users an event's status notifies (subgraphs/notifications/src/domain/messages.ts): [buyer, merchant]. */
const NOTIFIED: Record<string, [boolean, boolean]> = {
  SUCCEEDED: [true, true],
  FAILED: [true, false],
  CANCELED: [true, false],
  REQUIRES_REVIEW: [true, true],
  AUTHORIZED: [false, true],
};

const CREDIT = `mutation($input: CreditWalletInput!) { creditWallet(input: $input) { id balance { amount } } }`;
const CREATE_ORDER = `mutation($input: CreateOrderInput!) { createOrder(input: $input) { id status } }`;
const PAY = `mutation($input: PayOrderInput!) { payOrder(input: $input) { id status amountCaptured { amount } } }`;
const PAYMENT = `query($id: ID!) { payment(id: $id) { id status amountCaptured { amount } } }`;
const WALLETS = `{ me { wallets { currency balance { amount } } } }`;
const CHECKS_QUERY = `{ verifyLedger { ok checkedTransactions mismatches } reconcilePayments { ok checkedPayments inFlightPayments mismatches } }`;
const NOTIFICATIONS = `query($after: String) { notifications(first: 100, after: $after) { edges { node { channel type body } } pageInfo { hasNextPage endCursor } } }`;

const runId = randomBytes(4).toString('hex');
const databaseName = `paygraph_scaleout_${runId}`;
const databaseUrl = `postgres://postgres@127.0.0.1:5432/${databaseName}`;
const natsUrl = process.env.TEST_NATS_URL ?? 'nats://127.0.0.1:4222';
const natsStream = `SCALEOUT_${runId}`;
const adminEmail = `admin-${runId}@example.test`;
const adminPassword = `admin-password-${runId}`;
const dataDir = mkdtempSync(path.join(tmpdir(), 'paygraph-scaleout-'));
const log = (line: string) => console.log(`[scale-out] ${line}`);

// ---------------------------------------------------------------------------------------------
// Processes (each from its workspace entry: tests/support/service-process.ts)

interface Topology {
  subgraphs: ServiceProcess[];
  paymentsA: ServiceProcess;
  paymentsB: ServiceProcess;
  gateways: ServiceProcess[];
  /** Subscribers only, pinned to payments instance A (PAYMENTS_URL = A alone): no failover. */
  pinnedGateway: ServiceProcess;
  all(): ServiceProcess[];
}

async function startTopology(): Promise<Topology> {
  const names = loadServiceList({}).map((entry) => entry.name);
  const ports = Object.fromEntries(await Promise.all(names.map(async (name) => [name, await freePort()] as const)));
  const paymentsBPort = await freePort();
  const url = (port: number) => `http://127.0.0.1:${port}/graphql`;
  const urls: Record<string, string> = Object.fromEntries(names.map((name) => [`${name.toUpperCase()}_URL`, url(ports[name]!)]));
  // Every caller knows both payments instances and balances over them.
  urls.PAYMENTS_URL = `${url(ports.payments!)},${url(paymentsBPort)}`;
  const common: Record<string, string> = {
    ...urls,
    HOST: '127.0.0.1',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
    // A load test from one address: per-client rate limits and login throttles would measure themselves.
    RATE_LIMITS: 'off',
    DATA_DIR: dataDir,
    DATABASE_URL: databaseUrl,
    EVENT_TRANSPORT: 'nats',
    NATS_URL: natsUrl,
    NATS_STREAM: natsStream,
    NATS_SUBJECT_PREFIX: `scaleout.${runId}`,
    SERVICE_SECRET: TEST_SERVICE_SECRET,
    PAYMENT_RECOVERY_INTERVAL_MS: '1000',
    SUPERGRAPH_SOURCE: 'static',
  };
  const subgraph = (name: string, label: string, port: number, extra: Record<string, string> = {}) =>
    serviceProcess(label, `subgraphs/${name}/src/index.ts`, port, { ...common, [`${name.toUpperCase()}_PORT`]: String(port), ...extra }, new RegExp(`${name} subgraph ready at `));
  const subgraphs = names.map((name) =>
    subgraph(name, name === 'payments' ? 'payments-A' : name, ports[name]!, name === 'users' ? { ADMIN_EMAIL: adminEmail, ADMIN_PASSWORD: adminPassword } : {}),
  );
  const paymentsA = subgraphs.find((each) => each.label === 'payments-A')!;
  const paymentsB = subgraph('payments', 'payments-B', paymentsBPort);
  const gateways: ServiceProcess[] = [];
  for (const label of ['gateway-1', 'gateway-2']) {
    const port = await freePort();
    gateways.push(serviceProcess(label, 'gateway/src/index.ts', port, { ...common, PORT: String(port) }, /Gateway ready at/));
  }
  const pinnedPort = await freePort();
  const pinnedGateway = serviceProcess('gateway-3', 'gateway/src/index.ts', pinnedPort, { ...common, PAYMENTS_URL: url(ports.payments!), PORT: String(pinnedPort) }, /Gateway ready at/);
  const topology: Topology = { subgraphs, paymentsA, paymentsB, gateways, pinnedGateway, all: () => [...subgraphs, paymentsB, ...gateways, pinnedGateway] };
  return topology;
}

// ---------------------------------------------------------------------------------------------
// Workload

interface PayRecord {
  key: string;
  orderId: string;
  buyerId: string;
  gateway: number;
  outcome: 'acked' | 'rejected' | 'ambiguous';
  paymentId: string | null;
  ackedStatus: string | null;
}
interface CreditRecord {
  key: string;
  buyerId: string;
  amount: bigint;
  gateway: number;
  outcome: 'acked' | 'rejected' | 'ambiguous';
}
interface Failure {
  gateway: number;
  /** When the request was sent and when its failure came back (epoch ms). */
  sentAt: number;
  at: number;
  code: string;
  operation: string;
  message: string;
}

interface World {
  gatewayUrls: string[];
  merchant: TestUser;
  buyers: Map<string, TestUser>;
  pays: PayRecord[];
  credits: CreditRecord[];
  failures: Failure[];
  requests: number[];
}

const money = (amount: bigint) => ({ amount: amount.toString(), currency: 'USD' });
const newKey = (label: string) => `scaleout-${label}-${randomBytes(8).toString('hex')}`;

async function call(world: World, gateway: number, operation: string, query: string, variables: Record<string, unknown>, token: string): Promise<Answer> {
  const answer = await request(world.gatewayUrls[gateway]!, query, variables, token);
  world.requests[gateway] = (world.requests[gateway] ?? 0) + 1;
  if (answer.kind !== 'ok') world.failures.push({ gateway, sentAt: Date.now() - answer.ms, at: Date.now(), code: answer.code, operation, message: answer.message.slice(0, 160) });
  return answer;
}

/** Repeats an operation while its answer is ambiguous, with the same parameters and key. */
async function withRetries(attempt: () => Promise<Answer>, stopped: () => boolean): Promise<Answer> {
  let answer = await attempt();
  for (let retry = 1; answer.kind === 'ambiguous' && retry <= RETRIES_MAX && !stopped(); retry += 1) {
    await sleep(RETRY_FIRST_MS * 2 ** (retry - 1));
    answer = await attempt();
  }
  return answer;
}

async function runClient(world: World, gateway: number, stopped: () => boolean) {
  const gatewayUrl = world.gatewayUrls[gateway]!;
  let buyer: TestUser | null = null;
  let paymentsOfBuyer = 0;
  // Bounded by the load's deadline: every iteration makes at least one request.
  while (!stopped()) {
    if (!buyer || paymentsOfBuyer >= PAYMENTS_PER_BUYER_MAX) {
      buyer = await registerAndLogin({ register: gatewayUrl, login: gatewayUrl }, 'BUYER').catch(() => null);
      paymentsOfBuyer = 0;
      if (!buyer) {
        world.failures.push({ gateway, sentAt: Date.now(), at: Date.now(), code: 'REGISTER_FAILED', operation: 'register', message: '' });
        await sleep(500);
        continue;
      }
      world.buyers.set(buyer.id, buyer);
      const credit: CreditRecord = { key: newKey('credit'), buyerId: buyer.id, amount: BUYER_FUNDING_MINOR, gateway, outcome: 'ambiguous' };
      world.credits.push(credit);
      const payer = buyer;
      const answer = await withRetries(() => call(world, gateway, 'creditWallet', CREDIT, { input: { amount: money(credit.amount), idempotencyKey: credit.key } }, payer.accessToken), stopped);
      credit.outcome = answer.kind === 'ok' ? 'acked' : answer.kind;
      continue;
    }
    paymentsOfBuyer += 1;
    const payer = buyer;
    const amount = BigInt(PAYMENT_MINOR_MIN + Math.floor(Math.random() * (PAYMENT_MINOR_MAX - PAYMENT_MINOR_MIN + 1)));
    const created = await call(world, gateway, 'createOrder', CREATE_ORDER, { input: { merchantId: world.merchant.id, amount: money(amount) } }, payer.accessToken);
    if (created.kind !== 'ok') continue;
    const pay: PayRecord = { key: newKey('pay'), orderId: created.data.createOrder.id, buyerId: payer.id, gateway, outcome: 'ambiguous', paymentId: null, ackedStatus: null };
    world.pays.push(pay);
    const answer = await withRetries(() => call(world, gateway, 'payOrder', PAY, { input: { orderId: pay.orderId, idempotencyKey: pay.key } }, payer.accessToken), stopped);
    pay.outcome = answer.kind === 'ok' ? 'acked' : answer.kind;
    if (answer.kind === 'ok') {
      pay.paymentId = answer.data.payOrder.id;
      pay.ackedStatus = answer.data.payOrder.status;
    }
  }
}

/** After the load: every ambiguous keyed write is sent again with its key until it has a definite answer. */
async function resolveAmbiguous(world: World): Promise<number> {
  const deadline = Date.now() + RESOLVE_TIMEOUT_MS;
  const pending = () => [...world.credits.filter((each) => each.outcome === 'ambiguous'), ...world.pays.filter((each) => each.outcome === 'ambiguous')];
  while (pending().length > 0 && Date.now() < deadline) {
    for (const credit of world.credits.filter((each) => each.outcome === 'ambiguous')) {
      const answer = await request(world.gatewayUrls[0]!, CREDIT, { input: { amount: money(credit.amount), idempotencyKey: credit.key } }, world.buyers.get(credit.buyerId)!.accessToken);
      credit.outcome = answer.kind === 'ok' ? 'acked' : answer.kind;
    }
    for (const pay of world.pays.filter((each) => each.outcome === 'ambiguous')) {
      const answer = await request(world.gatewayUrls[0]!, PAY, { input: { orderId: pay.orderId, idempotencyKey: pay.key } }, world.buyers.get(pay.buyerId)!.accessToken);
      pay.outcome = answer.kind === 'ok' ? 'acked' : answer.kind;
      if (answer.kind === 'ok') {
        pay.paymentId = answer.data.payOrder.id;
        pay.ackedStatus = answer.data.payOrder.status;
      }
    }
    if (pending().length > 0) await sleep(1_000);
  }
  return pending().length;
}

async function notificationsOf(gatewayUrl: string, user: TestUser): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  let after: string | null = null;
  for (let page = 0; page < 100; page += 1) {
    const answer = await request(gatewayUrl, NOTIFICATIONS, { after }, user.accessToken, 30_000);
    if (answer.kind !== 'ok') throw new Error(`notifications of ${user.id}: ${answer.code} ${answer.message}`);
    for (const edge of answer.data.notifications.edges) {
      const node = edge.node as { channel: string; type: string; body: string };
      const paymentId = /Payment (\S+)\.$/.exec(node.body)?.[1];
      if (node.channel !== 'IN_APP' || !paymentId) continue;
      const key = `${node.type}|${paymentId}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    if (!answer.data.notifications.pageInfo.hasNextPage) break;
    after = answer.data.notifications.pageInfo.endCursor;
  }
  return counts;
}

const eventKey = (event: StatusEvent) => `${event.sequence}:${event.paymentId}:${event.status}`;

// ---------------------------------------------------------------------------------------------

describe('scale-out: two payments instances, two gateways, NATS; one payments instance SIGKILLed and restarted', { concurrent: false }, () => { // vitest 5 dropped describe.sequential
  let topology: Topology | null = null;
  let world: World;
  let admin: TestUser;
  /** `gateway` indexes subscriberGatewayUrls: 0 and 1 the load's gateways, 2 the one pinned to payments A. */
  const subscribers: { subscriber: ResumingSubscriber; gateway: number }[] = [];
  let subscriberGatewayUrls: string[] = [];
  const PINNED = 2;
  const timeline = { loadStartedAt: 0, killedAt: 0, restartedAt: 0, backAt: 0, loadEndedAt: 0 };

  beforeAll(async () => {
    await run('createdb', ['-h', '127.0.0.1', '-U', 'postgres', databaseName]);
    topology = await startTopology();
    const startedAt = Date.now();
    // In docker-compose's order (depends_on): users seeds its admin through auth, wallet needs the
    // ledger, notifications needs users; then the second payments instance and the gateways.
    const byLabel = (...labels: string[]) => topology!.subgraphs.filter((each) => labels.includes(each.label));
    for (const wave of [byLabel('auth', 'ledger', 'risk', 'payments-A'), byLabel('users', 'wallet'), byLabel('notifications')]) {
      await Promise.all(wave.map((each) => each.start()));
    }
    await Promise.all([topology.paymentsB.start(), ...topology.gateways.map((each) => each.start()), topology.pinnedGateway.start()]);
    log(`topology ready in ${Date.now() - startedAt} ms: ${topology.all().map((each) => `${each.label} :${each.port}`).join(', ')}`);

    const gatewayUrls = topology.gateways.map((each) => each.url);
    let merchant: TestUser;
    try {
      admin = await loginAs(gatewayUrls[0]!, adminEmail, adminPassword);
      merchant = await registerAndLogin({ register: gatewayUrls[0]!, login: gatewayUrls[0]! }, 'MERCHANT');
    } catch (error) {
      for (const each of topology.all()) log(`${each.label} output:\n${each.output().slice(-OUTPUT_TAIL_CHARS)}`);
      throw error;
    }
    world = { gatewayUrls, merchant, buyers: new Map(), pays: [], credits: [], failures: [], requests: [0, 0] };
    subscriberGatewayUrls = [...gatewayUrls, topology.pinnedGateway.url];
    for (const [gateway, url] of subscriberGatewayUrls.entries()) {
      subscribers.push({ subscriber: startResumingSubscriber(url, admin, `admin@gateway-${gateway + 1}`), gateway });
      subscribers.push({ subscriber: startResumingSubscriber(url, merchant, `merchant@gateway-${gateway + 1}`), gateway });
    }
  }, PROCESS_START_TIMEOUT_MS * 2);

  afterAll(async () => {
    for (const { subscriber } of subscribers) await subscriber.stop().catch(() => undefined);
    if (topology) await Promise.all(topology.all().map((each) => each.stop().catch(() => undefined)));
    await run('dropdb', ['-h', '127.0.0.1', '-U', 'postgres', '--force', '--if-exists', databaseName]).catch((error: Error) => log(`dropdb: ${error.message}`));
    const nc = await connect({ servers: natsUrl }).catch(() => null);
    if (nc) {
      await (await jetstreamManager(nc)).streams.delete(natsStream).catch(() => undefined);
      await nc.close();
    }
    rmSync(dataDir, { recursive: true, force: true });
  }, 60_000);

  it(
    'keeps money, writes, subscribers and notifications whole, and fails over within the kill',
    async () => {
      const topologyNow = topology!;
      // The load, with the fault on its own timer.
      timeline.loadStartedAt = Date.now();
      const deadline = timeline.loadStartedAt + LOAD_MS;
      const stopped = () => Date.now() > deadline;
      const clients = world.gatewayUrls.flatMap((_, gateway) => Array.from({ length: CLIENTS_PER_GATEWAY }, () => runClient(world, gateway, stopped)));
      const fault = (async () => {
        await sleep(KILL_AT_MS);
        const pinnedHaveEvents = () => subscribers.every(({ subscriber, gateway }) => gateway !== PINNED || subscriber.events().length > 0);
        const waitDeadline = Date.now() + KILL_WAIT_MAX_MS;
        while (!pinnedHaveEvents() && Date.now() < waitDeadline) await sleep(100);
        timeline.killedAt = Date.now();
        await topologyNow.paymentsA.kill();
        log(
          `payments-A SIGKILLed at +${timeline.killedAt - timeline.loadStartedAt} ms; events received by then: ` +
            subscribers.map(({ subscriber }) => `${subscriber.label} ${subscriber.events().length}`).join(', '),
        );
        await sleep(RESTART_AFTER_MS);
        timeline.restartedAt = Date.now();
        await topologyNow.paymentsA.start();
        timeline.backAt = Date.now();
        log(`payments-A restarted, ready after ${timeline.backAt - timeline.restartedAt} ms`);
      })();
      await Promise.all([...clients, fault]);
      timeline.loadEndedAt = Date.now();

      const unresolved = await resolveAmbiguous(world);

      // Settle: recovery finishes what was interrupted; reconciliation has nothing in flight.
      let verification: Record<string, any> | null = null;
      const settleDeadline = Date.now() + SETTLE_TIMEOUT_MS;
      while (Date.now() < settleDeadline) {
        const answer = await request(world.gatewayUrls[1]!, CHECKS_QUERY, {}, admin.accessToken, 60_000);
        verification = answer.kind === 'ok' ? answer.data : { error: answer };
        if (answer.kind === 'ok' && answer.data.reconcilePayments.inFlightPayments === 0) break;
        await sleep(1_000);
      }
      const settledAt = Date.now();

      // Payments as they are now, for every payOrder key that named one.
      const payments = new Map<string, { status: string; captured: bigint; buyerId: string }>();
      for (const pay of world.pays) {
        if (!pay.paymentId) continue;
        const answer = await request(world.gatewayUrls[0]!, PAYMENT, { id: pay.paymentId }, admin.accessToken, 30_000);
        if (answer.kind === 'ok' && answer.data.payment) {
          payments.set(pay.paymentId, { status: answer.data.payment.status, captured: BigInt(answer.data.payment.amountCaptured.amount), buyerId: pay.buyerId });
        }
      }

      // The figures.
      const loadSeconds = (timeline.loadEndedAt - timeline.loadStartedAt) / 1_000;
      // A failure belongs to the kill when it came back after it (requests in flight on the killed
      // instance were sent before) and before the restarted instance had 5 s to rejoin.
      const during = (failure: Failure) => failure.at >= timeline.killedAt && failure.at <= timeline.backAt + 5_000;
      const failuresDuring = world.failures.filter(during);
      const lastFailure = failuresDuring.length === 0 ? null : failuresDuring.reduce((latest, failure) => Math.max(latest, failure.at), 0);
      const allFailures = new Map<string, number>();
      for (const failure of world.failures) allFailures.set(`${failure.operation} ${failure.code}`, (allFailures.get(`${failure.operation} ${failure.code}`) ?? 0) + 1);
      const figures = world.gatewayUrls.map((_, gateway) => {
        const acked = world.pays.filter((pay) => pay.gateway === gateway && pay.outcome === 'acked' && pay.ackedStatus === 'SUCCEEDED').length;
        const failed = failuresDuring.filter((failure) => failure.gateway === gateway);
        const byCode = new Map<string, number>();
        for (const failure of failed) byCode.set(`${failure.operation} ${failure.code}`, (byCode.get(`${failure.operation} ${failure.code}`) ?? 0) + 1);
        return {
          gateway: `gateway-${gateway + 1}`,
          paymentsPerSecond: Number((acked / loadSeconds).toFixed(1)),
          succeededPayments: acked,
          requests: world.requests[gateway],
          failedDuringKill: failed.length,
          failedByCode: Object.fromEntries(byCode),
        };
      });
      const statusCounts = new Map<string, number>();
      for (const payment of payments.values()) statusCounts.set(payment.status, (statusCounts.get(payment.status) ?? 0) + 1);
      log(`figures: ${JSON.stringify(figures)}`);
      for (const each of topologyNow.all()) {
        const errors = each.output().split('\n').filter((line) => line.includes('"level":50') || line.includes('"level":60'));
        if (errors.length > 0) log(`${each.label} logged ${errors.length} errors since its last start, e.g. ${errors.slice(0, 2).map((line) => line.slice(0, 400)).join(' | ')}`);
      }
      for (const failure of world.failures.slice(0, 12)) {
        log(`failed: gateway-${failure.gateway + 1} ${failure.operation} ${failure.code}, sent ${failure.sentAt - timeline.killedAt} ms and answered ${failure.at - timeline.killedAt} ms from the kill: ${failure.message}`);
      }
      log(
        `kill: payments-A down ${timeline.backAt - timeline.killedAt} ms (restart took ${timeline.backAt - timeline.restartedAt} ms); ` +
          `${lastFailure === null ? 'clients saw no failure from the kill on' : `clients saw failures until +${lastFailure - timeline.killedAt} ms after the kill`}; ` +
          `${world.failures.length} failed requests in the whole run ${JSON.stringify(Object.fromEntries(allFailures))}; ` +
          `${unresolved} writes still ambiguous after ${RESOLVE_TIMEOUT_MS} ms; settled ${settledAt - timeline.loadEndedAt} ms after the load; ` +
          `payments ${JSON.stringify(Object.fromEntries(statusCounts))}, buyers ${world.buyers.size}, credits ${world.credits.length}`,
      );

      const problems: string[] = [];
      const check = (name: string, ok: boolean, detail: string) => {
        log(`${ok ? 'ok  ' : 'FAIL'} ${name}: ${detail}`);
        if (!ok) problems.push(`${name}: ${detail}`);
      };

      // 1. Ledger and reconciliation.
      check('verifyLedger ok', verification?.verifyLedger?.ok === true, JSON.stringify(verification?.verifyLedger ?? verification).slice(0, 400));
      check(
        'reconcilePayments ok with nothing in flight',
        verification?.reconcilePayments?.ok === true && verification.reconcilePayments.inFlightPayments === 0,
        JSON.stringify(verification?.reconcilePayments ?? verification).slice(0, 400),
      );

      // 2. Money conserved, read from the ledger's own tables.
      const facts = await readLedgerFacts({ kind: 'postgres', url: databaseUrl });
      check(
        'money conserved (every account and every entry sums to 0 per currency), no negative wallet, one effect per key',
        facts.sums.length > 0 && facts.sums.every((row) => row.accounts === 0n && row.entries === 0n) && facts.negativeWallets.length === 0 && facts.duplicateKeys.length === 0,
        JSON.stringify({ sums: facts.sums, negative: facts.negativeWallets.length, duplicateKeys: facts.duplicateKeys }, (_key, value) => (typeof value === 'bigint' ? value.toString() : value)),
      );

      // 3. No acknowledged write lost: every acknowledged payment is still what it was told; every
      // buyer's balance is exactly its acknowledged top-ups minus what its payments captured.
      const lostPayments = world.pays.filter((pay) => pay.outcome === 'acked' && (!payments.has(pay.paymentId!) || (pay.ackedStatus === 'SUCCEEDED' && payments.get(pay.paymentId!)!.status !== 'SUCCEEDED')));
      const balanceProblems: string[] = [];
      for (const buyer of world.buyers.values()) {
        const credited = world.credits.filter((credit) => credit.buyerId === buyer.id && credit.outcome === 'acked').reduce((sum, credit) => sum + credit.amount, 0n);
        const captured = [...payments.values()].filter((payment) => payment.buyerId === buyer.id).reduce((sum, payment) => sum + payment.captured, 0n);
        const answer = await request(world.gatewayUrls[1]!, WALLETS, {}, buyer.accessToken, 30_000);
        const balance = answer.kind === 'ok' ? BigInt(answer.data.me.wallets.find((wallet: { currency: string }) => wallet.currency === 'USD')?.balance.amount ?? '0') : null;
        if (balance !== credited - captured) balanceProblems.push(`${buyer.id}: balance ${balance} expected ${credited - captured}`);
      }
      check(
        'no acknowledged write lost (payments as acknowledged, balances = acknowledged top-ups - captured), none left ambiguous',
        lostPayments.length === 0 && balanceProblems.length === 0 && unresolved === 0,
        `${world.pays.filter((pay) => pay.outcome === 'acked').length} payOrders and ${world.credits.filter((credit) => credit.outcome === 'acked').length} top-ups acknowledged; lost ${lostPayments.length}; balance problems ${balanceProblems.slice(0, 3).join('; ') || 'none'}; unresolved ${unresolved}`,
      );

      // 4. Every subscriber's events equal a replay from after 0 on its own gateway.
      const replays = new Map<string, StatusEvent[]>();
      const subscriberProblems: string[] = [];
      for (const { subscriber, gateway } of subscribers) {
        const replayKey = `${subscriber.viewer.id}@${gateway}`;
        if (!replays.has(replayKey)) {
          const replay = await replayFromStart(subscriberGatewayUrls[gateway]!, subscriber.viewer, { atLeast: subscriber.events().length, timeoutMs: CATCH_UP_TIMEOUT_MS });
          if (replay.error) subscriberProblems.push(`${subscriber.label}: replay error ${replay.error}`);
          replays.set(replayKey, replay.events);
        }
        const want = replays.get(replayKey)!.map(eventKey);
        const catchUpDeadline = Date.now() + CATCH_UP_TIMEOUT_MS;
        while (subscriber.events().length < want.length && Date.now() < catchUpDeadline) await sleep(250);
        const got = subscriber.events().map(eventKey);
        if (got.join() !== want.join()) {
          const gotSet = new Set(got);
          const missing = want.filter((key) => !gotSet.has(key));
          subscriberProblems.push(`${subscriber.label}: ${got.length} events vs ${want.length} in the replay, ${missing.length} missing (e.g. ${missing.slice(0, 3).join(' ')}), ${got.length - gotSet.size} duplicates`);
        }
      }
      const endingCounts = (subscriber: ResumingSubscriber) => {
        const counts = new Map<string, number>();
        for (const code of subscriber.endingCodes) counts.set(code, (counts.get(code) ?? 0) + 1);
        return JSON.stringify(Object.fromEntries(counts));
      };
      const summary = subscribers
        .map(({ subscriber }) => `${subscriber.label} ${subscriber.events().length} events, resumed ${subscriber.endings.length}x ${endingCounts(subscriber)}${subscriber.resumedAfter.length ? ` (after ${subscriber.resumedAfter.slice(0, 4).join(', ')}${subscriber.resumedAfter.length > 4 ? ', ...' : ''})` : ''}`)
        .join('; ');
      check(
        "every subscriber's events equal a replay from after 0 (gateway-3 included)",
        subscriberProblems.length === 0 && replays.size === subscriberGatewayUrls.length * 2,
        `${summary}${subscriberProblems.length ? ` | ${subscriberProblems.join(' | ')}` : ''}`,
      );

      // 4b. Every ending and every error result any subscriber met is the retryable SERVICE_UNAVAILABLE
      // or its socket closing: nothing else (no INTERNAL_SERVER_ERROR, no RATE_LIMITED, no silent completion).
      const endingProblems = subscribers.flatMap(({ subscriber }) => unexpectedEndings(subscriber).map((problem) => `${subscriber.label}: ${problem}`));
      check(
        'every subscription ending and error result is SERVICE_UNAVAILABLE or a socket close',
        endingProblems.length === 0,
        endingProblems.length === 0 ? `${subscribers.reduce((sum, { subscriber }) => sum + subscriber.endings.length, 0)} endings, all retryable` : endingProblems.slice(0, 6).join('; '),
      );

      // 4c. The gateway pinned to payments A could not resolve events while A was down: each of its
      // subscribers was ended (SERVICE_UNAVAILABLE or a socket close, 4b) at least once, resumed with
      // `after` past 0, and still equals the replay (4): no event was skipped as "may not see it".
      const pinned = subscribers.filter(({ gateway }) => gateway === PINNED).map(({ subscriber }) => subscriber);
      const pinnedProblems = pinned.flatMap((subscriber) => [
        ...(subscriber.endingCodes.some((code) => /^(SERVICE_UNAVAILABLE|SOCKET_CLOSED )/.test(code)) ? [] : [`${subscriber.label}: never ended SERVICE_UNAVAILABLE or closed (${subscriber.endingCodes.join(',') || 'no ending'})`]),
        ...(subscriber.resumedAfter.some((after) => after !== '0') ? [] : [`${subscriber.label}: never resumed with an \`after\` past 0`]),
      ]);
      check(
        'gateway-3 (pinned to payments-A): every subscriber ended as unavailable and resumed with after',
        pinned.length === 2 && pinnedProblems.length === 0,
        pinnedProblems.length === 0 ? pinned.map((subscriber) => `${subscriber.label} ended ${subscriber.endingCodes.length}x ${endingCounts(subscriber)}, resumed after ${subscriber.resumedAfter.filter((after) => after !== '0').length}x`).join('; ') : pinnedProblems.join('; '),
      );

      // 5. A notification for every payment event (the admin's replay is the whole payments log).
      const allEvents = replays.get(`${admin.id}@0`) ?? [];
      const buyerOf = new Map(world.pays.filter((pay) => pay.paymentId).map((pay) => [pay.paymentId!, pay.buyerId]));
      const expected = new Map<string, Map<string, number>>();
      const expect_ = (userId: string, key: string) => {
        const perUser = expected.get(userId) ?? new Map<string, number>();
        perUser.set(key, (perUser.get(key) ?? 0) + 1);
        expected.set(userId, perUser);
      };
      let unknownPayments = 0;
      for (const event of allEvents) {
        const [toBuyer, toMerchant] = NOTIFIED[event.status] ?? [false, false];
        const buyerId = buyerOf.get(event.paymentId);
        if (!buyerId) {
          unknownPayments += 1;
          continue;
        }
        if (toBuyer) expect_(buyerId, `payment.${event.status.toLowerCase()}|${event.paymentId}`);
        if (toMerchant) expect_(world.merchant.id, `payment.${event.status.toLowerCase()}|${event.paymentId}`);
      }
      const users = new Map<string, TestUser>([...world.buyers.entries(), [world.merchant.id, world.merchant]]);
      let differences: string[] = [];
      const notificationsDeadline = Date.now() + CATCH_UP_TIMEOUT_MS;
      for (let round = 0; round < 20; round += 1) {
        differences = [];
        for (const [userId, want] of expected) {
          const actual = await notificationsOf(world.gatewayUrls[round % 2]!, users.get(userId)!);
          for (const [key, count] of want) if ((actual.get(key) ?? 0) !== count) differences.push(`${userId} ${key}: ${actual.get(key) ?? 0} of ${count}`);
        }
        if (differences.length === 0 || Date.now() > notificationsDeadline) break;
        await sleep(2_000);
      }
      const expectedCount = [...expected.values()].reduce((sum, perUser) => sum + [...perUser.values()].reduce((each, count) => each + count, 0), 0);
      check(
        'a notification for every payment event',
        differences.length === 0 && unknownPayments === 0 && expectedCount > 0,
        `${expectedCount} IN_APP notifications expected from ${allEvents.length} events; ${unknownPayments} events of unknown payments; ${differences.length} differences${differences.length ? `, e.g. ${differences.slice(0, 3).join('; ')}` : ''}`,
      );

      // 6. Failover: a client loses at most the one request it had in flight on the killed instance;
      // everything after it goes to the other instance (without balancing it would fail until the restart).
      const clientsTotal = CLIENTS_PER_GATEWAY * world.gatewayUrls.length;
      check(
        'failover: at most one failed request per client during the kill',
        failuresDuring.length <= clientsTotal,
        `${failuresDuring.length} requests failed from the kill to 5 s after the restart (${clientsTotal} clients)`,
      );

      // 7. The shape did what it is for: both gateways kept paying through the kill.
      check(
        'both gateways carried payments',
        figures.every((figure) => figure.succeededPayments > 0),
        figures.map((figure) => `${figure.gateway} ${figure.succeededPayments}`).join(', '),
      );

      expect(problems, problems.join('\n')).toEqual([]);
    },
    SUITE_TIMEOUT_MS,
  );
});
