import { forbidden } from '@paygraph/errors';
import { isAdmin, requireAuthenticated, requireScope, requireUser, type Viewer } from '@paygraph/identity';
import { scalarResolvers } from '@paygraph/scalars';
import type { Resolvers } from '../generated/resolvers-types';
import { ensureWallet, moveFunds } from '../funds';

function canSeeWalletsOf(viewer: Viewer, userId: string): boolean {
  return viewer.kind === 'service' || isAdmin(viewer) || (viewer.kind === 'user' && viewer.userId === userId);
}

export const resolvers: Resolvers = {
  ...scalarResolvers,
  Query: {
    wallet: async (_parent, { currency }, context) => {
      const viewer = requireUser(context.viewer);
      return (await context.store.find(viewer.userId, currency)) ?? null;
    },
  },
  Mutation: {
    openWallet: async (_parent, { userId, currency }, context) => {
      requireScope(context.viewer, 'wallet:open');
      return ensureWallet(context, userId, currency);
    },
    creditWallet: async (_parent, { input }, context) => moveFunds(context, requireUser(context.viewer).userId, 'credit', input),
    debitWallet: async (_parent, { input }, context) => moveFunds(context, requireUser(context.viewer).userId, 'debit', input),
  },
  Wallet: {
    __resolveReference: async (reference, context) => {
      requireAuthenticated(context.viewer);
      const wallet = await context.loaders.walletById.load(reference.id);
      if (wallet && !canSeeWalletsOf(context.viewer, wallet.userId)) throw forbidden('You may only see your own wallets.');
      return wallet;
    },
    owner: (wallet) => ({ __typename: 'User' as const, id: wallet.userId }),
  },
  User: {
    __resolveReference: (reference) => ({ id: reference.id }),
    wallets: async (user, _args, context) => {
      requireAuthenticated(context.viewer);
      if (!canSeeWalletsOf(context.viewer, user.id)) throw forbidden('You may only see your own wallets.');
      return context.loaders.walletsByUserId.load(user.id);
    },
  },
};
