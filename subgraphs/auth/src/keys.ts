/**
 * Token signing keys: an Ed25519 key pair generated on first start and kept in auth's database
 * (private half encrypted with AES-256-GCM under a key derived from SERVICE_SECRET), its public
 * half published as JWKS.
 */
import { and, desc, eq, isNull, sql } from 'drizzle-orm';
import { createLocalJWKSet, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JSONWebKeySet, type JWK } from 'jose';
import { newId, type Database } from '@paygraph/db';
import { createSecretSealer, TOKEN_ALGORITHM, type SecretRing } from '@paygraph/identity';
import { signingKeys, type schema } from './db/schema';

const KEY_CREATION_LOCK = 727_172_002;

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  jwks: JSONWebKeySet;
}

/** The key loaded at start-up; `resealed` when it was found sealed under SERVICE_SECRET_PREVIOUS and sealed again. */
export interface LoadedSigningKey extends SigningKey {
  resealed: boolean;
}

/** The purpose of the signing key's sealing key (its HKDF info), as audit records name it. */
export const SIGNING_KEY_SEAL_PURPOSE = 'signing-key-encryption';

/** The private half is stored sealed (packages/identity secret-sealer). */
const signingKeySealer = (serviceSecrets: SecretRing) => createSecretSealer(serviceSecrets, { salt: 'paygraph-auth', info: SIGNING_KEY_SEAL_PURPOSE });

/** Loads the current signing key, creating it once (safe when two instances start together). */
export async function loadSigningKey(db: Database<typeof schema>, serviceSecrets: SecretRing): Promise<LoadedSigningKey> {
  const sealer = signingKeySealer(serviceSecrets);
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
      .values({ kid, algorithm: TOKEN_ALGORITHM, publicJwk, privateJwkEncrypted: sealer.seal(JSON.stringify(privateJwk)) })
      .returning();
    return created!;
  });
  const privateJwkText = sealer.open(row.privateJwkEncrypted);
  // Sealed with SERVICE_SECRET_PREVIOUS (a rotation in progress): sealed again with the current
  // secret, so the previous one can be dropped once every process runs with the new one.
  const resealed = !sealer.sealedWithCurrent(row.privateJwkEncrypted);
  if (resealed) await db.update(signingKeys).set({ privateJwkEncrypted: sealer.seal(privateJwkText) }).where(eq(signingKeys.kid, row.kid));
  const privateKey = (await importJWK(JSON.parse(privateJwkText) as JWK, TOKEN_ALGORITHM)) as CryptoKey;
  const published = await db.select({ publicJwk: signingKeys.publicJwk }).from(signingKeys).where(and(isNull(signingKeys.retiredAt)));
  return { kid: row.kid, privateKey, jwks: { keys: published.map((key) => key.publicJwk as JWK) }, resealed };
}

export function localKeySet(key: SigningKey) {
  return createLocalJWKSet(key.jwks);
}
