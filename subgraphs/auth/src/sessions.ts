/**
 * Login, refresh and logout: the session rules of auth, over the store, the signing key and the
 * users service (which owns emails and roles).
 */
import { rateLimited, unauthenticated } from '@paygraph/errors';
import { newId } from '@paygraph/db';
import type { Logger } from '@paygraph/logging';
import type { ServiceClient } from '@paygraph/service-client';
import type { IssuedSession, UserReference } from './domain/session';
import { usersPort, type SessionUser } from './ports/users';
import type { SigningKey } from './keys';
import { verifyPassword } from './passwords';
import type { AuthStore } from './store/auth-store';
import { auditedChange, type AuditRecorder } from '@paygraph/audit';
import { throttleKeys, type LoginThrottleSettings } from './domain/throttle';
import { newRefreshToken, signAccessToken, type TokenSettings } from './tokens';

const toReference = (user: SessionUser): UserReference => ({ ...user, createdAt: new Date(user.createdAt) });

export interface SessionDeps {
  store: AuthStore;
  users: ServiceClient;
  signingKey: SigningKey;
  settings: TokenSettings & { refreshTokenTtlSeconds: number };
  logger: Logger;
  requestId?: string;
  /** Login throttling (domain/throttle.ts); `enabled: false` with RATE_LIMITS=off. */
  throttle: LoginThrottleSettings;
  /** The client's address (signed by the gateway, else the socket peer): the throttles' client key. */
  clientAddress?: string;
  /** Checks a password against its hash; argon2id unless a test counts the checks. */
  verifyPassword?: (hash: string | undefined, password: string) => Promise<boolean>;
  /** The audit trail (packages/audit): logins and token family revocations are recorded in their transaction. */
  audit?: AuditRecorder;
}

const invalidCredentials = () => unauthenticated('Invalid email or password.');
const invalidRefreshToken = () => unauthenticated('The refresh token is not valid: log in again.');

/** Emails longer than any valid address are rejected without a lookup (and without a lock row). */
const LOGIN_EMAIL_LENGTH_MAX = 254;

/** A session for `user`: a login's (a new family, its first refresh token stored with the login's audit record) or a refresh's (`refreshToken` stored already). */
async function issue(deps: SessionDeps, user: UserReference, familyId: string, refreshToken?: string): Promise<IssuedSession> {
  const access = await signAccessToken(deps.signingKey, deps.settings, user);
  const token = refreshToken ?? newRefreshToken();
  if (!refreshToken) {
    const expiresAt = new Date(Date.now() + deps.settings.refreshTokenTtlSeconds * 1000);
    const entry = () => ({ type: 'auth.login', actorId: user.id, subjectId: user.id, outcome: 'SUCCESS' as const });
    await auditedChange(deps.audit, deps, entry, (audit) => deps.store.insertRefreshToken(token, user.id, familyId, expiresAt, audit));
  }
  return { accessToken: access.token, refreshToken: token, expiresAt: access.expiresAt, user };
}

/**
 * Counts the attempt on every throttle (domain/throttle.ts) before any password is checked, and
 * throws RATE_LIMITED when one refuses. Returns what the outcome must settle afterwards.
 */
async function admitLoginAttempt(deps: SessionDeps, email: string): Promise<{ keys: ReturnType<typeof throttleKeys>; firstFromClient: boolean }> {
  const settings = deps.throttle;
  const keys = throttleKeys(email, deps.clientAddress ?? 'unknown');
  const refuse = async (key: string) => {
    const retryAfterSeconds = await deps.store.retryAfterSeconds(key, settings);
    return rateLimited(`Too many failed logins: try again in ${retryAfterSeconds} s.`, retryAfterSeconds);
  };
  const attempt = await deps.store.consumeLoginAttempt(keys.pair, settings);
  if (attempt === null) throw await refuse(keys.pair);
  if ((await deps.store.consumeFailureBudget(keys.client, settings.clientFailuresMax, settings.windowSeconds)) === null) throw await refuse(keys.client);
  // The account-wide ceiling binds only clients that already failed on this account (see throttle.ts).
  const firstFromClient = attempt === 1;
  if (!firstFromClient && (await deps.store.consumeFailureBudget(keys.account, settings.accountFailuresMax, settings.windowSeconds)) === null) {
    await deps.store.refundAttempt(keys.client);
    throw await refuse(keys.account);
  }
  return { keys, firstFromClient };
}

export async function login(deps: SessionDeps, email: string, password: string): Promise<IssuedSession> {
  const key = email.trim().toLowerCase();
  if (key.length === 0 || key.length > LOGIN_EMAIL_LENGTH_MAX) throw invalidCredentials();
  const admitted = deps.throttle.enabled ? await admitLoginAttempt(deps, key) : null;
  // A malformed email is not a registered one (null, the port says): same answer as a wrong password.
  const userByEmail = await usersPort(deps.users, deps.requestId).userByEmail(key).catch(async (error: unknown) => {
    if (admitted) await deps.store.releaseLoginAttempt(admitted.keys.pair);
    throw error;
  });
  const hash = userByEmail ? await deps.store.passwordHash(userByEmail.id) : undefined;
  if (!(await (deps.verifyPassword ?? verifyPassword)(hash, password)) || !userByEmail) {
    if (admitted) {
      await deps.store.settleLoginFailure(admitted.keys.pair, deps.throttle);
      // Counted already; a first failure from this client still counts toward the account ceiling.
      if (admitted.firstFromClient) await deps.store.recordFailure(admitted.keys.account, deps.throttle.windowSeconds);
    }
    throw invalidCredentials();
  }
  if (admitted) {
    await deps.store.clearThrottle([admitted.keys.pair, admitted.keys.account]);
    await deps.store.refundAttempt(admitted.keys.client);
  }
  return issue(deps, toReference(userByEmail), newId('fam'));
}

/** Longer inputs cannot be refresh tokens (real ones are 46 characters); refused without a lookup. */
const REFRESH_TOKEN_LENGTH_MAX = 200;

export async function refresh(deps: SessionDeps, refreshToken: string): Promise<IssuedSession> {
  if (refreshToken.length > REFRESH_TOKEN_LENGTH_MAX) throw invalidRefreshToken();
  const next = { token: newRefreshToken(), expiresAt: new Date(Date.now() + deps.settings.refreshTokenTtlSeconds * 1000) };
  const outcome = await deps.store.rotate(refreshToken, next);
  if (outcome.kind === 'invalid') throw invalidRefreshToken();
  if (outcome.kind === 'reused') {
    const revoked = await revokeRecorded(deps, outcome, 'refresh_token_reused');
    deps.logger.warn({ userId: outcome.userId, familyId: outcome.familyId, revoked }, 'refresh token reused: session revoked');
    throw invalidRefreshToken();
  }
  const user = await usersPort(deps.users, deps.requestId).userById(outcome.userId);
  if (!user) {
    // Users no longer knows the session's user: the session ends, recorded as any revocation is.
    await revokeRecorded(deps, outcome, 'user_not_found');
    throw invalidRefreshToken();
  }
  return issue(deps, toReference(user), outcome.familyId, next.token);
}

/**
 * Revokes a token family's live tokens in one transaction with their audit record (none when none
 * was live): recorded as its user's act, the family as subject, with why. Returns how many.
 */
function revokeRecorded(deps: SessionDeps, family: { userId: string; familyId: string }, reason: 'logout' | 'refresh_token_reused' | 'user_not_found'): Promise<number> {
  const entry = (revoked: number) =>
    revoked > 0 ? { type: 'auth.token_family_revoked', actorId: family.userId, subjectId: family.familyId, outcome: 'SUCCESS' as const, details: { reason, revoked } } : null;
  return auditedChange(deps.audit, deps, entry, (audit) => deps.store.revokeFamily(family.familyId, audit));
}

/**
 * Ends the session a refresh token belongs to; returns whose and which family when live tokens were
 * revoked, else null. A revocation commits with its audit record: the holder of the session's
 * refresh token ends it, recorded as its user, the family as subject (as a reuse revocation is).
 */
export async function logout(deps: SessionDeps, refreshToken: string): Promise<{ userId: string; familyId: string; revoked: number } | null> {
  if (refreshToken.length > REFRESH_TOKEN_LENGTH_MAX) return null;
  const family = await deps.store.familyOf(refreshToken);
  if (!family) return null;
  const revoked = await revokeRecorded(deps, family, 'logout');
  return revoked > 0 ? { ...family, revoked } : null;
}
