/**
 * Wallet's port to the ledger: the operations of ledger.graphql, typed from the ledger's schema,
 * and what the ledger's refusals mean to a wallet caller. The ledger speaks of accounts and
 * transfers (`input.debitAccountId`, "The account ..."); a creditWallet or debitWallet caller knows
 * its wallet and its own key. Any other refusal is a broken contract (wallet validates amounts and
 * currencies before it asks): an internal error.
 */
import { apiError, badUserInput, ErrorCode, idempotencyKeyReused, OUT_OF_RANGE_MESSAGE } from '@paygraph/errors';
import { createPort, ServiceContractError, type ServiceClient } from '@paygraph/service-client';
import { OpenAccountDocument, SystemAccountDocument, TransferDocument, type TransferFundsInput } from '../generated/ledger-operations';

export interface LedgerPort {
  openAccount(ownerId: string, currency: string): Promise<string>;
  systemAccount(currency: string): Promise<string>;
  /** INSUFFICIENT_FUNDS and IDEMPOTENCY_KEY_REUSED in the wallet caller's terms. */
  transfer(input: TransferFundsInput): Promise<void>;
}

/** What a withdrawal the wallet cannot fund is told (the ledger's refusal, or no wallet in that currency at all). */
export const walletUnfunded = () => apiError(ErrorCode.INSUFFICIENT_FUNDS, 'Your wallet does not have enough available funds.');

export function ledgerPort(client: ServiceClient, requestId?: string): LedgerPort {
  const port = createPort({
    client,
    service: 'ledger',
    callOptions: requestId ? { requestId } : {},
    translate: {
      INSUFFICIENT_FUNDS: walletUnfunded,
      // The ledger key is the wallet's namespaced copy of the client's key.
      IDEMPOTENCY_KEY_REUSED: () => idempotencyKeyReused('input.idempotencyKey'),
      // Totals past PostgreSQL's bigint (a flood of maximal top-ups): the amount is what cannot be
      // recorded. Any other invalid input is a broken contract, as before.
      BAD_USER_INPUT: (refusal) => (refusal.message === OUT_OF_RANGE_MESSAGE ? badUserInput(OUT_OF_RANGE_MESSAGE, 'input.amount.amount') : new ServiceContractError(refusal, 'a ledger operation')),
    },
  });
  return {
    openAccount: async (ownerId, currency) => (await port.call(OpenAccountDocument, { ownerId, currency })).openAccount.id,
    systemAccount: async (currency) => (await port.call(SystemAccountDocument, { currency })).systemAccount.id,
    transfer: async (input) => {
      await port.call(TransferDocument, { input });
    },
  };
}
