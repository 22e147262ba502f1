import { scalarResolvers } from '@paygraph/scalars';
import { requireScope } from '@paygraph/identity';
import type { Resolvers } from '../generated/resolvers-types';
import { assertPasswordPolicy } from '../domain/password-policy';
import { hashPassword } from '../passwords';
import { login, logout, refresh } from '../sessions';

const CREDENTIALS_SCOPE = 'auth:credentials:write';

export const resolvers: Resolvers = {
  DateTime: scalarResolvers.DateTime,
  Mutation: {
    login: (_parent, { input }, context) => login({ ...context.sessions, requestId: context.requestId }, input.email, input.password),
    refreshToken: (_parent, { refreshToken }, context) => refresh({ ...context.sessions, requestId: context.requestId }, refreshToken),
    logout: (_parent, { refreshToken }, context) => logout(context.sessions, refreshToken),
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
  },
};
