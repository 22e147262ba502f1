/**
 * The platform secret (SERVICE_SECRET) is only ever a root: each use gets its own key derived with
 * HKDF-SHA256 and a label (service credentials, each sealing purpose), so no two purposes share a
 * key. During a rotation two secrets are accepted (SERVICE_SECRET_PREVIOUS beside SERVICE_SECRET):
 * the first signs and seals, every one verifies and opens.
 */
import { hkdfSync } from 'node:crypto';

/** The secrets a process holds: the current one first, then one more accepted during a rotation. */
export type SecretRing = string | readonly string[];

export function secretsOf(ring: SecretRing): readonly string[] {
  const secrets = typeof ring === 'string' ? [ring] : ring;
  if (secrets.length === 0 || secrets.some((secret) => secret.length === 0)) throw new Error('a secret ring needs at least one non-empty secret');
  return secrets;
}

export const currentSecret = (ring: SecretRing): string => secretsOf(ring)[0]!;

/** A 32-byte key for one purpose, derived from one root secret. */
export function deriveKey(secret: string, purpose: { salt: string; info: string }): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, purpose.salt, purpose.info, 32));
}

/** Placeholders people leave in configuration files (compared without case and punctuation). */
const PLACEHOLDER_WORDS = ['changeme', 'replaceme', 'placeholder', 'example', 'secret', 'password', 'default', 'insecure', 'notsecure', 'dontuse', 'donotuse', 'test', 'dummy', 'sample', 'xxxx', 'todo', 'fixme', 'paygraph'];
/** Fewer distinct characters than this and a secret is a repeated pattern, whatever its length. */
const DISTINCT_CHARACTERS_MIN = 8;
/** Estimated entropy a production secret must carry: 128 bits, as 32 random bytes comfortably do. */
const SECRET_ENTROPY_BITS_MIN = 128;

/** Length times the Shannon entropy of the characters: a rough estimate, generous to random text. */
function estimatedBits(text: string): number {
  const counts = new Map<string, number>();
  for (const character of text) counts.set(character, (counts.get(character) ?? 0) + 1);
  let perCharacter = 0;
  for (const count of counts.values()) {
    const share = count / text.length;
    perCharacter -= share * Math.log2(share);
  }
  return perCharacter * text.length;
}

/**
 * Why a secret is unfit for production, or null. A placeholder word with too little else around
 * it, few distinct characters or a low estimated entropy (length times the Shannon entropy of its
 * characters) refuse it: this catches `change-me-...`, repeated characters and dictionary
 * phrases, not every weak secret. A placeholder word alone does not refuse a secret: random
 * output contains "test" or "xxxx" now and then (about one `openssl rand -base64 32` in 400), so
 * the word is refused only when what remains without it is not itself a strong secret.
 */
export function weakSecretReason(secret: string): string | null {
  const folded = secret.toLowerCase().replace(/[^a-z0-9]/g, '');
  const words = PLACEHOLDER_WORDS.filter((candidate) => folded.includes(candidate));
  if (words.length > 0) {
    const rest = words.reduce((text, word) => text.replaceAll(word, ''), folded);
    if (estimatedBits(rest) < SECRET_ENTROPY_BITS_MIN) return `looks like a placeholder (contains "${words[0]}"); generate one with \`openssl rand -base64 32\``;
  }
  // 8, not 16: `openssl rand -hex 32` (our own docs' command) draws from 16 digits and misses one
  // of them in about one secret in four; a secret cycling through a few characters stays refused.
  if (new Set(secret).size < DISTINCT_CHARACTERS_MIN) return 'has too few distinct characters; generate one with `openssl rand -base64 32`';
  const bits = estimatedBits(secret);
  if (bits < SECRET_ENTROPY_BITS_MIN) return `carries too little entropy (about ${Math.floor(bits)} bits, ${SECRET_ENTROPY_BITS_MIN} needed); generate one with \`openssl rand -base64 32\``;
  return null;
}
