import { badUserInput } from '@paygraph/errors';

export const PASSWORD_LENGTH_MIN = 8;
/** Long enough for passphrases, short enough that hashing cannot be used to burn CPU. */
export const PASSWORD_LENGTH_MAX = 128;

export function assertPasswordPolicy(password: string, field: string): void {
  const length = [...password].length;
  if (length < PASSWORD_LENGTH_MIN) throw badUserInput(`Password must be at least ${PASSWORD_LENGTH_MIN} characters`, field);
  if (length > PASSWORD_LENGTH_MAX) throw badUserInput(`Password must be at most ${PASSWORD_LENGTH_MAX} characters`, field);
  if (password.trim().length === 0) throw badUserInput('Password must not be only spaces', field);
}
