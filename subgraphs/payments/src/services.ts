/**
 * The calls payments makes to other services, each with its service token and the request id.
 * Every money-moving call carries an idempotency key derived from the payment or refund id, so a
 * step repeated by recovery is applied once.
 */
import { lookupCache, type LookupCache } from '@paygraph/server';
import type { ServiceClient } from '@paygraph/service-client';

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
        idempotencyKey: `payment:${input.paymentId}:authorize`,
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

export async function captureHold(services: Services, input: { paymentId: string; holdId: string; amount: bigint }) {
  await call(services, 'ledger', `mutation Capture($input: CaptureHoldInput!) { captureHold(input: $input) { id } }`, {
    input: { holdId: input.holdId, idempotencyKey: `payment:${input.paymentId}:capture`, amount: input.amount.toString() },
  });
}

export async function voidHold(services: Services, holdId: string) {
  await call(services, 'ledger', `mutation Void($holdId: ID!) { voidHold(holdId: $holdId) { id } }`, { holdId });
}

export async function refundTransfer(services: Services, input: { refundId: string; merchantAccountId: string; buyerAccountId: string; amount: bigint; currency: string }) {
  await call(services, 'ledger', `mutation Refund($input: TransferFundsInput!) { transferFunds(input: $input) { id } }`, {
    input: {
      idempotencyKey: `refund:${input.refundId}`,
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

export async function ledgerMovements(services: Services, idempotencyKeys: string[]): Promise<LedgerMovement[]> {
  const { ledgerTransactionsByKeys } = await call<{ ledgerTransactionsByKeys: LedgerMovement[] }>(
    services,
    'ledger',
    `query Movements($keys: [String!]!) { ledgerTransactionsByKeys(keys: $keys) { idempotencyKey entries { accountId direction amount { amount } } } }`,
    { keys: idempotencyKeys },
  );
  return ledgerTransactionsByKeys;
}
