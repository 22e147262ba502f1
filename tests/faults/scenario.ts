/**
 * One fault scenario from start to verdict: the platform started as `npm start` does, merchants
 * and subscribers set up, the bank workload run while the fault is injected, then recovery
 * measured, ambiguous operations resolved with their own keys, unfinished work given time to
 * settle, and every check of issue 10 evaluated against what the clients were told.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { loginAs, registerAndLogin, type TestUser } from '@paygraph/testing';
import type { PrivatePostgres } from '../support/private-postgres';
import { OUTAGE_ANSWER_MS_MAX, request, sleep } from './client';
import { readLedgerFacts, type LedgerFacts, type LedgerTarget } from './ledger-facts';
import { CURRENCIES, newWorld, resolveAmbiguous, startLoad, type World } from './load';
import { SupervisedPlatform } from './platform';
import { replayFromStart, startResumingSubscriber, type ResumingSubscriber, type StatusEvent } from './subscribers';

/** Workload bounds (per scenario). */
export const CLIENTS = 8;
export const OPERATIONS_PER_CLIENT = 400;
/** The load keeps running this long after the last fault, so recovery is seen under load... */
const LOAD_AFTER_FAULT_MS = 8_000;
/** ...and at least this long in all. */
const LOAD_MS_MIN = 30_000;
/** The load never runs longer than this, whatever the fault does. */
const LOAD_MS_MAX = 100_000;
const MERCHANTS = 3;
/** How long the platform may take to answer again after the last fault. */
const RECOVERY_TIMEOUT_MS = 60_000;
const PROBE_INTERVAL_MS = 250;
/** Payments' recovery sweep interval for the run (PAYMENT_RECOVERY_INTERVAL_MS). */
export const RECOVERY_INTERVAL_MS = 1_000;
/** Payments takes over work untouched for RECOVERY_GRACE_MS (30 s) on its timer, at once at start-up. */
const SETTLE_TIMEOUT_MS = 30_000 + 10 * RECOVERY_INTERVAL_MS + 10_000;
/** Notifications and subscribers must catch up with the log within this after settling. */
const CATCH_UP_TIMEOUT_MS = 20_000;
const PAGE_SIZE = 100;
const ORDER_LOOKUPS_PER_QUERY = 25;

export const CHECKS = [
  'the platform process survived (only the suite ended it)',
  'the platform answered again after the last fault',
  'failures were fast and retryable (SERVICE_UNAVAILABLE within 2 s, never INTERNAL_SERVER_ERROR)',
  'every ambiguous operation resolved by a retry with the same key',
  'verifyLedger ok',
  'reconcilePayments ok with nothing in flight',
  'money conserved per currency (all accounts and all entries sum to 0)',
  'no negative balance',
  'every balance equals the acknowledged operations (no lost write, one effect per key)',
  'every acknowledged write is visible after recovery',
  'one effect per idempotency key',
  'no payment or refund left unfinished after recovery',
  'a payment interrupted by the fault completes when retried (no outage failure code)',
  'every order status follows from its payments',
  'capture and cancel decided once',
  'the log replay is in integer order with each payment status chain complete',
  "every subscriber's events equal a replay from after 0 (order, no gap, no duplicate)",
  'a notification for every payment and refund event',
] as const;
export type CheckName = (typeof CHECKS)[number];

export interface CheckResult {
  ok: boolean;
  evidence: string;
}

export interface ScenarioFigures {
  operations: number;
  acknowledged: number;
  errorsByCode: Record<string, number>;
  recoveryMs: number | null;
  settleMs: number | null;
  loadMs: number;
  totalMs: number;
  payments: number;
  refunds: number;
  buyers: number;
  events: number;
  restarts: number;
  /** How long each start of the platform took until its ready line (the first, then restarts). */
  platformStartsMs: number[];
  unexpectedExits: number;
}

export interface ScenarioReport {
  name: string;
  figures: ScenarioFigures;
  checks: Map<CheckName, CheckResult>;
}

export interface FaultContext {
  platform: SupervisedPlatform;
  cluster: PrivatePostgres | null;
  /** Set by the fault: when the database or platform came back for the last time. */
  markFaultWindow(start: number, end: number): void;
  /** Waits until the clients have had `count` more writes acknowledged (or `timeoutMs` passed). */
  waitForAcknowledged(count: number, timeoutMs: number): Promise<void>;
}

export interface ScenarioDefinition {
  name: string;
  database: 'postgres' | 'pglite';
  /** The fault hits the database (not the platform process): outage answers must be fast. */
  databaseFault: boolean;
  /** Crashes the suite itself causes (their exits are expected). */
  inject(context: FaultContext): Promise<void>;
  seed: number;
}

interface PaymentView {
  id: string;
  status: string;
  failureCode: string | null;
  captureMethod: string;
  amount: bigint;
  currency: string;
  captured: bigint;
  refunded: bigint;
  refunds: { id: string; status: string; amount: bigint }[];
  order: { id: string; status: string; amount: bigint; buyerId: string; merchantId: string };
}

const PAYMENTS_PAGE = `query($first: Int, $after: String) { payments(first: $first, after: $after) {
  edges { node { id status failureCode captureMethod amount { amount currency } amountCaptured { amount } amountRefunded { amount }
    refunds { id status amount { amount } } order { id status amount { amount } buyer { id } merchant { id } } } }
  pageInfo { hasNextPage endCursor } } }`;
const CHECKS_QUERY = `{ verifyLedger { ok checkedTransactions mismatches } reconcilePayments { ok checkedPayments inFlightPayments mismatches } }`;
const PROBE = `{ me { id } payments(first: 1) { edges { node { id } } } wallet(currency: "USD") { id } }`;
const WALLETS = `{ usd: wallet(currency: "USD") { balance { amount } available { amount } } eur: wallet(currency: "EUR") { balance { amount } available { amount } } }`;
const NOTIFICATIONS = `query($after: String) { notifications(first: 100, after: $after) { edges { node { channel type body } } pageInfo { hasNextPage endCursor } } }`;

/** Statuses that notify someone, and whom: [buyer, merchant]. */
const NOTIFIED: Record<string, [boolean, boolean]> = {
  SUCCEEDED: [true, true],
  FAILED: [true, false],
  CANCELED: [true, false],
  REQUIRES_REVIEW: [true, true],
  AUTHORIZED: [false, true],
};
/** Failure codes that are business outcomes; any other FAILED payment failed because of the fault. */
const BUSINESS_FAILURES = new Set(['RISK_DECLINED', 'INSUFFICIENT_FUNDS']);

const short = (value: unknown, length = 600) => {
  const text = typeof value === 'string' ? value : JSON.stringify(value, (_key, each) => (typeof each === 'bigint' ? each.toString() : each));
  return text.length > length ? `${text.slice(0, length)}…` : text;
};

/** `signal` aborts a scenario over its time: the load stops and the platform is stopped. */
export async function runScenario(definition: ScenarioDefinition, cluster: PrivatePostgres | null, log: (line: string) => void, signal: AbortSignal): Promise<ScenarioReport> {
  const startedAt = Date.now();
  const checks = new Map<CheckName, CheckResult>();
  const check = (name: CheckName, ok: boolean, evidence: string) => checks.set(name, { ok, evidence });
  const id = `${definition.name.replace(/[^a-z0-9]+/gi, '_').toLowerCase().slice(0, 20)}_${randomBytes(3).toString('hex')}`;
  let target: LedgerTarget;
  let dataDir: string | null = null;
  const adminEmail = `admin-${randomBytes(4).toString('hex')}@example.test`;
  const adminPassword = `admin password ${randomBytes(4).toString('hex')}`;
  const env: Record<string, string> = {
    ADMIN_EMAIL: adminEmail,
    ADMIN_PASSWORD: adminPassword,
    PAYMENT_RECOVERY_INTERVAL_MS: String(RECOVERY_INTERVAL_MS),
    ACCESS_TOKEN_TTL_SECONDS: '3600',
  };
  if (definition.database === 'postgres') {
    if (!cluster) throw new Error('a PostgreSQL scenario needs the private cluster');
    const url = await cluster.createDatabase(`faults_${id}`);
    env.DATABASE_URL = url;
    target = { kind: 'postgres', url };
  } else {
    dataDir = mkdtempSync(path.join(tmpdir(), 'paygraph-faults-'));
    env.DATA_DIR = dataDir;
    target = { kind: 'pglite', dataDir };
  }

  log(`${definition.name}: starting the platform (${definition.database})`);
  const platform = await SupervisedPlatform.start(env);
  log(`${definition.name}: platform up at ${platform.gatewayUrl} in ${platform.startDurationsMs[0]} ms`);
  const gatewayUrl = platform.gatewayUrl;
  const subscribers: ResumingSubscriber[] = [];
  let stopLoad = () => undefined as void;
  const onAbort = () => {
    log(`${definition.name}: aborted (over its time); stopping the load and the platform`);
    stopLoad();
    void platform.stop();
  };
  signal.addEventListener('abort', onAbort, { once: true });
  let faultWindow = { start: 0, end: 0 };
  let recoveryMs: number | null = null;
  let settleMs: number | null = null;
  let loadMs = 0;
  let world: World | null = null;
  let restarts = 0;
  try {
    const admin = await loginAs(gatewayUrl, adminEmail, adminPassword);
    const merchants: TestUser[] = [];
    for (let index = 0; index < MERCHANTS; index += 1) merchants.push(await registerAndLogin({ register: gatewayUrl, login: gatewayUrl }, 'MERCHANT', { name: `Fault Shop ${index}` }));
    world = newWorld(gatewayUrl, admin, merchants);
    subscribers.push(startResumingSubscriber(gatewayUrl, admin, 'admin'));
    for (const merchant of merchants) subscribers.push(startResumingSubscriber(gatewayUrl, merchant, `merchant ${merchant.id}`));
    await sleep(500);

    // Load and fault together; the load goes on a little after the fault so recovery happens under load.
    const loadStartedAt = Date.now();
    const load = startLoad(world, { clients: CLIENTS, operationsPerClient: OPERATIONS_PER_CLIENT, deadline: loadStartedAt + LOAD_MS_MAX, seed: definition.seed });
    stopLoad = load.stop;
    const startsBefore = platform.startDurationsMs.length;
    log(`${definition.name}: load started (${CLIENTS} clients), injecting the fault`);
    const loadWorld = world;
    const waitForAcknowledged = async (count: number, timeoutMs: number) => {
      const target = loadWorld.stats.acknowledged + count;
      const deadline = Date.now() + timeoutMs;
      while (loadWorld.stats.acknowledged < target && Date.now() < deadline && !signal.aborted) await sleep(200);
    };
    await definition.inject({ platform, cluster, markFaultWindow: (start, end) => (faultWindow = { start, end }), waitForAcknowledged });
    restarts = platform.startDurationsMs.length - startsBefore;
    log(`${definition.name}: fault over (${faultWindow.end - faultWindow.start} ms), ${world.stats.operations} operations so far, errors ${short(world.stats.errorsObject(), 300)}`);
    await sleep(Math.max(LOAD_AFTER_FAULT_MS, loadStartedAt + LOAD_MS_MIN - Date.now()));
    load.stop();
    await load.done;
    loadMs = Date.now() - loadStartedAt;
    log(`${definition.name}: load done in ${loadMs} ms, ${world.stats.operations} operations, ${world.stats.acknowledged} acknowledged`);

    // Recovery: the platform answers a request that needs every database again.
    await platform.settled();
    const recoveryDeadline = faultWindow.end + RECOVERY_TIMEOUT_MS;
    while (Date.now() < recoveryDeadline) {
      const ready = await fetch(new URL('/ready', gatewayUrl), { signal: AbortSignal.timeout(5_000) }).then((response) => response.status === 200).catch(() => false);
      const probe = await request(gatewayUrl, PROBE, {}, admin.accessToken, 5_000);
      if (ready && probe.kind === 'ok') {
        recoveryMs = Date.now() - faultWindow.end;
        break;
      }
      await sleep(PROBE_INTERVAL_MS);
    }
    check('the platform answered again after the last fault', recoveryMs !== null, recoveryMs === null ? `no /ready 200 and answered probe within ${RECOVERY_TIMEOUT_MS} ms of the last fault` : `answered ${recoveryMs} ms after the last fault`);
    const unexpected = platform.unexpectedExits;
    check(
      'the platform process survived (only the suite ended it)',
      unexpected.length === 0,
      unexpected.length === 0 ? `${restarts} restarts, all by the suite` : `${unexpected.length} unexpected exit(s); first (code ${unexpected[0]!.code}):\n${unexpected[0]!.outputTail}\nfailed starts: ${platform.failedStarts.length}${platform.failedStarts.length ? `, last:\n${platform.failedStarts.at(-1)!.slice(-600)}` : ''}`,
    );
    checkOutageAnswers(world, definition, faultWindow, check);

    log(`${definition.name}: recovery ${recoveryMs} ms; resolving ambiguous operations`);
    const resolution = await resolveAmbiguous(world);
    log(`${definition.name}: ${resolution.resolved} resolved, ${resolution.unresolved.length} unresolved; settling`);
    check(
      'every ambiguous operation resolved by a retry with the same key',
      resolution.unresolved.length === 0,
      `${resolution.resolved} resolved, ${resolution.unresolved.length} still ambiguous${resolution.unresolved.length ? `: ${short(resolution.unresolved.slice(0, 5))}` : ''}`,
    );

    // Settle: nothing PENDING (payments or refunds) and nothing in flight for reconciliation.
    const settleStartedAt = Date.now();
    let payments: PaymentView[] = [];
    let verification: any = null;
    while (Date.now() - settleStartedAt < SETTLE_TIMEOUT_MS) {
      payments = await listPayments(gatewayUrl, admin);
      const checked = await request(gatewayUrl, CHECKS_QUERY, {}, admin.accessToken, 30_000);
      verification = checked.kind === 'ok' ? checked.data : { error: checked };
      const unfinished = payments.filter((payment) => payment.status === 'PENDING' || payment.refunds.some((refund) => refund.status === 'PENDING'));
      if (unfinished.length === 0 && checked.kind === 'ok' && checked.data.reconcilePayments.inFlightPayments === 0) {
        settleMs = Date.now() - settleStartedAt;
        break;
      }
      await sleep(2_000);
    }
    const unfinished = payments.filter((payment) => payment.status === 'PENDING' || payment.refunds.some((refund) => refund.status === 'PENDING'));
    check(
      'no payment or refund left unfinished after recovery',
      unfinished.length === 0 && verification?.reconcilePayments?.inFlightPayments === 0,
      `${unfinished.length} payments PENDING or with a PENDING refund, reconcile inFlightPayments ${verification?.reconcilePayments?.inFlightPayments ?? '?'}, after waiting ${Date.now() - settleStartedAt} ms (recovery grace 30 s, interval ${RECOVERY_INTERVAL_MS} ms)${unfinished.length ? `: ${short(unfinished.slice(0, 3).map((payment) => ({ id: payment.id, status: payment.status, refunds: payment.refunds })))}` : ''}`,
    );
    check('verifyLedger ok', verification?.verifyLedger?.ok === true, short(verification?.verifyLedger ?? verification));
    check(
      'reconcilePayments ok with nothing in flight',
      verification?.reconcilePayments?.ok === true && verification.reconcilePayments.inFlightPayments === 0,
      short(verification?.reconcilePayments ?? verification),
    );

    log(`${definition.name}: settled in ${settleMs} ms; checking ${payments.length} payments`);
    await checkPaymentsAgainstClients(world, payments, check);
    await checkBalances(world, payments, check);

    // The log, the subscribers and the notifications.
    log(`${definition.name}: replaying the log`);
    // A replay is complete when nothing new came for a while after its first event (any payment gives the admin one).
    const adminReplay = await replayFromStart(gatewayUrl, admin, { quietMs: 3_000, timeoutMs: 60_000, atLeast: payments.length > 0 ? 1 : 0 });
    checkReplay(adminReplay, payments, check);
    await checkSubscribers(gatewayUrl, subscribers, check);
    log(`${definition.name}: checking notifications`);
    await checkNotifications(world, payments, adminReplay.events, check);

    for (const subscriber of subscribers.splice(0)) await subscriber.stop();
    await platform.stop();
    const facts = await readLedgerFacts(target).catch((error: unknown) => error as Error);
    checkLedgerFacts(facts, check);
    return {
      name: definition.name,
      checks,
      figures: {
        operations: world.stats.operations,
        acknowledged: world.stats.acknowledged,
        errorsByCode: world.stats.errorsObject(),
        recoveryMs,
        settleMs,
        loadMs,
        totalMs: Date.now() - startedAt,
        payments: payments.length,
        refunds: payments.reduce((sum, payment) => sum + payment.refunds.length, 0),
        buyers: world.buyers.size,
        events: adminReplay.events.length,
        restarts,
        platformStartsMs: [...platform.startDurationsMs],
        unexpectedExits: platform.unexpectedExits.length,
      },
    };
  } finally {
    signal.removeEventListener('abort', onAbort);
    for (const subscriber of subscribers) await subscriber.stop().catch(() => undefined);
    await platform.stop().catch(() => undefined);
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }
}

type Check = (name: CheckName, ok: boolean, evidence: string) => void;

function checkOutageAnswers(world: World, definition: ScenarioDefinition, window: { start: number; end: number }, check: Check) {
  const samples = world.stats.errorSamples;
  const internal = samples.filter((sample) => sample.code === 'INTERNAL_SERVER_ERROR');
  // During a database outage the platform runs: every failure must be a fast SERVICE_UNAVAILABLE.
  const outage = definition.databaseFault ? samples.filter((sample) => sample.at >= window.start && sample.at <= window.end + 2_000) : [];
  const slow = outage.filter((sample) => sample.ms > OUTAGE_ANSWER_MS_MAX);
  const otherCodes = outage.filter((sample) => !['SERVICE_UNAVAILABLE', 'INSUFFICIENT_FUNDS', 'INVALID_STATE', 'BAD_USER_INPUT'].includes(sample.code));
  const codes = (list: typeof samples) => short(Object.fromEntries([...new Set(list.map((sample) => sample.code))].map((code) => [code, list.filter((sample) => sample.code === code).length])));
  check(
    'failures were fast and retryable (SERVICE_UNAVAILABLE within 2 s, never INTERNAL_SERVER_ERROR)',
    internal.length === 0 && slow.length === 0 && otherCodes.length === 0,
    `${internal.length} INTERNAL_SERVER_ERROR in the run${internal.length ? ` (e.g. "${internal[0]!.message}")` : ''}; ` +
      (definition.databaseFault
        ? `during the outage ${outage.length} failures, ${slow.length} slower than ${OUTAGE_ANSWER_MS_MAX} ms (max ${Math.max(0, ...outage.map((sample) => sample.ms))} ms), codes ${codes(outage)}`
        : 'process crashes: connection errors while the platform restarts are expected'),
  );
}

async function listPayments(gatewayUrl: string, admin: TestUser): Promise<PaymentView[]> {
  const payments: PaymentView[] = [];
  let after: string | null = null;
  for (let page = 0; page < 1_000; page += 1) {
    const answer = await request(gatewayUrl, PAYMENTS_PAGE, { first: PAGE_SIZE, after }, admin.accessToken, 30_000);
    if (answer.kind !== 'ok') throw new Error(`listing payments failed: ${short(answer)}`);
    const connection = answer.data.payments;
    for (const edge of connection.edges) {
      const node = edge.node;
      payments.push({
        id: node.id,
        status: node.status,
        failureCode: node.failureCode,
        captureMethod: node.captureMethod,
        amount: BigInt(node.amount.amount),
        currency: node.amount.currency,
        captured: BigInt(node.amountCaptured.amount),
        refunded: BigInt(node.amountRefunded.amount),
        refunds: node.refunds.map((refund: any) => ({ id: refund.id, status: refund.status, amount: BigInt(refund.amount.amount) })),
        order: { id: node.order.id, status: node.order.status, amount: BigInt(node.order.amount.amount), buyerId: node.order.buyer.id, merchantId: node.order.merchant.id },
      });
    }
    if (!connection.pageInfo.hasNextPage) break;
    after = connection.pageInfo.endCursor;
  }
  return payments;
}

async function checkPaymentsAgainstClients(world: World, payments: PaymentView[], check: Check) {
  const byId = new Map(payments.map((payment) => [payment.id, payment]));
  const lost: string[] = [];
  for (const pay of world.pays.values()) {
    if (!pay.acked) continue;
    const payment = byId.get(pay.acked.id);
    if (!payment) lost.push(`payOrder ${pay.key} answered ${pay.acked.id} ${pay.acked.status}; no such payment`);
    else if (['SUCCEEDED', 'FAILED'].includes(pay.acked.status) && payment.status !== pay.acked.status && !(pay.acked.status === 'SUCCEEDED' && payment.refunds.length > 0)) lost.push(`payment ${payment.id} was answered ${pay.acked.status}, is ${payment.status}`);
  }
  for (const capture of world.captures) {
    if (capture.outcome !== 'acked') continue;
    const payment = byId.get(capture.paymentId);
    if (!payment || payment.status !== 'SUCCEEDED' || (capture.amount > 0n && payment.captured !== capture.amount)) lost.push(`capture of ${capture.amount} acknowledged on ${capture.paymentId}; payment is ${payment?.status} with ${payment?.captured} captured`);
  }
  const refundsById = new Map(payments.flatMap((payment) => payment.refunds.map((refund) => [refund.id, refund] as const)));
  for (const refund of world.refunds.values()) {
    if (!refund.acked) continue;
    const found = refundsById.get(refund.acked.id);
    if (!found || found.status !== 'SUCCEEDED' || found.amount !== refund.amount) lost.push(`refund ${refund.acked.id} of ${refund.amount} acknowledged; found ${short(found ?? null)}`);
  }
  const ordersWithPayments = new Map<string, PaymentView[]>();
  for (const payment of payments) ordersWithPayments.set(payment.order.id, [...(ordersWithPayments.get(payment.order.id) ?? []), payment]);
  for (const cancel of world.cancels) {
    if (cancel.outcome !== 'acked') continue;
    const status = ordersWithPayments.get(cancel.orderId)?.[0]?.order.status;
    if (status !== 'CANCELED') lost.push(`cancelOrder ${cancel.orderId} acknowledged; order is ${status}`);
  }
  // Acknowledged orders that have no payment are looked up one by one (batched with aliases).
  const orphanOrders = [...world.orders.entries()].filter(([orderId, order]) => order.acked && !ordersWithPayments.has(orderId)).map(([orderId]) => orderId);
  for (let index = 0; index < orphanOrders.length; index += ORDER_LOOKUPS_PER_QUERY) {
    const batch = orphanOrders.slice(index, index + ORDER_LOOKUPS_PER_QUERY);
    const query = `{ ${batch.map((orderId, position) => `o${position}: order(id: ${JSON.stringify(orderId)}) { id status }`).join(' ')} }`;
    const answer = await request(world.gatewayUrl, query, {}, world.admin.accessToken, 30_000);
    if (answer.kind !== 'ok') lost.push(`order lookup failed: ${short(answer)}`);
    else batch.forEach((orderId, position) => answer.data[`o${position}`] === null && lost.push(`createOrder answered ${orderId}; no such order`));
  }
  check('every acknowledged write is visible after recovery', lost.length === 0, lost.length === 0 ? `${[...world.pays.values()].filter((pay) => pay.acked).length} payments, ${world.captures.filter((each) => each.outcome === 'acked').length} captures, ${[...world.refunds.values()].filter((each) => each.acked).length} refunds, ${world.cancels.filter((each) => each.outcome === 'acked').length} cancels, ${world.orders.size} orders found as answered` : `${lost.length} lost: ${short(lost.slice(0, 5))}`);

  // One effect per key: a key named one payment (refund) whatever the number of answers, one live payment per order.
  const doubled: string[] = [];
  for (const pay of world.pays.values()) if (pay.paymentIds.size > 1) doubled.push(`payOrder key ${pay.key} answered ${[...pay.paymentIds].join(', ')}`);
  for (const refund of world.refunds.values()) if (refund.refundIds.size > 1) doubled.push(`refund key ${refund.key} answered ${[...refund.refundIds].join(', ')}`);
  for (const [orderId, list] of ordersWithPayments) {
    const live = list.filter((payment) => !['FAILED', 'CANCELED'].includes(payment.status));
    if (live.length > 1) doubled.push(`order ${orderId} has ${live.length} live payments`);
  }
  for (const payment of payments) {
    const refundedSum = payment.refunds.filter((refund) => refund.status === 'SUCCEEDED').reduce((sum, refund) => sum + refund.amount, 0n);
    if (refundedSum !== payment.refunded) doubled.push(`payment ${payment.id}: refunds sum to ${refundedSum}, amountRefunded ${payment.refunded}`);
    if (payment.refunded > payment.captured) doubled.push(`payment ${payment.id}: refunded ${payment.refunded} > captured ${payment.captured}`);
  }
  check('one effect per idempotency key', doubled.length === 0, doubled.length === 0 ? `${world.pays.size} payOrder keys, ${world.refunds.size} refund keys: one payment or refund each` : short(doubled.slice(0, 5)));

  const outageFailures = payments.filter((payment) => payment.status === 'FAILED' && !BUSINESS_FAILURES.has(payment.failureCode ?? ''));
  check(
    'a payment interrupted by the fault completes when retried (no outage failure code)',
    outageFailures.length === 0,
    outageFailures.length === 0 ? `FAILED payments: ${payments.filter((payment) => payment.status === 'FAILED').length}, all business outcomes` : `${outageFailures.length} FAILED with ${short([...new Set(outageFailures.map((payment) => payment.failureCode))])}, e.g. ${outageFailures[0]!.id}`,
  );

  // Order status from payments.
  const inconsistent: string[] = [];
  for (const [orderId, list] of ordersWithPayments) {
    const status = list[0]!.order.status;
    const succeeded = list.find((payment) => payment.status === 'SUCCEEDED');
    const live = list.find((payment) => ['PENDING', 'REQUIRES_REVIEW', 'AUTHORIZED'].includes(payment.status));
    let expected: string[];
    if (succeeded) expected = [succeeded.refunded === 0n ? 'PAID' : succeeded.refunded >= succeeded.captured ? 'REFUNDED' : 'PARTIALLY_REFUNDED'];
    else if (live) expected = ['PENDING'];
    else expected = ['PENDING', 'CANCELED'];
    if (!expected.includes(status)) inconsistent.push(`order ${orderId} is ${status} with payments ${list.map((payment) => `${payment.id} ${payment.status} captured ${payment.captured} refunded ${payment.refunded}`).join('; ')}`);
  }
  check('every order status follows from its payments', inconsistent.length === 0, inconsistent.length === 0 ? `${ordersWithPayments.size} orders consistent` : `${inconsistent.length} inconsistent: ${short(inconsistent.slice(0, 4))}`);

  const racesWrong: string[] = [];
  let captureWon = 0;
  let cancelWon = 0;
  for (const race of world.races) {
    const payment = byId.get(race.paymentId);
    if (race.capture === 'acked' && race.cancel === 'acked') racesWrong.push(`both capture and cancel acknowledged for ${race.paymentId}`);
    if (!payment) continue;
    if (race.capture === 'acked') captureWon += 1;
    if (race.cancel === 'acked') cancelWon += 1;
    if (race.capture === 'acked' && (payment.status !== 'SUCCEEDED' || payment.order.status === 'CANCELED')) racesWrong.push(`capture won on ${race.paymentId}, payment ${payment.status}, order ${payment.order.status}`);
    if (race.cancel === 'acked' && (payment.status !== 'CANCELED' || payment.captured !== 0n)) racesWrong.push(`cancel won on order ${race.orderId}, payment ${payment.status} captured ${payment.captured}`);
    if (payment.status === 'SUCCEEDED' && payment.order.status === 'CANCELED') racesWrong.push(`payment ${payment.id} SUCCEEDED on a CANCELED order`);
  }
  check('capture and cancel decided once', racesWrong.length === 0, `${world.races.length} races: capture won ${captureWon}, cancel won ${cancelWon}${racesWrong.length ? `; wrong: ${short(racesWrong.slice(0, 4))}` : ''}`);
}

async function checkBalances(world: World, payments: PaymentView[], check: Check) {
  const expected = new Map<string, { balance: bigint; available: bigint }>();
  const add = (userId: string, currency: string, balance: bigint, available: bigint) => {
    const key = `${userId}|${currency}`;
    const current = expected.get(key) ?? { balance: 0n, available: 0n };
    expected.set(key, { balance: current.balance + balance, available: current.available + available });
  };
  const uncertain = new Set<string>();
  for (const operation of world.wallet) {
    if (operation.outcome === 'ambiguous') uncertain.add(operation.buyerId);
    if (operation.outcome !== 'acked') continue;
    const sign = operation.kind === 'credit' ? 1n : -1n;
    add(operation.buyerId, operation.currency, sign * operation.amount, sign * operation.amount);
  }
  for (const payment of payments) {
    const net = payment.captured - payment.refunded;
    const held = ['AUTHORIZED', 'REQUIRES_REVIEW', 'PENDING'].includes(payment.status) ? payment.amount : 0n;
    if (payment.status === 'PENDING') uncertain.add(payment.order.buyerId);
    add(payment.order.buyerId, payment.currency, -net, -net - held);
    add(payment.order.merchantId, payment.currency, net, net);
  }
  const users: TestUser[] = [...world.buyers.values(), ...world.merchants];
  const mismatches: string[] = [];
  const negative: string[] = [];
  let compared = 0;
  for (let index = 0; index < users.length; index += 8) {
    await Promise.all(
      users.slice(index, index + 8).map(async (user) => {
        const answer = await request(world.gatewayUrl, WALLETS, {}, user.accessToken, 30_000);
        if (answer.kind !== 'ok') {
          mismatches.push(`wallets of ${user.id}: ${short(answer)}`);
          return;
        }
        for (const currency of CURRENCIES) {
          const wallet = answer.data[currency.toLowerCase()];
          const balance = wallet ? BigInt(wallet.balance.amount) : 0n;
          const available = wallet ? BigInt(wallet.available.amount) : 0n;
          if (balance < 0n || available < 0n) negative.push(`${user.id} ${currency} balance ${balance} available ${available}`);
          if (uncertain.has(user.id)) continue;
          compared += 1;
          const want = expected.get(`${user.id}|${currency}`) ?? { balance: 0n, available: 0n };
          if (want.balance !== balance || want.available !== available) mismatches.push(`${user.id} ${currency}: balance ${balance} available ${available}, the acknowledged operations give ${want.balance} / ${want.available}`);
        }
      }),
    );
  }
  check('no negative balance', negative.length === 0, negative.length === 0 ? `${users.length} users' USD and EUR wallets read through the gateway, none negative` : short(negative.slice(0, 5)));
  check(
    'every balance equals the acknowledged operations (no lost write, one effect per key)',
    mismatches.length === 0 && compared > 0,
    `${compared} wallets compared (${uncertain.size} users left out: an operation stayed ambiguous)${mismatches.length ? `; ${mismatches.length} differ: ${short(mismatches.slice(0, 4))}` : ''}`,
  );
}

function checkReplay(replay: { events: StatusEvent[]; error: string | null }, payments: PaymentView[], check: Check) {
  const problems: string[] = [];
  if (replay.error) problems.push(`the replay ended with ${replay.error}`);
  const seen = new Set<string>();
  let previous = -1n;
  const chains = new Map<string, StatusEvent[]>();
  for (const event of replay.events) {
    if (!/^\d+$/.test(event.sequence)) {
      problems.push(`sequence ${event.sequence} is not an integer`);
      continue;
    }
    const sequence = BigInt(event.sequence);
    if (seen.has(event.sequence)) problems.push(`sequence ${event.sequence} twice`);
    if (sequence <= previous) problems.push(`sequence ${event.sequence} after ${previous}`);
    seen.add(event.sequence);
    previous = sequence > previous ? sequence : previous;
    chains.set(event.paymentId, [...(chains.get(event.paymentId) ?? []), event]);
  }
  for (const payment of payments) {
    const chain = chains.get(payment.id) ?? [];
    if (chain.length === 0) {
      problems.push(`payment ${payment.id} (${payment.status}) has no event in the replay`);
      continue;
    }
    if (chain[0]!.previousStatus !== null) problems.push(`payment ${payment.id}: first event ${chain[0]!.previousStatus}→${chain[0]!.status}`);
    for (let index = 1; index < chain.length; index += 1) {
      if (chain[index]!.previousStatus !== chain[index - 1]!.status) problems.push(`payment ${payment.id}: ${chain[index - 1]!.status} then ${chain[index]!.previousStatus}→${chain[index]!.status} (a lost event)`);
    }
    if (chain.at(-1)!.status !== payment.status) problems.push(`payment ${payment.id} is ${payment.status}, its last event says ${chain.at(-1)!.status}`);
  }
  check(
    'the log replay is in integer order with each payment status chain complete',
    problems.length === 0 && replay.events.length > 0,
    `${replay.events.length} events for ${payments.length} payments, last sequence ${replay.events.at(-1)?.sequence ?? '-'}${problems.length ? `; ${problems.length} problems: ${short(problems.slice(0, 5))}` : ''}`,
  );
}

const eventKey = (event: StatusEvent) => `${event.sequence}:${event.paymentId}:${event.previousStatus}>${event.status}`;

async function checkSubscribers(gatewayUrl: string, subscribers: ResumingSubscriber[], check: Check) {
  const problems: string[] = [];
  const summary: string[] = [];
  for (const subscriber of subscribers) {
    // The viewer's log is not empty when the live subscriber received anything: wait for the replay's first event.
    const replay = await replayFromStart(gatewayUrl, subscriber.viewer, { quietMs: 3_000, timeoutMs: 40_000, atLeast: subscriber.events().length > 0 ? 1 : 0 });
    const want = replay.events.map(eventKey);
    const deadline = Date.now() + CATCH_UP_TIMEOUT_MS;
    while (Date.now() < deadline && subscriber.events().length < want.length) await sleep(250);
    const got = subscriber.events().map(eventKey);
    summary.push(`${subscriber.label}: ${got.length} received / ${want.length} replayed, ${subscriber.endings.length} resumes`);
    if (replay.error) problems.push(`${subscriber.label}: replay ended with ${replay.error}`);
    const wantSet = new Set(want);
    const gotSet = new Set(got);
    const missing = want.filter((key) => !gotSet.has(key));
    const extra = got.filter((key) => !wantSet.has(key));
    const duplicates = got.length - gotSet.size;
    const sequences = got.map((key) => BigInt(key.split(':')[0]!));
    const disorder = sequences.findIndex((sequence, index) => index > 0 && sequence <= sequences[index - 1]!);
    if (missing.length || extra.length || duplicates || disorder >= 0 || got.join() !== want.join()) {
      problems.push(
        `${subscriber.label}: ${missing.length} missing (e.g. ${short(missing.slice(0, 3))}), ${extra.length} not in the replay (e.g. ${short(extra.slice(0, 3))}), ${duplicates} duplicates` +
          `${disorder >= 0 ? `, out of order at ${disorder}: ${got[disorder - 1]} then ${got[disorder]}` : ''}; endings ${short(subscriber.endings.slice(0, 4), 300)}`,
      );
    }
  }
  check("every subscriber's events equal a replay from after 0 (order, no gap, no duplicate)", problems.length === 0, `${summary.join('; ')}${problems.length ? `\n${problems.join('\n')}` : ''}`);
}

async function checkNotifications(world: World, payments: PaymentView[], events: StatusEvent[], check: Check) {
  const reached = new Map<string, Set<string>>();
  for (const event of events) reached.set(event.paymentId, (reached.get(event.paymentId) ?? new Set()).add(event.status));
  const expected = new Map<string, Map<string, number>>();
  const expect = (userId: string, key: string, count = 1) => {
    const perUser = expected.get(userId) ?? new Map<string, number>();
    perUser.set(key, (perUser.get(key) ?? 0) + count);
    expected.set(userId, perUser);
  };
  for (const payment of payments) {
    const statuses = reached.get(payment.id) ?? new Set<string>();
    statuses.add(payment.status);
    for (const status of statuses) {
      const [buyer, merchant] = NOTIFIED[status] ?? [false, false];
      const key = `payment.${status.toLowerCase()}|${payment.id}`;
      if (buyer) expect(payment.order.buyerId, key);
      if (merchant) expect(payment.order.merchantId, key);
    }
    const refunds = payment.refunds.filter((refund) => refund.status === 'SUCCEEDED').length;
    if (refunds > 0) {
      expect(payment.order.buyerId, `refund.succeeded|${payment.id}`, refunds);
      expect(payment.order.merchantId, `refund.succeeded|${payment.id}`, refunds);
    }
  }
  const users = new Map<string, TestUser>([...world.buyers.entries(), ...world.merchants.map((merchant) => [merchant.id, merchant] as const)]);
  let pendingUsers = [...expected.keys()].filter((userId) => users.has(userId));
  const differences = new Map<string, string[]>();
  const deadline = Date.now() + CATCH_UP_TIMEOUT_MS;
  let expectedCount = 0;
  for (const perUser of expected.values()) for (const count of perUser.values()) expectedCount += count;
  while (pendingUsers.length > 0) {
    const stillPending: string[] = [];
    for (let index = 0; index < pendingUsers.length; index += 8) {
      await Promise.all(
        pendingUsers.slice(index, index + 8).map(async (userId) => {
          const actual = await notificationsOf(world.gatewayUrl, users.get(userId)!);
          const want = expected.get(userId)!;
          const diff: string[] = [];
          for (const [key, count] of want) if ((actual.get(key) ?? 0) !== count) diff.push(`${key}: ${actual.get(key) ?? 0} of ${count}`);
          for (const [key, count] of actual) if (!want.has(key)) diff.push(`${key}: ${count} unexpected`);
          if (diff.length) {
            differences.set(userId, diff);
            stillPending.push(userId);
          } else differences.delete(userId);
        }),
      );
    }
    pendingUsers = stillPending;
    if (pendingUsers.length === 0 || Date.now() > deadline) break;
    await sleep(2_000);
  }
  const missingTotal = [...differences.values()].reduce((sum, list) => sum + list.length, 0);
  check(
    'a notification for every payment and refund event',
    differences.size === 0,
    `${expectedCount} IN_APP notifications expected for ${expected.size} users${differences.size ? `; ${differences.size} users differ (${missingTotal} keys), e.g. ${short([...differences.entries()].slice(0, 3))}` : ', all found exactly once'}`,
  );
}

async function notificationsOf(gatewayUrl: string, user: TestUser): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  let after: string | null = null;
  for (let page = 0; page < 200; page += 1) {
    const answer = await request(gatewayUrl, NOTIFICATIONS, { after }, user.accessToken, 30_000);
    if (answer.kind !== 'ok') throw new Error(`notifications of ${user.id}: ${short(answer)}`);
    for (const edge of answer.data.notifications.edges) {
      const node = edge.node as { channel: string; type: string; body: string };
      if (node.channel !== 'IN_APP') continue;
      const paymentId = /Payment (\S+)\.$/.exec(node.body)?.[1];
      if (!paymentId) continue;
      const key = `${node.type}|${paymentId}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    if (!answer.data.notifications.pageInfo.hasNextPage) break;
    after = answer.data.notifications.pageInfo.endCursor;
  }
  return counts;
}

function checkLedgerFacts(facts: LedgerFacts | Error, check: Check) {
  if (facts instanceof Error) {
    check('money conserved per currency (all accounts and all entries sum to 0)', false, `could not read the ledger: ${facts.message}`);
    return;
  }
  const unbalanced = facts.sums.filter((row) => row.accounts !== 0n || row.entries !== 0n);
  check(
    'money conserved per currency (all accounts and all entries sum to 0)',
    unbalanced.length === 0 && facts.sums.length > 0 && facts.duplicateKeys.length === 0,
    `${short(facts.sums)}; ${facts.userWallets} user wallets${facts.duplicateKeys.length ? `; keys with two ledger rows: ${short(facts.duplicateKeys)}` : ''}${facts.negativeWallets.length ? `; NEGATIVE wallets in the ledger tables: ${short(facts.negativeWallets.slice(0, 5))}` : ''}`,
  );
  if (facts.negativeWallets.length > 0) {
    check('no negative balance', false, `ledger tables: ${short(facts.negativeWallets.slice(0, 5))}`);
  }
}
