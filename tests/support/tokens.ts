/** Tokens for negative tests: signed by a key auth never issued, or with no signature at all. */
import { SignJWT, generateKeyPair } from 'jose';

export async function forgedToken(claims: { sub: string; role: string }): Promise<string> {
  const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  return new SignJWT({ token_use: 'access', role: claims.role })
    .setProtectedHeader({ alg: 'EdDSA', kid: 'forged-key' })
    .setSubject(claims.sub)
    .setIssuer('paygraph-auth')
    .setAudience('paygraph')
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(privateKey);
}

/** An unsigned JWT (`alg: none`) claiming to be an admin. */
export function unsignedToken(claims: { sub: string; role: string }): string {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  return `${encode({ alg: 'none', typ: 'JWT' })}.${encode({ sub: claims.sub, role: claims.role, token_use: 'access', iss: 'paygraph-auth', aud: 'paygraph', iat: now, exp: now + 600 })}.`;
}
