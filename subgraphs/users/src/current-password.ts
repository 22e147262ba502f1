/**
 * Changes that need the current password (one's own email): checked by auth, which alone holds the
 * hash, through its internal `verifyPassword` (users' service credential has auth:credentials:write).
 * A missing or wrong password is BAD_USER_INPUT on input.currentPassword and is audited.
 */
import { badUserInput } from '@paygraph/errors';
import type { Context } from './context';
import { PASSWORD_INPUT_LENGTH_MAX } from './domain/validation';

const VERIFY_PASSWORD = /* GraphQL */ `
  mutation VerifyPassword($userId: ID!, $password: String!) { verifyPassword(userId: $userId, password: $password) }
`;

export async function assertCurrentPassword(context: Pick<Context, 'auth' | 'store' | 'requestId'>, userId: string, password: string | null | undefined): Promise<void> {
  if (password === null || password === undefined || password.length === 0) throw badUserInput('currentPassword is required to change your email', 'input.currentPassword');
  const matches =
    password.length <= PASSWORD_INPUT_LENGTH_MAX &&
    (await context.auth.request<{ verifyPassword: boolean }>('auth', VERIFY_PASSWORD, { userId, password }, { requestId: context.requestId })).verifyPassword;
  if (matches) return;
  await context.store.appendAudit([{ type: 'user.email_change_refused', actorId: userId, subjectId: userId, outcome: 'FAILURE', requestId: context.requestId, service: 'users', details: JSON.stringify({ reason: 'wrong_current_password' }) }]);
  throw badUserInput('currentPassword is not your current password', 'input.currentPassword');
}
