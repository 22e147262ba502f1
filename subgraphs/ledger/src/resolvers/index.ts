import { badUserInput, forbidden } from '@paygraph/errors';
import { isAdmin, requireAdminOrScope, requireAuthenticated, requireRole, requireScope, requireUser, type Viewer } from '@paygraph/identity';
import { assertMovableAmount } from '@paygraph/money';
import { scalarResolvers } from '@paygraph/scalars';
import { connection, decodeCursor, isReservedLedgerKey, pageSize, RESERVED_LEDGER_KEY_PREFIXES } from '@paygraph/server';
import type { AccountRow } from '../db/schema';
import { assertBalancedPosting, assertDescription, assertLedgerKey, type PostingLine } from '../domain/postings';
import type { Resolvers } from '../generated/resolvers-types';
import { verifyLedger } from '../store/verify';
import { KEYS_PER_LOOKUP_MAX } from '../limits';

/** Scope of the services that move money through the ledger. */
export const LEDGER_WRITE_SCOPE = 'ledger:write';
export { KEYS_PER_LOOKUP_MAX } from '../limits';
/** How long a hold reserves funds unless told otherwise (like a card authorization). */
export const HOLD_EXPIRY_DEFAULT_MS = 7 * 24 * 60 * 60 * 1000;

const balanceOf = (account: AccountRow) => ({ amount: account.postedCredits - account.postedDebits, currency: account.currency });
const availableOf = (account: AccountRow) => ({ amount: account.postedCredits - account.postedDebits - account.pendingDebits, currency: account.currency });

/** An account is visible to its owner, admins and services. */
function canSee(viewer: Viewer, account: AccountRow): boolean {
  return viewer.kind === 'service' || isAdmin(viewer) || (viewer.kind === 'user' && viewer.userId === account.ownerId);
}

export const resolvers: Resolvers = {
  ...scalarResolvers,
  Query: {
    ledgerEntries: async (_parent, args, context) => {
      const viewer = requireUser(context.viewer);
      if (viewer.userId !== args.userId && viewer.role !== 'ADMIN') throw forbidden('You may only read your own ledger entries.');
      const limit = pageSize(args.first);
      const before = decodeCursor(args.after, 'ledgerEntries');
      const rows = await context.store.entriesOfOwner(args.userId, {
        start: args.start ?? null,
        end: args.end ?? null,
        beforePosition: before === null ? null : BigInt(before),
        limit: limit + 1,
      });
      return connection(rows, limit, (row) => row.position.toString(), 'ledgerEntries');
    },
    verifyLedger: async (_parent, _args, context) => {
      requireRole(context.viewer, 'ADMIN');
      return verifyLedger(context.db);
    },
    ledgerTransactionsByKeys: async (_parent, { keys }, context) => {
      requireScope(context.viewer, LEDGER_WRITE_SCOPE);
      if (keys.length > KEYS_PER_LOOKUP_MAX) throw badUserInput(`At most ${KEYS_PER_LOOKUP_MAX} keys per lookup`, 'keys');
      return context.store.transactionsByKeys(keys);
    },
    ledgerAccount: async (_parent, { id }, context) => {
      requireScope(context.viewer, LEDGER_WRITE_SCOPE);
      return context.loaders.accountById.load(id);
    },
  },
  Mutation: {
    postLedgerTransaction: async (_parent, { input }, context) => {
      requireAdminOrScope(context.viewer, LEDGER_WRITE_SCOPE);
      const lines: PostingLine[] = input.entries.map((entry) => ({
        accountId: entry.accountId,
        direction: entry.direction,
        amount: entry.amount.amount,
        currency: entry.amount.currency,
      }));
      assertBalancedPosting(lines);
      const idempotencyKey = assertLedgerKey(input.idempotencyKey);
      if (context.viewer.kind === 'user' && isReservedLedgerKey(idempotencyKey)) {
        throw badUserInput(`Keys beginning with ${RESERVED_LEDGER_KEY_PREFIXES.join(', ')} are the platform's own; choose another idempotencyKey.`, 'input.idempotencyKey');
      }
      return context.store.postTransaction({
        idempotencyKey,
        description: assertDescription(input.description),
        lines,
      });
    },
    openAccount: async (_parent, { ownerId, currency }, context) => {
      requireScope(context.viewer, LEDGER_WRITE_SCOPE);
      return context.store.ensureAccount(ownerId, 'USER_WALLET', currency);
    },
    systemAccount: async (_parent, { currency }, context) => {
      requireScope(context.viewer, LEDGER_WRITE_SCOPE);
      return context.store.systemAccount(currency);
    },
    transferFunds: async (_parent, { input }, context) => {
      requireScope(context.viewer, LEDGER_WRITE_SCOPE);
      const money = assertMovableAmount(input.amount, 'input.amount');
      const lines: PostingLine[] = [
        { accountId: input.debitAccountId, direction: 'DEBIT', ...money },
        { accountId: input.creditAccountId, direction: 'CREDIT', ...money },
      ];
      return context.store.postTransaction({
        idempotencyKey: assertLedgerKey(input.idempotencyKey),
        description: assertDescription(input.description),
        lines,
      });
    },
    authorizeHold: async (_parent, { input }, context) => {
      requireScope(context.viewer, LEDGER_WRITE_SCOPE);
      const money = assertMovableAmount(input.amount, 'input.amount');
      const { hold } = await context.store.authorize({
        idempotencyKey: assertLedgerKey(input.idempotencyKey),
        debitAccountId: input.debitAccountId,
        creditAccountId: input.creditAccountId,
        amount: money.amount,
        currency: money.currency,
        expiresAt: input.expiresAt ?? new Date(Date.now() + HOLD_EXPIRY_DEFAULT_MS),
        description: assertDescription(input.description),
        captureIdempotencyKey: input.captureIdempotencyKey == null ? null : assertLedgerKey(input.captureIdempotencyKey, 'input.captureIdempotencyKey'),
      });
      return hold;
    },
    captureHold: async (_parent, { input }, context) => {
      requireScope(context.viewer, LEDGER_WRITE_SCOPE);
      const { hold } = await context.store.capture({ holdId: input.holdId, amount: input.amount ?? null, idempotencyKey: assertLedgerKey(input.idempotencyKey) });
      return hold;
    },
    voidHold: async (_parent, { holdId }, context) => {
      requireScope(context.viewer, LEDGER_WRITE_SCOPE);
      return context.store.voidHold(holdId);
    },
  },
  Wallet: {
    __resolveReference: async (reference, context) => {
      requireAuthenticated(context.viewer);
      const account = await context.loaders.accountById.load(reference.id);
      if (!account) return null;
      if (!canSee(context.viewer, account)) throw forbidden('You may only see your own wallets.');
      return account;
    },
    balance: balanceOf,
    available: availableOf,
  },
  LedgerAccount: {
    balance: balanceOf,
    available: availableOf,
  },
  LedgerTransaction: {
    id: (posted) => posted.transaction.id,
    idempotencyKey: (posted) => posted.transaction.idempotencyKey,
    description: (posted) => posted.transaction.description,
    sequence: (posted) => String(posted.transaction.sequence),
    hash: (posted) => posted.transaction.hash ?? '',
    createdAt: (posted) => posted.transaction.createdAt,
    entries: (posted) => posted.entries,
  },
  LedgerEntry: {
    amount: (entry) => ({ amount: entry.amount, currency: entry.currency }),
  },
  Hold: {
    amount: (hold) => ({ amount: hold.amount, currency: hold.currency }),
    capturedAmount: (hold) => (hold.capturedAmount === null ? null : { amount: hold.capturedAmount, currency: hold.currency }),
  },
};
