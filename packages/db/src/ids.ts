import { randomBytes } from 'node:crypto';

const alphabet = '0123456789abcdefghijklmnopqrstuvwxyz';

/**
 * Prefixed, unguessable object ids in the style of Stripe (`usr_4f9k...`): the prefix says what
 * the id names, the 20 random base-36 characters (about 103 bits) make it unique.
 */
export function newId(prefix: string): string {
  const bytes = randomBytes(20);
  let suffix = '';
  for (const byte of bytes) suffix += alphabet[byte % 36];
  return `${prefix}_${suffix}`;
}
