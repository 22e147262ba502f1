/**
 * Secrets a service must read back (auth's private signing key, merchants' webhook signing
 * secrets) are stored sealed: AES-256-GCM under a key derived with HKDF-SHA256 from
 * SERVICE_SECRET and a purpose, so a copy of the database alone reveals nothing and two purposes
 * never share a key. During a rotation (SERVICE_SECRET_PREVIOUS set) values are sealed with the
 * current secret and opened with either; `sealedWithCurrent` tells a caller to re-seal.
 * Format: `<iv>.<tag>.<ciphertext>`, each base64url.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { deriveKey, secretsOf, type SecretRing } from './secrets';

export interface SecretSealer {
  seal(plaintext: string): string;
  /** Throws when the value was sealed with none of the ring's keys (other secret, tampered, other format). */
  open(sealed: string): string;
  /** Whether the value opens with the current secret (false: sealed with the previous one, re-seal it). */
  sealedWithCurrent(sealed: string): boolean;
}

export function createSecretSealer(ring: SecretRing, purpose: { salt: string; info: string }): SecretSealer {
  const keys = secretsOf(ring).map((secret) => deriveKey(secret, purpose));
  const openWith = (key: Buffer, sealed: string): string => {
    const [iv, tag, body, extra] = sealed.split('.');
    if (!iv || !tag || body === undefined || extra !== undefined) throw new Error('sealed secret has an unknown format');
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
  };
  return {
    seal(plaintext) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', keys[0]!, iv);
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return [iv, cipher.getAuthTag(), body].map((part) => part.toString('base64url')).join('.');
    },
    open(sealed) {
      let failure: unknown = null;
      for (const key of keys) {
        try {
          return openWith(key, sealed);
        } catch (error) {
          failure ??= error;
        }
      }
      throw failure;
    },
    sealedWithCurrent(sealed) {
      try {
        openWith(keys[0]!, sealed);
        return true;
      } catch {
        return false;
      }
    },
  };
}
