// One root secret, one key per purpose, two secrets accepted during a rotation: credentials and
// sealed values made with the previous secret still verify and open, new ones use the current
// secret, and a secret that looks like a placeholder or carries little entropy is named as such.
import { randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import { createSecretSealer, deriveKey, serviceCredential, verifyServiceCredential, weakSecretReason } from '../src';

const previous = randomBytes(32).toString('base64url');
const current = randomBytes(32).toString('base64url');
const purpose = { salt: 'paygraph-test', info: 'rotation' };

it('derives a different key per purpose from one secret, and credentials never equal the raw HMAC of the secret', () => {
  expect(deriveKey(current, { salt: 'a', info: 'x' }).equals(deriveKey(current, { salt: 'a', info: 'y' }))).toBe(false);
  expect(serviceCredential(current, 'payments')).not.toBe(serviceCredential(current, 'wallet'));
});

it('accepts credentials of either secret during a rotation and signs with the current one', () => {
  const ring = [current, previous];
  expect(verifyServiceCredential(ring, 'payments', serviceCredential(previous, 'payments'))).toBe(true);
  expect(verifyServiceCredential(ring, 'payments', serviceCredential(current, 'payments'))).toBe(true);
  expect(serviceCredential(ring, 'payments')).toBe(serviceCredential(current, 'payments'));
  expect(verifyServiceCredential(ring, 'payments', serviceCredential(randomBytes(32).toString('base64url'), 'payments'))).toBe(false);
  expect(verifyServiceCredential(current, 'payments', serviceCredential(previous, 'payments'))).toBe(false);
  // A credential is bound to its service name.
  expect(verifyServiceCredential(ring, 'wallet', serviceCredential(current, 'payments'))).toBe(false);
});

it('opens values sealed with the previous secret, seals with the current one, and says which to re-seal', () => {
  const old = createSecretSealer(previous, purpose).seal('private key');
  const rotating = createSecretSealer([current, previous], purpose);
  expect(rotating.open(old)).toBe('private key');
  expect(rotating.sealedWithCurrent(old)).toBe(false);
  const resealed = rotating.seal('private key');
  expect(rotating.sealedWithCurrent(resealed)).toBe(true);
  expect(createSecretSealer(current, purpose).open(resealed)).toBe('private key');
  expect(() => createSecretSealer(current, purpose).open(old)).toThrow();
});

it('names placeholder and low-entropy secrets, and accepts random ones', () => {
  expect(weakSecretReason('change-me-change-me-change-me-change-me')).toMatch(/placeholder/);
  // The literal docker-compose.yml used to ship.
  expect(weakSecretReason('change-me-to-a-long-random-secret-of-32-chars-or-more')).toMatch(/placeholder/);
  expect(weakSecretReason('paygraph-development-service-secret-1234')).toMatch(/placeholder/);
  expect(weakSecretReason('a'.repeat(64))).toMatch(/distinct characters/);
  expect(weakSecretReason('qwrtyzxvbnmlkjhgfdsp')).toMatch(/entropy/);
  for (let index = 0; index < 20; index += 1) expect(weakSecretReason(randomBytes(32).toString('base64'))).toBeNull();
  // Random output holds a placeholder word now and then (one secret in about 400 held "xxxx" or
  // "test"): the word alone does not refuse it, what remains is still a strong secret.
  expect(weakSecretReason('q7Hk2TESTvP9zLm4Rw8Nc1Yb6Xs3Dj5Fg0Ua+e/ViOp=')).toBeNull();
  expect(weakSecretReason('Zr4xXxXm9Kq2Lw7Pv1Tb8Nc3Hd6Fj0Gy5Rs+a/UeIoB=')).toBeNull();
  let refused = 0;
  for (let index = 0; index < 5000; index += 1) if (weakSecretReason(randomBytes(32).toString('base64')) !== null) refused += 1;
  expect(refused).toBe(0);
  // `openssl rand -hex 32`, the command the README and docker-compose.yml give: 64 hex digits miss
  // one of the 16 in about one secret in four, and are still 256 random bits.
  for (let index = 0; index < 5000; index += 1) if (weakSecretReason(randomBytes(32).toString('hex')) !== null) refused += 1;
  expect(refused).toBe(0);
  expect(weakSecretReason('abcd'.repeat(16))).toMatch(/distinct characters/);
});
