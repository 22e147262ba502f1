/**
 * Secrets a service must read back (auth's private signing key, merchants' webhook signing
 * secrets) are stored sealed: AES-256-GCM under a key derived with HKDF-SHA256 from
 * SERVICE_SECRET and a purpose, so a copy of the database alone reveals nothing and two purposes
 * never share a key. Changing SERVICE_SECRET makes what was sealed before unreadable.
 * Format: `<iv>.<tag>.<ciphertext>`, each base64url.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

export interface SecretSealer {
  seal(plaintext: string): string;
  /** Throws when the value was not sealed with this key (other secret, tampered, other format). */
  open(sealed: string): string;
}

export function createSecretSealer(serviceSecret: string, purpose: { salt: string; info: string }): SecretSealer {
  const key = Buffer.from(hkdfSync('sha256', serviceSecret, purpose.salt, purpose.info, 32));
  return {
    seal(plaintext) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return [iv, cipher.getAuthTag(), body].map((part) => part.toString('base64url')).join('.');
    },
    open(sealed) {
      const [iv, tag, body, extra] = sealed.split('.');
      if (!iv || !tag || body === undefined || extra !== undefined) throw new Error('sealed secret has an unknown format');
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
    },
  };
}
