/**
 * The ledger's limits that its callers must respect, in a module with no dependencies so a caller
 * (payments' reconciliation) imports them instead of re-typing them.
 */

/** Idempotency keys looked up at once by `ledgerTransactionsByKeys` (callers page through more). */
export const KEYS_PER_LOOKUP_MAX = 500;
