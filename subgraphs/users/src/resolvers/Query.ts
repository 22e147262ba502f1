import { requireAuthenticated, requireScope } from '@paygraph/identity';
import type { QueryResolvers } from '../generated/resolvers-types';
import { normalizeEmail } from '../domain/validation';
import { auditEvents } from '../audit';

export const Query: QueryResolvers = {
  user: async (_parent, { id }, context) => {
    requireAuthenticated(context.viewer);
    return context.loaders.userById.load(id);
  },
  me: async (_parent, _args, context) => {
    if (context.viewer.kind !== 'user') return null;
    return context.loaders.userById.load(context.viewer.userId);
  },
  auditEvents: (_parent, args, context) => auditEvents(context, args),
  userByEmail: async (_parent, { email }, context) => {
    requireScope(context.viewer, 'users:read');
    return (await context.store.findByEmail(normalizeEmail(email, 'email'))) ?? null;
  },
};
