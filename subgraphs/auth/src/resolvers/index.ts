import { scalarResolvers } from '@paygraph/scalars';
import { requireScope } from '@paygraph/identity';
import type { Resolvers } from '../generated/resolvers-types';
import { assertPasswordPolicy } from '../domain/password-policy';
import { hashPassword, verifyPassword } from '../passwords';
import { login, logout, refresh } from '../sessions';

/** The audit codes of a refused login: a wrong password (or unknown email) and the throttle. */
const loginFailureType = (error: unknown) => ((error as { extensions?: { code?: string } }).extensions?.code === 'RATE_LIMITED' ? 'auth.login_throttled' : 'auth.login_failed');
/** Longest attempted email kept in an audit record. */
const AUDIT_EMAIL_LENGTH_MAX = 254;

const CREDENTIALS_SCOPE = 'auth:credentials:write';

export const resolvers: Resolvers = {
  DateTime: scalarResolvers.DateTime,
  Mutation: {
    login: async (_parent, { input }, context) => {
      const attempted = input.email.trim().toLowerCase().slice(0, AUDIT_EMAIL_LENGTH_MAX);
      try {
        // A login's audit record commits with its session (sessions.ts); a refused one's is written here.
        return await login({ ...context.sessions, requestId: context.requestId }, input.email, input.password);
      } catch (error) {
        const code = (error as { extensions?: { code?: string } }).extensions?.code;
        if (code === 'UNAUTHENTICATED' || code === 'RATE_LIMITED') {
          await context.audit.record(context, { type: loginFailureType(error), actorId: null, subjectId: attempted, outcome: code === 'RATE_LIMITED' ? 'DENIED' : 'FAILURE' });
        }
        throw error;
      }
    },
    refreshToken: (_parent, { refreshToken }, context) => refresh({ ...context.sessions, requestId: context.requestId }, refreshToken),
    logout: async (_parent, { refreshToken }, context) => {
      // The revocation's audit record commits with it (sessions.ts).
      return (await logout({ ...context.sessions, requestId: context.requestId }, refreshToken)) !== null;
    },
    setPassword: async (_parent, { userId, password }, context) => {
      requireScope(context.viewer, CREDENTIALS_SCOPE);
      assertPasswordPolicy(password, 'password');
      await context.sessions.store.setPasswordHash(userId, await hashPassword(password));
      return true;
    },
    deleteCredential: async (_parent, { userId }, context) => {
      requireScope(context.viewer, CREDENTIALS_SCOPE);
      return context.sessions.store.deleteCredential(userId);
    },
    verifyPassword: async (_parent, { userId, password }, context) => {
      requireScope(context.viewer, CREDENTIALS_SCOPE);
      // Same cost whether or not the user has a credential (verifyPassword hashes against a dummy).
      return verifyPassword(await context.sessions.store.passwordHash(userId), password);
    },
  },
};
