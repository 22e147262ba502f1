/**
 * Token signing keys: an Ed25519 key pair generated on first start and kept in auth's database
 * (private half encrypted with AES-256-GCM under a key derived from SERVICE_SECRET), its public
 * half published as JWKS.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { and, desc, isNull, sql } from 'drizzle-orm';
import { createLocalJWKSet, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JSONWebKeySet, type JWK } from 'jose';
import { newId, type Database } from '@paygraph/db';
import { TOKEN_ALGORITHM } from '@paygraph/identity';
import { signingKeys, type schema } from './db/schema';

const KEY_CREATION_LOCK = 727_172_002;

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  jwks: JSONWebKeySet;
}

function encryptionKey(serviceSecret: string): Buffer {
  return Buffer.from(hkdfSync('sha256', serviceSecret, 'paygraph-auth', 'signing-key-encryption', 32));
}

function encrypt(plaintext: string, serviceSecret: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', encryptionKey(serviceSecret), iv);
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return [iv, cipher.getAuthTag(), body].map((part) => part.toString('base64url')).join('.');
}

function decrypt(sealed: string, serviceSecret: string): string {
  const [iv, tag, body] = sealed.split('.').map((part) => Buffer.from(part, 'base64url'));
  const decipher = createDecipheriv('aes-256-gcm', encryptionKey(serviceSecret), iv!);
  decipher.setAuthTag(tag!);
  return Buffer.concat([decipher.update(body!), decipher.final()]).toString('utf8');
}

/** Loads the current signing key, creating it once (safe when two instances start together). */
export async function loadSigningKey(db: Database<typeof schema>, serviceSecret: string): Promise<SigningKey> {
  const row = await db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${KEY_CREATION_LOCK})`);
    const [existing] = await tx.select().from(signingKeys).where(isNull(signingKeys.retiredAt)).orderBy(desc(signingKeys.createdAt)).limit(1);
    if (existing) return existing;
    const { publicKey, privateKey } = await generateKeyPair(TOKEN_ALGORITHM, { crv: 'Ed25519', extractable: true });
    const kid = newId('key');
    const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: TOKEN_ALGORITHM, use: 'sig' };
    const privateJwk = await exportJWK(privateKey);
    const [created] = await tx
      .insert(signingKeys)
      .values({ kid, algorithm: TOKEN_ALGORITHM, publicJwk, privateJwkEncrypted: encrypt(JSON.stringify(privateJwk), serviceSecret) })
      .returning();
    return created!;
  });
  const privateKey = (await importJWK(JSON.parse(decrypt(row.privateJwkEncrypted, serviceSecret)) as JWK, TOKEN_ALGORITHM)) as CryptoKey;
  const published = await db.select({ publicJwk: signingKeys.publicJwk }).from(signingKeys).where(and(isNull(signingKeys.retiredAt)));
  return { kid: row.kid, privateKey, jwks: { keys: published.map((key) => key.publicJwk as JWK) } };
}

export function localKeySet(key: SigningKey) {
  return createLocalJWKSet(key.jwks);
}
