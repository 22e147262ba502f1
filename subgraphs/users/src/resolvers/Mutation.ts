import { badUserInput, forbidden, notFound } from '@paygraph/errors';
import { isAdmin, requireUser } from '@paygraph/identity';
import type { MutationResolvers } from '../generated/resolvers-types';
import { normalizeName, normalizeNewEmail } from '../domain/validation';
import { registerUser } from '../register';
import { EmailTakenError, type AuditRecord } from '../store/users-store';
import { assertCurrentPassword } from '../current-password';
import { appendAuditEvents } from '../audit';
import { signedUpNow } from './User';

export const Mutation: MutationResolvers = {
  appendAuditEvents: (_parent, { events }, context) => appendAuditEvents(context, events),

  registerUser: async (_parent, { input }, context) => {
    if (input.role === 'ADMIN' && !isAdmin(context.viewer)) {
      throw forbidden('Only an admin may create an ADMIN user.');
    }
    // Sign-ups tell whether an email is registered: throttled per client, admins aside.
    if (!isAdmin(context.viewer)) await context.registrations.throttle.consume(context.registrations.clientAddress);
    const user = await registerUser({ ...context, actorId: context.viewer.kind === 'user' ? context.viewer.userId : null }, input);
    signedUpNow.add(user);
    return user;
  },

  updateUser: async (_parent, { input }, context) => {
    const viewer = requireUser(context.viewer);
    const id = input.id ?? viewer.userId;
    if (id !== viewer.userId && viewer.role !== 'ADMIN') throw forbidden('You may only update your own user.');
    const changes: { name?: string; email?: string } = {};
    if (input.name !== undefined && input.name !== null) changes.name = normalizeName(input.name, 'input.name');
    if (input.email !== undefined && input.email !== null) changes.email = normalizeNewEmail(input.email, 'input.email');
    // A stolen access token must not be enough to take the account's email (and so its password resets).
    if (changes.email !== undefined && id === viewer.userId) await assertCurrentPassword(context, id, input.currentPassword);
    const audit = (previousEmail: string | null): AuditRecord[] =>
      previousEmail ? [{ type: 'user.email_changed', actorId: viewer.userId, subjectId: id, outcome: 'SUCCESS', requestId: context.requestId, service: 'users' }] : [];
    try {
      const updated = Object.keys(changes).length === 0 ? await context.loaders.userById.load(id) : await context.store.update(id, changes, audit);
      if (!updated) throw notFound(`No user ${id}`);
      return updated;
    } catch (error) {
      if (error instanceof EmailTakenError) throw badUserInput('A user with this email already exists', 'input.email');
      throw error;
    }
  },
};
