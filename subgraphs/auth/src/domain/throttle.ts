/**
 * Login throttling: the first failures are free, then each further failure locks the account key
 * for a delay that doubles, up to a cap.
 */
export const LOGIN_FAILURES_FREE = 5;
export const LOGIN_LOCK_SECONDS_MAX = 900;

/** Seconds to lock after `failures` consecutive failures (0 while still free). */
export function lockSecondsAfter(failures: number): number {
  if (failures < LOGIN_FAILURES_FREE) return 0;
  return Math.min(2 ** (failures - LOGIN_FAILURES_FREE), LOGIN_LOCK_SECONDS_MAX);
}
