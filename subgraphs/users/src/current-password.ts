/**
 * Changes that need the current password (one's own email): checked by auth, which alone holds the
 * hash, through its internal `verifyPassword` (users' service credential has auth:credentials:write).
 * A missing or wrong password is BAD_USER_INPUT on input.currentPassword and is audited; the
 * audit trail also bounds guessing with a stolen access token: after CURRENT_PASSWORD_FAILURES_MAX
 * wrong passwords in CURRENT_PASSWORD_WINDOW_SECONDS the check answers RATE_LIMITED without asking.
 */
import { badUserInput, rateLimited } from '@paygraph/errors';
import type { Context } from './context';
import { PASSWORD_INPUT_LENGTH_MAX } from './domain/validation';
import { authPort } from './ports/auth';

export const CURRENT_PASSWORD_FAILURES_MAX = 5;
export const CURRENT_PASSWORD_WINDOW_SECONDS = 900;
const REFUSED = 'user.email_change_refused';

/**
 * The check running for each user in this process: checks of one user wait for each other, so
 * guesses sent together are counted one after the other. Counted and then verified without it,
 * ten sent at once all passed the count (four earlier refusals or none) and were all verified.
 * Several users instances each serialise their own; together they can let through at most one
 * more guess per instance than the bound.
 */
const checking = new Map<string, Promise<void>>();

export async function assertCurrentPassword(context: Pick<Context, 'auth' | 'store' | 'requestId'>, userId: string, password: string | null | undefined): Promise<void> {
  if (password === null || password === undefined || password.length === 0) throw badUserInput('currentPassword is required to change your email', 'input.currentPassword');
  const before = checking.get(userId);
  const mine = (before ?? Promise.resolve()).then(
    () => check(context, userId, password),
    () => check(context, userId, password),
  );
  const settled = mine.then(
    () => undefined,
    () => undefined,
  );
  checking.set(userId, settled);
  try {
    await mine;
  } finally {
    if (checking.get(userId) === settled) checking.delete(userId);
  }
}

async function check(context: Pick<Context, 'auth' | 'store' | 'requestId'>, userId: string, password: string): Promise<void> {
  const recent = await context.store.recentAudit(REFUSED, userId, CURRENT_PASSWORD_WINDOW_SECONDS);
  if (recent.count >= CURRENT_PASSWORD_FAILURES_MAX) throw rateLimited(`Too many wrong passwords: try again in ${recent.oldestLeavesInSeconds} s.`, recent.oldestLeavesInSeconds);
  const matches =
    password.length <= PASSWORD_INPUT_LENGTH_MAX &&
    (await authPort(context.auth, context.requestId).verifyPassword(userId, password));
  if (matches) return;
  await context.store.appendAudit([{ type: REFUSED, actorId: userId, subjectId: userId, outcome: 'FAILURE', requestId: context.requestId, service: 'users', details: JSON.stringify({ reason: 'wrong_current_password' }) }]);
  throw badUserInput('currentPassword is not your current password', 'input.currentPassword');
}
