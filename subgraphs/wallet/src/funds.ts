/**
 * Top-up and withdrawal: the wallet asks the ledger to move money between the user's account and
 * the system bank account. The ledger enforces balance and idempotency; the wallet namespaces the
 * client's key per user so two users' keys never collide.
 */
import { assertIdempotencyKey, ledgerKeys, lookupCache, type LookupCache } from '@paygraph/server';
import { assertMovableAmount, type Money } from '@paygraph/money';
import type { ServiceClient } from '@paygraph/service-client';
import type { WalletRow } from './db/schema';
import type { WalletStore } from './store/wallet-store';
import { ledgerPort, walletUnfunded } from './ports/ledger';

export interface FundsDeps {
  store: WalletStore;
  ledger: ServiceClient;
  requestId: string;
  /** System bank account id per currency, looked up once per service instance. */
  systemAccounts: LookupCache<string>;
}

export async function ensureWallet(deps: FundsDeps, userId: string, currency: string): Promise<WalletRow> {
  const existing = await deps.store.find(userId, currency);
  if (existing) return existing;
  const accountId = await ledgerPort(deps.ledger, deps.requestId).openAccount(userId, currency);
  return deps.store.insert({ id: accountId, userId, currency });
}

/** Account ids never change once created: kept for the life of the service instance. */
export const systemAccountsCache = () => lookupCache<string>({ ttlMs: Number.POSITIVE_INFINITY, entriesMax: 1_000 });

function systemAccountId(deps: FundsDeps, currency: string): Promise<string> {
  return deps.systemAccounts.get(currency, () => ledgerPort(deps.ledger, deps.requestId).systemAccount(currency));
}

export async function moveFunds(
  deps: FundsDeps,
  userId: string,
  direction: 'credit' | 'debit',
  input: { amount: Money; idempotencyKey: string },
): Promise<WalletRow> {
  const amount = assertMovableAmount(input.amount, 'input.amount');
  const key = assertIdempotencyKey(input.idempotencyKey);
  // A withdrawal from a wallet the user never had is refused without opening one (a refusal
  // changes nothing); a replay of an earlier withdrawal always finds its wallet.
  const existing = direction === 'debit' ? await deps.store.find(userId, amount.currency) : null;
  if (direction === 'debit' && !existing) throw walletUnfunded();
  const wallet = existing ?? (await ensureWallet(deps, userId, amount.currency));
  const bank = await systemAccountId(deps, amount.currency);
  const [debitAccountId, creditAccountId] = direction === 'credit' ? [bank, wallet.id] : [wallet.id, bank];
  await ledgerPort(deps.ledger, deps.requestId).transfer({
    idempotencyKey: ledgerKeys.wallet(userId, key),
    debitAccountId,
    creditAccountId,
    amount: { amount: amount.amount.toString(), currency: amount.currency },
    description: direction === 'credit' ? 'Wallet top-up' : 'Wallet withdrawal',
  });
  return wallet;
}
