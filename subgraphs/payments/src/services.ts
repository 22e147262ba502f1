/**
 * The calls payments makes to other services (its ports), each with its service token and the
 * request id. The operations are the documents in src/ports/*.graphql, typed by GraphQL Code
 * Generator from each callee's schema (src/generated/<callee>-operations.ts). Every money-moving
 * call carries an idempotency key derived from the payment or refund id, so a step repeated by
 * recovery is applied once.
 *
 * What a callee refuses is translated here into payments' terms, so a payOrder, capturePayment,
 * cancelOrder or refundPayment caller never sees a ledger message or a ledger input path: the
 * refusals the payment steps read (INSUFFICIENT_FUNDS, a hold no longer capturable or voidable)
 * keep their code with payments' own message and no field; any other refusal means payments sent
 * what the callee cannot accept, an internal error (ServiceContractError, masked for clients).
 * SERVICE_UNAVAILABLE passes through unchanged (isUnavailable).
 */
import { apiError, ErrorCode, invalidState, OUT_OF_RANGE_MESSAGE } from '@paygraph/errors';
import { KEYS_PER_LOOKUP_MAX } from '@paygraph/ledger/limits';
import { ledgerKeys, lookupCache, type LookupCache } from '@paygraph/server';
import { createPort, ServiceCallError, ServiceContractError, translations, type Port, type Refusal, type ServiceClient } from '@paygraph/service-client';
import { AuthorizeAndCaptureHoldDocument, AuthorizeHoldDocument, CaptureHoldDocument, LedgerMovementsDocument, RefundTransferDocument, VoidHoldDocument, type LedgerMovementsQuery } from './generated/ledger-operations';
import { AssessRiskDocument, type AssessRiskMutation } from './generated/risk-operations';
import { UserRoleDocument } from './generated/users-operations';
import { OpenWalletDocument } from './generated/wallet-operations';

/**
 * The idempotency keys payments sends to the ledger: the typed builders both sides import
 * (packages/server ledger-keys.ts), re-exported for the saga, recovery and reconciliation.
 */
export { ledgerKeys };

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

/** The port to one callee for this request (its request id); translations are per call below. */
const port = (services: Services, service: 'ledger' | 'risk' | 'users' | 'wallet'): Port =>
  createPort({ client: services.client, service, callOptions: services.requestId ? { requestId: services.requestId } : {} });

/** The user's role, or null when users knows no such user (or refuses the id as malformed). */
export function userRole(services: Services, userId: string): Promise<string | null> {
  return services.caches.roles.get(userId, async () => {
    const answer = await port(services, 'users').call(UserRoleDocument, { id: userId }, { translate: { BAD_USER_INPUT: translations.outcome(null), NOT_FOUND: translations.outcome(null) } });
    return answer?.user?.role ?? null;
  });
}

/** Risk's decision; any refusal is an internal error, which the payment step fails closed on. */
export async function assessRisk(services: Services, input: { userId: string; merchantId: string; amount: bigint; currency: string; paymentId: string }): Promise<AssessRiskMutation['assessRisk']> {
  const { assessRisk: assessment } = await port(services, 'risk').call(AssessRiskDocument, {
    input: { userId: input.userId, merchantId: input.merchantId, paymentId: input.paymentId, amount: { amount: input.amount.toString(), currency: input.currency } },
  });
  return assessment;
}

/**
 * The ledger account of a user's wallet in a currency, opened through the wallet service: wallet
 * records the wallet (so `User.wallets` lists it, a merchant's too before any top-up) and opens
 * its ledger account once. Cached for the life of the process, so the hop costs one call per user
 * and currency.
 */
export function walletAccount(services: Services, userId: string, currency: string): Promise<string> {
  return services.caches.walletAccounts.get(`${userId}:${currency}`, async () => (await port(services, 'wallet').call(OpenWalletDocument, { userId, currency })).openWallet.id);
}

const buyerUnfunded = translations.error(ErrorCode.INSUFFICIENT_FUNDS, "The buyer's wallet does not have enough available funds.");
const merchantUnfunded = translations.error(ErrorCode.INSUFFICIENT_FUNDS, 'The merchant no longer has the funds to refund this amount.');
/**
 * A total the movement would make is past what the ledger can record (an account's credits or
 * debits near PostgreSQL's bigint of minor units): BAD_USER_INPUT with the ledger's message, which
 * the steps read as the outcome AMOUNT_TOO_LARGE. Any other invalid input is a broken contract.
 */
const outOfRange = (refusal: Refusal) => (refusal.message === OUT_OF_RANGE_MESSAGE ? apiError(ErrorCode.BAD_USER_INPUT, OUT_OF_RANGE_MESSAGE) : new ServiceContractError(refusal, 'a ledger operation'));

/** True when a ledger movement was refused because a total it would make cannot be recorded (outOfRange). */
export const isOutOfRange = (error: unknown): boolean => {
  const record = error as { extensions?: { code?: unknown }; message?: unknown } | null;
  return record?.extensions?.code === ErrorCode.BAD_USER_INPUT && record.message === OUT_OF_RANGE_MESSAGE;
};

/** The hold was captured, voided or expired: the step settles on the ledger's facts (flow.ts). */
const holdSettled = () => invalidState("The payment's hold is no longer pending.");
/** The capture key was used with another amount: also settled on the facts. */
const captureKeyUsed = () => apiError(ErrorCode.IDEMPOTENCY_KEY_REUSED, "The payment's capture was already posted with another amount.");

type HoldInput = { paymentId: string; debitAccountId: string; creditAccountId: string; amount: bigint; currency: string; expiresAt: Date };

const holdInput = (input: HoldInput) => ({
  idempotencyKey: ledgerKeys.authorize(input.paymentId),
  debitAccountId: input.debitAccountId,
  creditAccountId: input.creditAccountId,
  amount: { amount: input.amount.toString(), currency: input.currency },
  expiresAt: input.expiresAt.toISOString(),
  description: `Payment ${input.paymentId}`,
});

export async function authorizeHold(services: Services, input: HoldInput) {
  const { authorizeHold: hold } = await port(services, 'ledger').call(AuthorizeHoldDocument, { input: holdInput(input) }, { translate: { INSUFFICIENT_FUNDS: buyerUnfunded, BAD_USER_INPUT: outOfRange } });
  return { id: hold.id, expiresAt: new Date(hold.expiresAt) };
}

/**
 * Places the hold and captures all of it under the payment's capture key, in one ledger
 * transaction (an automatic capture that risk approved): the keys of authorizeHold and captureHold,
 * so a repeat replays what either posted. Returns the hold and the amount the ledger captured.
 * Refusals: INSUFFICIENT_FUNDS; INVALID_STATE or IDEMPOTENCY_KEY_REUSED when a hold placed earlier
 * under the key is no longer capturable or its capture key was used (settled on the facts).
 */
export async function authorizeAndCaptureHold(services: Services, input: HoldInput) {
  const { authorizeHold: hold } = await port(services, 'ledger').call(
    AuthorizeAndCaptureHoldDocument,
    { input: { ...holdInput(input), captureIdempotencyKey: ledgerKeys.capture(input.paymentId) } },
    { translate: { INSUFFICIENT_FUNDS: buyerUnfunded, INVALID_STATE: holdSettled, IDEMPOTENCY_KEY_REUSED: captureKeyUsed, BAD_USER_INPUT: outOfRange } },
  );
  if (!hold.capturedAmount) throw new Error(`The ledger answered an automatic capture of payment ${input.paymentId} without a captured amount`);
  return { id: hold.id, expiresAt: new Date(hold.expiresAt), captured: BigInt(hold.capturedAmount.amount) };
}

/** Posts all or part of a hold; returns the amount the ledger captured (a replay returns the first capture's). */
export async function captureHold(services: Services, input: { paymentId: string; holdId: string; amount: bigint }): Promise<bigint> {
  const { captureHold: hold } = await port(services, 'ledger').call(
    CaptureHoldDocument,
    { input: { holdId: input.holdId, idempotencyKey: ledgerKeys.capture(input.paymentId), amount: input.amount.toString() } },
    { translate: { INVALID_STATE: holdSettled, IDEMPOTENCY_KEY_REUSED: captureKeyUsed, BAD_USER_INPUT: outOfRange } },
  );
  if (!hold.capturedAmount) throw new Error(`The ledger answered a capture of payment ${input.paymentId} without a captured amount`);
  return BigInt(hold.capturedAmount.amount);
}

/** Releases a hold; INVALID_STATE when the ledger captured it (flow.ts settles on the capture). */
export async function voidHold(services: Services, holdId: string) {
  await port(services, 'ledger').call(VoidHoldDocument, { holdId }, { translate: { INVALID_STATE: holdSettled } });
}

export async function refundTransfer(services: Services, input: { refundId: string; merchantAccountId: string; buyerAccountId: string; amount: bigint; currency: string }) {
  await port(services, 'ledger').call(
    RefundTransferDocument,
    {
      input: {
        idempotencyKey: ledgerKeys.refund(input.refundId),
        debitAccountId: input.merchantAccountId,
        creditAccountId: input.buyerAccountId,
        amount: { amount: input.amount.toString(), currency: input.currency },
        description: `Refund ${input.refundId}`,
      },
    },
    { translate: { INSUFFICIENT_FUNDS: merchantUnfunded, BAD_USER_INPUT: outOfRange } },
  );
}

export type LedgerMovement = LedgerMovementsQuery['ledgerTransactionsByKeys'][number];

/**
 * The ledger transactions of at most the ledger's KEYS_PER_LOOKUP_MAX keys (callers page); the
 * limit is the ledger's own constant, and more keys is a programmer error, never sent.
 */
export async function ledgerMovements(services: Services, idempotencyKeys: string[]): Promise<LedgerMovement[]> {
  if (idempotencyKeys.length > KEYS_PER_LOOKUP_MAX) throw new Error(`ledgerMovements takes at most the ledger's ${KEYS_PER_LOOKUP_MAX} keys per call, not ${idempotencyKeys.length}: page them`);
  const { ledgerTransactionsByKeys } = await port(services, 'ledger').call(LedgerMovementsDocument, { keys: idempotencyKeys });
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
