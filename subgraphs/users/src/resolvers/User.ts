import { forbidden } from '@paygraph/errors';
import { hasScope, isAdmin, requireAuthenticated } from '@paygraph/identity';
import type { UserResolvers } from '../generated/resolvers-types';

/**
 * Users just created by the registerUser answer being resolved: the person signing up is that
 * user, though not logged in yet, and sees the address they gave (it was null: found by the auth
 * probe). Only the row object that mutation returns is in it, so nothing else reads as theirs.
 */
export const signedUpNow = new WeakSet<object>();

export const User: UserResolvers = {
  __resolveReference: async (reference, context) => {
    requireAuthenticated(context.viewer);
    return context.loaders.userById.load(reference.id);
  },
  /** Only the user themself (also in the answer to their own sign-up), admins and services see an email. */
  email: (user, _args, context) => {
    const viewer = context.viewer;
    const visible = (viewer.kind === 'user' && (viewer.userId === user.id || isAdmin(viewer))) || viewer.kind === 'service' || signedUpNow.has(user);
    return visible ? user.email : null;
  },
  /** For risk's blocklist (users:read) and admins only. */
  emailDomains: (user, _args, context) => {
    if (!hasScope(context.viewer, 'users:read') && !isAdmin(context.viewer)) throw forbidden();
    return context.store.emailDomainsOf(user.id);
  },
};
