// Proves the login throttle: five failures are free, then the lock doubles per failure up to a cap.
import { describe, expect, it } from 'vitest';
import { LOGIN_FAILURES_FREE, LOGIN_LOCK_SECONDS_MAX, lockSecondsAfter } from '../src/domain/throttle';

describe('lockSecondsAfter', () => {
  it('is free below the threshold', () => {
    for (let failures = 0; failures < LOGIN_FAILURES_FREE; failures += 1) expect(lockSecondsAfter(failures)).toBe(0);
  });

  it('doubles from the threshold on and stops at the cap', () => {
    expect(lockSecondsAfter(LOGIN_FAILURES_FREE)).toBe(1);
    expect(lockSecondsAfter(LOGIN_FAILURES_FREE + 1)).toBe(2);
    expect(lockSecondsAfter(LOGIN_FAILURES_FREE + 4)).toBe(16);
    expect(lockSecondsAfter(LOGIN_FAILURES_FREE + 40)).toBe(LOGIN_LOCK_SECONDS_MAX);
  });
});
