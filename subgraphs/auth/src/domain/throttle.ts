/**
 * Login throttling rules. Three counters, each counted atomically in the database BEFORE the
 * password is verified, so concurrent attempts cannot race past them (30 or 100 wrong logins at
 * once check at most LOGIN_FAILURES_FREE passwords of one account from one client):
 *
 * - per (account, client) pair: the first LOGIN_FAILURES_FREE attempts are free; from the last free
 *   one on, each attempt locks the pair until it fails, then for a delay that doubles (LOGIN_LOCK_SECONDS_FIRST,
 *   default 1 s, then 2 s, 4 s ... up to LOGIN_LOCK_SECONDS_MAX). A success clears it. This is the counter an attacker
 *   fills, and it is theirs alone.
 * - per account (all clients): at most LOGIN_ACCOUNT_FAILURES_MAX failures in the window, but
 *   enforced only on clients that already failed on this account in the window. So an attacker's
 *   failures never lock out the owner signing in from a client with no failures on the account,
 *   while a distributed guesser gets one attempt per fresh client once the ceiling is reached.
 * - per client (all accounts): at most LOGIN_CLIENT_FAILURES_MAX failures in the window
 *   (credential stuffing from one address); a success gives its attempt back.
 *
 * A counter resets after LOGIN_THROTTLE_WINDOW_SECONDS without a counted attempt. The client is the
 * address the gateway forwards signed (clientAddressOf), else the socket peer.
 */
export const LOGIN_FAILURES_FREE = 5;
export const LOGIN_LOCK_SECONDS_MAX = 900;
/**
 * From the free limit on, an attempt holds its pair locked until its outcome is known, at most this
 * long (longer than a password check and the users lookup, bounded so a crash cannot lock forever).
 */
export const LOGIN_ATTEMPT_PENDING_SECONDS_MAX = 30;

export interface LoginThrottleSettings {
  /** False with RATE_LIMITS=off: nothing is counted. */
  enabled: boolean;
  failuresFree: number;
  /** The wait after the last free failure; doubles with each further failure. */
  lockSecondsFirst: number;
  accountFailuresMax: number;
  clientFailuresMax: number;
  windowSeconds: number;
  lockSecondsMax: number;
}

export const DEFAULT_LOGIN_THROTTLE: LoginThrottleSettings = {
  enabled: true,
  failuresFree: LOGIN_FAILURES_FREE,
  lockSecondsFirst: 1,
  accountFailuresMax: 50,
  clientFailuresMax: 100,
  windowSeconds: 900,
  lockSecondsMax: LOGIN_LOCK_SECONDS_MAX,
};

/** Seconds to lock after `failures` consecutive failures (0 while still free). */
export function lockSecondsAfter(failures: number, free = LOGIN_FAILURES_FREE, capSeconds = LOGIN_LOCK_SECONDS_MAX): number {
  if (failures < free) return 0;
  return Math.min(2 ** (failures - free), capSeconds);
}

export const throttleKeys = (email: string, client: string) => ({
  pair: `pair:${email}|${client}`,
  account: `account:${email}`,
  client: `client:${client}`,
});
