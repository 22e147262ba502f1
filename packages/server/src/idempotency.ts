/**
 * Idempotency keys of money-moving commands: one rule for their shape, one hash of the request
 * they are stored with (a replay with other parameters is IDEMPOTENCY_KEY_REUSED).
 */
import { createHash } from 'node:crypto';
import { badUserInput } from '@paygraph/errors';

/** Keys clients choose (wallet, payments); services namespace them, so the ledger allows longer ones. */
export const CLIENT_IDEMPOTENCY_KEY_LENGTH_MAX = 150;

export function assertIdempotencyKey(key: string, options: { field?: string; lengthMax?: number } = {}): string {
  const { field = 'input.idempotencyKey', lengthMax = CLIENT_IDEMPOTENCY_KEY_LENGTH_MAX } = options;
  if (key.length === 0 || key.length > lengthMax || key.trim() !== key) {
    throw badUserInput(`Idempotency key must be 1 to ${lengthMax} characters without surrounding spaces`, field);
  }
  return key;
}

/** Stable SHA-256 of a command and its parameters (bigints as decimal strings). */
export function requestHash(command: string, parameters: unknown): string {
  const canonical = JSON.stringify([command, parameters], (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
  return createHash('sha256').update(canonical).digest('hex');
}
