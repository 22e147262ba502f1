/**
 * Auth's port to users, which owns emails and roles: the operations of users.graphql, typed from
 * users' schema. An email users refuses as malformed is not a registered one (login answers it as
 * a wrong password); any other refusal is a broken contract: an internal error.
 */
import { createPort, translations, type ServiceClient } from '@paygraph/service-client';
import { UserByEmailDocument, UserByIdDocument, type SessionUserFragment } from '../generated/users-operations';

export type SessionUser = SessionUserFragment;

export interface UsersPort {
  /** Null when no user has this email, or users refuses it as malformed. */
  userByEmail(email: string): Promise<SessionUser | null>;
  userById(id: string): Promise<SessionUser | null>;
}

export function usersPort(client: ServiceClient, requestId?: string): UsersPort {
  const port = createPort({ client, service: 'users', callOptions: requestId ? { requestId } : {} });
  return {
    userByEmail: async (email) => (await port.call(UserByEmailDocument, { email }, { translate: { BAD_USER_INPUT: translations.outcome(null) } }))?.userByEmail ?? null,
    userById: async (id) => (await port.call(UserByIdDocument, { id })).user,
  };
}
