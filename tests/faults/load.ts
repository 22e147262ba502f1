/**
 * The bank workload: a fixed number of concurrent clients, each a buyer (renewed every few
 * payments, so the velocity rule stays out of the way) paying the scenario's merchants. Every
 * answer is recorded: acknowledged writes are what the checks must find afterwards; ambiguous
 * ones (timeout, network error, SERVICE_UNAVAILABLE) are retried with the same idempotency key and,
 * when still ambiguous after the load, resolved by the same replay once the platform is back.
 */
import { randomBytes } from 'node:crypto';
import { registerAndLogin, type TestUser } from '@paygraph/testing';
import { request, sleep, seededRandom, Stats, type Answer } from './client';

export const CURRENCIES = ['USD', 'EUR'] as const;
export type Currency = (typeof CURRENCIES)[number];

/** Attempts of one keyed operation during the load (then left to the resolution phase). */
const RETRIES_MAX = 3;
const RETRY_FIRST_MS = 300;
/** A buyer pays at most this many orders: the velocity rule reviews the 11th attempt in 10 minutes. */
const PAYMENTS_PER_BUYER_MAX = 8;
/** Minor units each new buyer is topped up with, per currency (5,000.00). */
const BUYER_FUNDING_MINOR = 500_000n;
/** Above 1,000.00 a new account's payment is reviewed (risk NEW_ACCOUNT): the review path. */
const REVIEW_AMOUNT_MINOR = 150_000n;
/** How much earlier one side of a capture/cancel race may start. */
const RACE_HEAD_START_MS_MAX = 40;
/** After an ambiguous answer anywhere, clients start no new operation for a while (bounded). */
const TROUBLE_WINDOW_MS = 1_000;
const TROUBLE_PAUSE_MS = 250;
const PAUSES_MAX = 8;
/** Attempts to register a buyer while the platform is down. */
const REGISTER_ATTEMPTS_MAX = 20;

const WALLET = 'id balance { amount } available { amount }';
const CREDIT = `mutation($input: CreditWalletInput!) { creditWallet(input: $input) { ${WALLET} } }`;
const DEBIT = `mutation($input: DebitWalletInput!) { debitWallet(input: $input) { ${WALLET} } }`;
const CREATE_ORDER = `mutation($input: CreateOrderInput!) { createOrder(input: $input) { id status } }`;
const PAY = `mutation($input: PayOrderInput!) { payOrder(input: $input) { id status failureCode amountCaptured { amount } } }`;
const CAPTURE = `mutation($id: ID!, $amount: MoneyInput) { capturePayment(id: $id, amount: $amount) { id status amountCaptured { amount } } }`;
const CANCEL = `mutation($id: ID!) { cancelOrder(id: $id) { id status } }`;
const REVIEW = `mutation($input: ReviewPaymentInput!) { reviewPayment(input: $input) { id status amountCaptured { amount } } }`;
const REFUND = `mutation($input: RefundPaymentInput!) { refundPayment(input: $input) { id status amount { amount } } }`;

export type Outcome = 'acked' | 'rejected' | 'ambiguous';

export interface WalletOperation {
  kind: 'credit' | 'debit';
  buyerId: string;
  key: string;
  amount: bigint;
  currency: Currency;
  outcome: Outcome;
}

export interface PayOperation {
  key: string;
  buyerId: string;
  orderId: string;
  captureMethod: 'AUTOMATIC' | 'MANUAL';
  outcome: Outcome;
  /** Every payment id any answer for this key named: more than one is a second effect. */
  paymentIds: Set<string>;
  /** The first acknowledged answer. */
  acked: { id: string; status: string } | null;
}

export interface CaptureOperation {
  paymentId: string;
  amount: bigint;
  outcome: Outcome;
  code?: string;
}

export interface RefundOperation {
  key: string;
  paymentId: string;
  amount: bigint;
  currency: Currency;
  merchantId: string;
  outcome: Outcome;
  refundIds: Set<string>;
  acked: { id: string } | null;
}

export interface RaceOperation {
  orderId: string;
  paymentId: string;
  capture: Outcome;
  cancel: Outcome;
}

export interface World {
  gatewayUrl: string;
  admin: TestUser;
  merchants: TestUser[];
  buyers: Map<string, TestUser>;
  wallet: WalletOperation[];
  orders: Map<string, { buyerId: string; merchantId: string; acked: boolean }>;
  pays: Map<string, PayOperation>;
  captures: CaptureOperation[];
  refunds: Map<string, RefundOperation>;
  cancels: { orderId: string; outcome: Outcome }[];
  races: RaceOperation[];
  stats: Stats;
  /** When any client last got an ambiguous answer: clients pause while the platform is away. */
  lastAmbiguousAt: number;
}

export function newWorld(gatewayUrl: string, admin: TestUser, merchants: TestUser[]): World {
  return { gatewayUrl, admin, merchants, buyers: new Map(), wallet: [], orders: new Map(), pays: new Map(), captures: [], refunds: new Map(), cancels: [], races: [], stats: new Stats(), lastAmbiguousAt: 0 };
}

const newKey = (label: string) => `fault-${label}-${randomBytes(8).toString('hex')}`;
const money = (amount: bigint, currency: string) => ({ amount: amount.toString(), currency });
const outcomeOf = (answer: Answer): Outcome => (answer.kind === 'ok' ? 'acked' : answer.kind);

async function call(world: World, query: string, variables: Record<string, unknown>, token: string, write = true): Promise<Answer> {
  const answer = await request(world.gatewayUrl, query, variables, token);
  world.stats.record(answer, write);
  if (answer.kind === 'ambiguous') world.lastAmbiguousAt = Date.now();
  return answer;
}

/** Repeats an operation while its answer is ambiguous, with the same parameters (and key). */
async function withRetries(attempt: () => Promise<Answer>, onAnswer: (answer: Answer) => void, stopped: () => boolean): Promise<Answer> {
  let answer = await attempt();
  onAnswer(answer);
  for (let retry = 1; answer.kind === 'ambiguous' && retry <= RETRIES_MAX && !stopped(); retry += 1) {
    await sleep(RETRY_FIRST_MS * 2 ** (retry - 1));
    answer = await attempt();
    onAnswer(answer);
  }
  return answer;
}

export interface LoadOptions {
  clients: number;
  operationsPerClient: number;
  /** The load stops by itself at this time (epoch ms) whatever is left. */
  deadline: number;
  seed: number;
}

/** Runs the clients until each has made its operations or the deadline (or stop()) comes. */
export function startLoad(world: World, options: LoadOptions) {
  let stopRequested = false;
  const stopped = () => stopRequested || Date.now() > options.deadline;
  const clients = Array.from({ length: options.clients }, (_, index) => runClient(world, index, options, stopped));
  return {
    stop: () => {
      stopRequested = true;
    },
    done: Promise.all(clients).then(() => undefined),
  };
}

async function registerBuyer(world: World, stopped: () => boolean): Promise<TestUser | null> {
  for (let attempt = 0; attempt < REGISTER_ATTEMPTS_MAX && !stopped(); attempt += 1) {
    try {
      const buyer = await registerAndLogin({ register: world.gatewayUrl, login: world.gatewayUrl }, 'BUYER', { name: `Fault Buyer ${randomBytes(3).toString('hex')}` });
      world.buyers.set(buyer.id, buyer);
      return buyer;
    } catch {
      await sleep(500 * Math.min(attempt + 1, 4));
    }
  }
  return null;
}

async function walletOperation(world: World, buyer: TestUser, kind: 'credit' | 'debit', amount: bigint, currency: Currency, stopped: () => boolean) {
  const operation: WalletOperation = { kind, buyerId: buyer.id, key: newKey(kind), amount, currency, outcome: 'ambiguous' };
  world.wallet.push(operation);
  const answer = await withRetries(
    () => call(world, kind === 'credit' ? CREDIT : DEBIT, { input: { amount: money(amount, currency), idempotencyKey: operation.key } }, buyer.accessToken),
    () => undefined,
    stopped,
  );
  operation.outcome = outcomeOf(answer);
}

async function runClient(world: World, index: number, options: LoadOptions, stopped: () => boolean) {
  const random = seededRandom(options.seed * 1_000 + index);
  const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)]!;
  const between = (low: number, high: number) => BigInt(low + Math.floor(random() * (high - low + 1)));
  let buyer: TestUser | null = null;
  let paymentsOfBuyer = 0;
  /** This client's succeeded payments with what was captured, for refunds. */
  const refundable: { paymentId: string; captured: bigint; currency: Currency; merchant: TestUser }[] = [];

  const renewBuyer = async () => {
    buyer = await registerBuyer(world, stopped);
    paymentsOfBuyer = 0;
    if (!buyer) return;
    for (const currency of CURRENCIES) await walletOperation(world, buyer, 'credit', BUYER_FUNDING_MINOR, currency, stopped);
  };

  /** createOrder then payOrder with a fresh key; returns the payment when an answer named it. */
  const payNewOrder = async (payer: TestUser, merchant: TestUser, amount: bigint, currency: Currency, captureMethod: 'AUTOMATIC' | 'MANUAL') => {
    paymentsOfBuyer += 1;
    const created = await call(world, CREATE_ORDER, { input: { merchantId: merchant.id, amount: money(amount, currency) } }, payer.accessToken);
    if (created.kind !== 'ok') return null;
    const orderId = created.data.createOrder.id as string;
    world.orders.set(orderId, { buyerId: payer.id, merchantId: merchant.id, acked: true });
    const operation: PayOperation = { key: newKey('pay'), buyerId: payer.id, orderId, captureMethod, outcome: 'ambiguous', paymentIds: new Set(), acked: null };
    world.pays.set(operation.key, operation);
    const answer = await withRetries(
      () => call(world, PAY, { input: { orderId, idempotencyKey: operation.key, captureMethod } }, payer.accessToken),
      (each) => {
        if (each.kind !== 'ok') return;
        operation.paymentIds.add(each.data.payOrder.id);
        operation.acked ??= { id: each.data.payOrder.id, status: each.data.payOrder.status };
      },
      stopped,
    );
    operation.outcome = outcomeOf(answer);
    if (answer.kind !== 'ok') return null;
    // Now and then the same key again, as a client that lost the answer: the same payment must come back.
    if (random() < 0.1) {
      const replay = await call(world, PAY, { input: { orderId, idempotencyKey: operation.key, captureMethod } }, payer.accessToken);
      if (replay.kind === 'ok') operation.paymentIds.add(replay.data.payOrder.id);
    }
    return { orderId, id: answer.data.payOrder.id as string, status: answer.data.payOrder.status as string };
  };

  const capture = async (merchant: TestUser, paymentId: string, amount: bigint | null, currency: Currency) => {
    const operation: CaptureOperation = { paymentId, amount: amount ?? 0n, outcome: 'ambiguous' };
    world.captures.push(operation);
    const answer = await withRetries(
      () => call(world, CAPTURE, { id: paymentId, amount: amount === null ? null : money(amount, currency) }, merchant.accessToken),
      () => undefined,
      stopped,
    );
    operation.outcome = outcomeOf(answer);
    if (answer.kind !== 'ok') operation.code = answer.code;
    return answer;
  };

  /** An admin decides a review; an approval is acknowledged like a full capture (the payment succeeds). */
  const review = async (paymentId: string, decision: 'APPROVE' | 'REJECT') => {
    const operation: CaptureOperation = { paymentId, amount: 0n, outcome: 'ambiguous' };
    if (decision === 'APPROVE') world.captures.push(operation);
    const answer = await withRetries(() => call(world, REVIEW, { input: { paymentId, decision, note: 'fault suite' } }, world.admin.accessToken), () => undefined, stopped);
    operation.outcome = outcomeOf(answer);
    if (answer.kind !== 'ok') operation.code = answer.code;
    return answer;
  };

  const cancel = async (payer: TestUser, orderId: string) => {
    const operation = { orderId, outcome: 'ambiguous' as Outcome };
    world.cancels.push(operation);
    const answer = await withRetries(() => call(world, CANCEL, { id: orderId }, payer.accessToken), () => undefined, stopped);
    operation.outcome = outcomeOf(answer);
    return answer;
  };

  for (let operationIndex = 0; operationIndex < options.operationsPerClient && !stopped(); operationIndex += 1) {
    // While requests fail as a whole (the platform is restarting), new work waits instead of spinning.
    for (let pause = 0; pause < PAUSES_MAX && Date.now() - world.lastAmbiguousAt < TROUBLE_WINDOW_MS && !stopped(); pause += 1) await sleep(TROUBLE_PAUSE_MS);
    if (!buyer || paymentsOfBuyer >= PAYMENTS_PER_BUYER_MAX) await renewBuyer();
    const payer = buyer as TestUser | null;
    if (!payer) break;
    const merchant = pick(world.merchants);
    const currency = pick(CURRENCIES);
    const roll = random();
    if (roll < 0.12) {
      await walletOperation(world, payer, 'credit', between(1_000, 50_000), currency, stopped);
    } else if (roll < 0.2) {
      await walletOperation(world, payer, 'debit', between(100, 40_000), currency, stopped);
    } else if (roll < 0.45) {
      const amount = between(500, 30_000);
      const paid = await payNewOrder(payer, merchant, amount, currency, 'AUTOMATIC');
      if (paid?.status === 'SUCCEEDED') refundable.push({ paymentId: paid.id, captured: amount, currency, merchant });
    } else if (roll < 0.6) {
      // Manual capture of part of the authorization.
      const amount = between(1_000, 30_000);
      const paid = await payNewOrder(payer, merchant, amount, currency, 'MANUAL');
      if (paid?.status !== 'AUTHORIZED') continue;
      const part = amount - between(1, Number(amount / 2n));
      const captured = await capture(merchant, paid.id, part, currency);
      if (captured.kind === 'ok') refundable.push({ paymentId: paid.id, captured: part, currency, merchant });
    } else if (roll < 0.72) {
      // The buyer cancels while the merchant captures: exactly one may win.
      const paid = await payNewOrder(payer, merchant, between(1_000, 30_000), currency, 'MANUAL');
      if (paid?.status !== 'AUTHORIZED') continue;
      // Either side may start first, by up to RACE_HEAD_START_MS_MAX, so both outcomes occur.
      const headStart = Math.floor(random() * RACE_HEAD_START_MS_MAX);
      const captureFirst = random() < 0.5;
      const [captured, canceled] = await Promise.all([
        sleep(captureFirst ? 0 : headStart).then(() => capture(merchant, paid.id, null, currency)),
        sleep(captureFirst ? headStart : 0).then(() => cancel(payer, paid.orderId)),
      ]);
      world.races.push({ orderId: paid.orderId, paymentId: paid.id, capture: outcomeOf(captured), cancel: outcomeOf(canceled) });
    } else if (roll < 0.77) {
      // Over the new-account limit: held for review, then approved or rejected by an admin, or
      // the order canceled by the buyer (the merchant may not capture it).
      const paid = await payNewOrder(payer, merchant, REVIEW_AMOUNT_MINOR, currency, 'AUTOMATIC');
      if (paid?.status !== 'REQUIRES_REVIEW') continue;
      const choice = random();
      if (choice < 0.4) await review(paid.id, 'APPROVE');
      else if (choice < 0.7) await review(paid.id, 'REJECT');
      else await cancel(payer, paid.orderId);
    } else {
      // Concurrent partial refunds of a succeeded payment; together they may ask for more than was captured.
      const target = refundable.length > 0 ? refundable[Math.floor(random() * refundable.length)]! : null;
      if (!target) continue;
      const captured = target.captured;
      const amounts = [0, 1, 2].map(() => between(1, Math.max(1, Number(captured / 3n) + 200)));
      await Promise.all(
        amounts.map(async (amount) => {
          const operation: RefundOperation = { key: newKey('refund'), paymentId: target.paymentId, amount, currency: target.currency, merchantId: target.merchant.id, outcome: 'ambiguous', refundIds: new Set(), acked: null };
          world.refunds.set(operation.key, operation);
          const answer = await withRetries(
            () => call(world, REFUND, { input: { paymentId: target.paymentId, amount: money(amount, target.currency), idempotencyKey: operation.key, reason: 'fault suite' } }, target.merchant.accessToken),
            (each) => {
              if (each.kind !== 'ok') return;
              operation.refundIds.add(each.data.refundPayment.id);
              operation.acked ??= { id: each.data.refundPayment.id };
            },
            stopped,
          );
          operation.outcome = outcomeOf(answer);
        }),
      );
    }
  }
}

/** Attempts per ambiguous operation in the resolution phase (the platform is back by then). */
const RESOLVE_ATTEMPTS_MAX = 8;
const RESOLVE_RETRY_MS = 1_000;

/**
 * After recovery every ambiguous keyed operation is sent again with the same key and parameters
 * (as a client would): the answer is now definite, and the operation has had exactly one effect.
 * Returns how many stayed ambiguous.
 */
export async function resolveAmbiguous(world: World): Promise<{ resolved: number; unresolved: string[] }> {
  let resolved = 0;
  const unresolved: string[] = [];
  const retry = async (label: string, attempt: () => Promise<Answer>, onDefinite: (answer: Answer) => void) => {
    let last: Answer | null = null;
    for (let index = 0; index < RESOLVE_ATTEMPTS_MAX; index += 1) {
      const answer = await attempt();
      if (answer.kind !== 'ambiguous') {
        onDefinite(answer);
        resolved += 1;
        return;
      }
      last = answer;
      await sleep(RESOLVE_RETRY_MS);
    }
    // The last answer tells a platform still down (fast SERVICE_UNAVAILABLE) from one stuck (slow).
    unresolved.push(last && last.kind === 'ambiguous' ? `${label} (last ${last.code} after ${last.ms} ms)` : label);
  };
  const tasks: (() => Promise<void>)[] = [];
  for (const operation of world.wallet.filter((each) => each.outcome === 'ambiguous')) {
    const buyer = world.buyers.get(operation.buyerId)!;
    tasks.push(() =>
      retry(
        `${operation.kind}Wallet ${operation.key}`,
        () => call(world, operation.kind === 'credit' ? CREDIT : DEBIT, { input: { amount: money(operation.amount, operation.currency), idempotencyKey: operation.key } }, buyer.accessToken),
        (answer) => (operation.outcome = outcomeOf(answer)),
      ),
    );
  }
  for (const operation of [...world.pays.values()].filter((each) => each.outcome === 'ambiguous')) {
    const buyer = world.buyers.get(operation.buyerId)!;
    tasks.push(() =>
      retry(
        `payOrder ${operation.key}`,
        () => call(world, PAY, { input: { orderId: operation.orderId, idempotencyKey: operation.key, captureMethod: operation.captureMethod } }, buyer.accessToken),
        (answer) => {
          operation.outcome = outcomeOf(answer);
          if (answer.kind === 'ok') operation.paymentIds.add(answer.data.payOrder.id);
        },
      ),
    );
  }
  for (const operation of [...world.refunds.values()].filter((each) => each.outcome === 'ambiguous')) {
    const merchant = world.merchants.find((each) => each.id === operation.merchantId)!;
    tasks.push(() =>
      retry(
        `refundPayment ${operation.key}`,
        () => call(world, REFUND, { input: { paymentId: operation.paymentId, amount: money(operation.amount, operation.currency), idempotencyKey: operation.key, reason: 'fault suite' } }, merchant.accessToken),
        (answer) => {
          operation.outcome = outcomeOf(answer);
          if (answer.kind === 'ok') operation.refundIds.add(answer.data.refundPayment.id);
        },
      ),
    );
  }
  // A few at a time: the platform has just recovered.
  const parallel = 4;
  for (let index = 0; index < tasks.length; index += parallel) await Promise.all(tasks.slice(index, index + parallel).map((task) => task()));
  return { resolved, unresolved };
}
