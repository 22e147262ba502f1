/**
 * The calls payments makes to other services, each with its service token and the request id.
 * Every money-moving call carries an idempotency key derived from the payment or refund id, so a
 * step repeated by recovery is applied once.
 */
import { ErrorCode } from '@paygraph/errors';
import { lookupCache, type LookupCache } from '@paygraph/server';
import { ServiceCallError, type ServiceClient } from '@paygraph/service-client';

/**
 * The idempotency keys payments sends to the ledger, built in one place: the ledger applies each
 * once, and reconciliation and recovery look the same keys up to learn what the ledger did.
 */
export const ledgerKeys = {
  authorize: (paymentId: string) => `payment:${paymentId}:authorize`,
  capture: (paymentId: string) => `payment:${paymentId}:capture`,
  refund: (refundId: string) => `refund:${refundId}`,
} as const;

/** Errors of a connection that never got an answer (refused, reset, timed out). */
const CONNECTION_ERROR_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/**
 * True when a call failed because the callee could not be reached or could not answer (its
 * database down, a timeout, a refused connection): the step did not run, or its effect is keyed and
 * a retry finds it. False for an answer (a refusal with a public code other than
 * SERVICE_UNAVAILABLE), which is final for the step.
 */
export function isUnavailable(error: unknown, depth = 0): boolean {
  if (typeof error !== 'object' || error === null || depth > 3) return false;
  const record = error as { name?: unknown; code?: unknown; extensions?: { code?: unknown }; cause?: unknown };
  if (record.extensions?.code === ErrorCode.SERVICE_UNAVAILABLE) return true;
  if (error instanceof ServiceCallError || record.name === 'ServiceCallError') return true;
  if (record.name === 'AbortError' || record.name === 'TimeoutError') return true;
  if (typeof record.code === 'string' && CONNECTION_ERROR_CODES.has(record.code)) return true;
  return isUnavailable(record.cause, depth + 1);
}

export interface Services {
  client: ServiceClient;
  requestId?: string;
  /** Facts owned elsewhere that never (account ids) or rarely (roles) change, per service instance. */
  caches: { walletAccounts: LookupCache<string>; roles: LookupCache<string | null> };
}

export function createServiceCaches(): Services['caches'] {
  return {
    // A user's wallet account in a currency never changes once opened.
    walletAccounts: lookupCache<string>({ ttlMs: Number.POSITIVE_INFINITY, entriesMax: 100_000 }),
    // Roles are set at registration; a minute of staleness is harmless for "is a merchant".
    roles: lookupCache<string | null>({ ttlMs: 60_000, entriesMax: 10_000 }),
  };
}

const call = <T>(services: Services, target: string, query: string, variables: Record<string, unknown>) =>
  services.client.request<T>(target, query, variables, services.requestId ? { requestId: services.requestId } : {});

export function userRole(services: Services, userId: string): Promise<string | null> {
  return services.caches.roles.get(userId, async () => {
    const { user } = await call<{ user: { role: string } | null }>(services, 'users', `query User($id: ID!) { user(id: $id) { role } }`, { id: userId });
    return user?.role ?? null;
  });
}

export async function assessRisk(services: Services, input: { userId: string; merchantId: string; amount: bigint; currency: string; paymentId: string }) {
  const { assessRisk: assessment } = await call<{ assessRisk: { id: string; decision: 'APPROVE' | 'REVIEW' | 'DECLINE' } }>(
    services,
    'risk',
    `mutation Assess($input: AssessRiskInput!) { assessRisk(input: $input) { id decision } }`,
    { input: { userId: input.userId, merchantId: input.merchantId, paymentId: input.paymentId, amount: { amount: input.amount.toString(), currency: input.currency } } },
  );
  return assessment;
}

/** The ledger account of a user's wallet in a currency, opened through the wallet service. */
export function walletAccount(services: Services, userId: string, currency: string): Promise<string> {
  return services.caches.walletAccounts.get(`${userId}:${currency}`, async () => {
    const { openWallet } = await call<{ openWallet: { id: string } }>(services, 'wallet', `mutation Open($userId: ID!, $currency: Currency!) { openWallet(userId: $userId, currency: $currency) { id } }`, { userId, currency });
    return openWallet.id;
  });
}

export async function authorizeHold(services: Services, input: { paymentId: string; debitAccountId: string; creditAccountId: string; amount: bigint; currency: string; expiresAt: Date }) {
  const { authorizeHold: hold } = await call<{ authorizeHold: { id: string; expiresAt: string } }>(
    services,
    'ledger',
    `mutation Authorize($input: AuthorizeHoldInput!) { authorizeHold(input: $input) { id expiresAt } }`,
    {
      input: {
        idempotencyKey: ledgerKeys.authorize(input.paymentId),
        debitAccountId: input.debitAccountId,
        creditAccountId: input.creditAccountId,
        amount: { amount: input.amount.toString(), currency: input.currency },
        expiresAt: input.expiresAt.toISOString(),
        description: `Payment ${input.paymentId}`,
      },
    },
  );
  return { id: hold.id, expiresAt: new Date(hold.expiresAt) };
}

/** Posts all or part of a hold; returns the amount the ledger captured (a replay returns the first capture's). */
export async function captureHold(services: Services, input: { paymentId: string; holdId: string; amount: bigint }): Promise<bigint> {
  const { captureHold: hold } = await call<{ captureHold: { capturedAmount: { amount: string } | null } }>(
    services,
    'ledger',
    `mutation Capture($input: CaptureHoldInput!) { captureHold(input: $input) { id capturedAmount { amount } } }`,
    { input: { holdId: input.holdId, idempotencyKey: ledgerKeys.capture(input.paymentId), amount: input.amount.toString() } },
  );
  if (!hold.capturedAmount) throw new Error(`The ledger answered a capture of payment ${input.paymentId} without a captured amount`);
  return BigInt(hold.capturedAmount.amount);
}

export async function voidHold(services: Services, holdId: string) {
  await call(services, 'ledger', `mutation Void($holdId: ID!) { voidHold(holdId: $holdId) { id } }`, { holdId });
}

export async function refundTransfer(services: Services, input: { refundId: string; merchantAccountId: string; buyerAccountId: string; amount: bigint; currency: string }) {
  await call(services, 'ledger', `mutation Refund($input: TransferFundsInput!) { transferFunds(input: $input) { id } }`, {
    input: {
      idempotencyKey: ledgerKeys.refund(input.refundId),
      debitAccountId: input.merchantAccountId,
      creditAccountId: input.buyerAccountId,
      amount: { amount: input.amount.toString(), currency: input.currency },
      description: `Refund ${input.refundId}`,
    },
  });
}

export interface LedgerMovement {
  idempotencyKey: string;
  entries: { accountId: string; direction: 'DEBIT' | 'CREDIT'; amount: { amount: string } }[];
}

/** The ledger transactions of at most the ledger's KEYS_PER_LOOKUP_MAX keys (callers page). */
export async function ledgerMovements(services: Services, idempotencyKeys: string[]): Promise<LedgerMovement[]> {
  const { ledgerTransactionsByKeys } = await call<{ ledgerTransactionsByKeys: LedgerMovement[] }>(
    services,
    'ledger',
    `query Movements($keys: [String!]!) { ledgerTransactionsByKeys(keys: $keys) { idempotencyKey entries { accountId direction amount { amount } } } }`,
    { keys: idempotencyKeys },
  );
  return ledgerTransactionsByKeys;
}

/**
 * What the ledger captured for a payment (the credit of its capture transaction), or null when
 * it holds no capture for it: the fact recovery and a refused capture or void settle on.
 */
export async function capturedInLedger(services: Services, paymentId: string): Promise<bigint | null> {
  const [movement] = await ledgerMovements(services, [ledgerKeys.capture(paymentId)]);
  const credit = movement?.entries.find((entry) => entry.direction === 'CREDIT');
  return credit ? BigInt(credit.amount.amount) : null;
}
