/**
 * Users' port to auth, which alone holds passwords: the operations of auth.graphql, typed from
 * auth's schema, and what auth's refusals mean to a users caller. Auth judges a new password
 * against its policy and names its own argument (`password`): for a registering user that is
 * their `input.password`, with auth's message, which is written for people and says what the
 * password lacks. Any other refusal is a broken contract: an internal error.
 */
import { badUserInput } from '@paygraph/errors';
import { createPort, ServiceContractError, type ServiceClient } from '@paygraph/service-client';
import { DeleteCredentialDocument, SetPasswordDocument, VerifyPasswordDocument } from '../generated/auth-operations';

export interface AuthPort {
  /** BAD_USER_INPUT on `input.password` when auth's policy refuses the password. */
  setPassword(userId: string, password: string): Promise<void>;
  deleteCredential(userId: string): Promise<void>;
  verifyPassword(userId: string, password: string): Promise<boolean>;
}

export function authPort(client: ServiceClient, requestId?: string): AuthPort {
  const port = createPort({ client, service: 'auth', callOptions: requestId ? { requestId } : {} });
  return {
    async setPassword(userId, password) {
      await port.call(SetPasswordDocument, { userId, password }, { translate: { BAD_USER_INPUT: (refusal) => (refusal.field === 'password' ? badUserInput(refusal.message, 'input.password') : new ServiceContractError(refusal, 'SetPassword')) } });
    },
    async deleteCredential(userId) {
      await port.call(DeleteCredentialDocument, { userId });
    },
    verifyPassword: async (userId, password) => (await port.call(VerifyPasswordDocument, { userId, password })).verifyPassword,
  };
}
