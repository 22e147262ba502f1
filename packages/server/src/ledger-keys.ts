/**
 * The idempotency keys services send to the ledger, built in one place that both sides import:
 * callers build them here, the ledger bounds them (LEDGER_IDEMPOTENCY_KEY_LENGTH_MAX), and
 * reconciliation and recovery look the same keys up to learn what the ledger did. Each key is
 * namespaced by its caller and derived from an id the caller owns, so a step repeated by recovery
 * is applied once and two callers' keys never collide.
 */
import { CLIENT_IDEMPOTENCY_KEY_LENGTH_MAX } from './idempotency';

/** Ledger keys are namespaced (`wallet:<user>:<client key>`), so longer than clients' own keys. */
export const LEDGER_IDEMPOTENCY_KEY_LENGTH_MAX = 200;

export type PaymentAuthorizeKey = `payment:${string}:authorize`;
export type PaymentCaptureKey = `payment:${string}:capture`;
export type RefundKey = `refund:${string}`;
export type WalletTransferKey = `wallet:${string}:${string}`;
export type LedgerKey = PaymentAuthorizeKey | PaymentCaptureKey | RefundKey | WalletTransferKey;

export const ledgerKeys = {
  /** The hold a payment places on the buyer's wallet. */
  authorize: (paymentId: string): PaymentAuthorizeKey => `payment:${paymentId}:authorize`,
  /** The capture of that hold (looked up by recovery and reconciliation). */
  capture: (paymentId: string): PaymentCaptureKey => `payment:${paymentId}:capture`,
  /** The transfer that refunds part or all of a captured payment. */
  refund: (refundId: string): RefundKey => `refund:${refundId}`,
  /** A wallet top-up or withdrawal: the client's own key (already checked), namespaced per user. */
  wallet: (userId: string, clientKey: string): WalletTransferKey => `wallet:${userId}:${clientKey}`,
} as const;

/**
 * The namespaces of the keys above. A person posting by hand (an admin's postLedgerTransaction)
 * may not use them: a key taken there would stand for a payment's capture, a refund or a user's
 * top-up, and the service that owns it would take that posting for its own.
 */
export const RESERVED_LEDGER_KEY_PREFIXES = ['payment:', 'refund:', 'wallet:'] as const;

/** True when the key is in a namespace the platform's services own. */
export const isReservedLedgerKey = (key: string): boolean => RESERVED_LEDGER_KEY_PREFIXES.some((prefix) => key.startsWith(prefix));

// A wallet key must fit the ledger's bound whatever the client's key: user ids are prefixed ids
// well under the room left.
const WALLET_KEY_ROOM = LEDGER_IDEMPOTENCY_KEY_LENGTH_MAX - CLIENT_IDEMPOTENCY_KEY_LENGTH_MAX - 'wallet::'.length;
if (WALLET_KEY_ROOM < 32) throw new Error('LEDGER_IDEMPOTENCY_KEY_LENGTH_MAX leaves no room for a user id in wallet keys');
