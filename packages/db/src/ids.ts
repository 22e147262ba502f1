import { randomFillSync } from 'node:crypto';

const alphabet = '0123456789abcdefghijklmnopqrstuvwxyz';
const RANDOM_CHARACTERS = 20;

/**
 * Random bytes drawn from the CSPRNG a pool at a time (as Node does for randomUUID): a payment
 * makes about ten ids, and one randomBytes call each was 1.3% of `npm start`'s busy time under
 * bench:payments. Every id still gets bytes of its own, never reused.
 */
const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let offset = 0;

function randomSlice(length: number): Buffer {
  if (offset + length > pool.length) {
    pool = randomFillSync(Buffer.allocUnsafe(POOL_BYTES));
    offset = 0;
  }
  const slice = pool.subarray(offset, offset + length);
  offset += length;
  return slice;
}

/**
 * Prefixed, unguessable object ids in the style of Stripe (`usr_4f9k...`): the prefix says what
 * the id names, the 20 random base-36 characters (about 103 bits) make it unique.
 */
export function newId(prefix: string): string {
  const bytes = randomSlice(RANDOM_CHARACTERS);
  let suffix = '';
  for (const byte of bytes) suffix += alphabet[byte % 36];
  return `${prefix}_${suffix}`;
}
