// Sealed secrets open with the same service secret and purpose only, and tampering is detected.
import { expect, it } from 'vitest';
import { createSecretSealer } from '../src/secret-sealer';

const purpose = { salt: 'paygraph-test', info: 'unit' };
const secret = 'a service secret of enough length';

it('opens what it sealed, with a fresh IV each time', () => {
  const sealer = createSecretSealer(secret, purpose);
  const first = sealer.seal('whsec_abc');
  expect(first).not.toContain('whsec_abc');
  expect(sealer.seal('whsec_abc')).not.toBe(first);
  expect(sealer.open(first)).toBe('whsec_abc');
});

it('refuses another service secret, another purpose, a tampered value and another format', () => {
  const sealed = createSecretSealer(secret, purpose).seal('private');
  expect(() => createSecretSealer('another service secret entirely', purpose).open(sealed)).toThrow();
  expect(() => createSecretSealer(secret, { ...purpose, info: 'other' }).open(sealed)).toThrow();
  const [iv, tag, body] = sealed.split('.');
  const flipped = Buffer.from(body!, 'base64url');
  flipped[0]! ^= 1;
  expect(() => createSecretSealer(secret, purpose).open([iv, tag, flipped.toString('base64url')].join('.'))).toThrow();
  expect(() => createSecretSealer(secret, purpose).open(`v1.${sealed}`)).toThrow(/unknown format/);
});
