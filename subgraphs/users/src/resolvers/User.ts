import { forbidden } from '@paygraph/errors';
import { hasScope, isAdmin, requireAuthenticated } from '@paygraph/identity';
import type { UserResolvers } from '../generated/resolvers-types';

export const User: UserResolvers = {
  __resolveReference: async (reference, context) => {
    requireAuthenticated(context.viewer);
    return context.loaders.userById.load(reference.id);
  },
  /** Only the user themself, admins and services see an email. */
  email: (user, _args, context) => {
    const viewer = context.viewer;
    const visible = (viewer.kind === 'user' && (viewer.userId === user.id || isAdmin(viewer))) || viewer.kind === 'service';
    return visible ? user.email : null;
  },
  /** For risk's blocklist (users:read) and admins only. */
  emailDomains: (user, _args, context) => {
    if (!hasScope(context.viewer, 'users:read') && !isAdmin(context.viewer)) throw forbidden();
    return context.store.emailDomainsOf(user.id);
  },
};
