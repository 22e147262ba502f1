import { randomBytes, randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { ACCESS_TOKEN_TYPE, SERVICE_TOKEN_TYPE, TOKEN_ALGORITHM, type UserRole } from '@paygraph/identity';
import type { SigningKey } from './keys';

export interface TokenSettings {
  issuer: string;
  audience: string;
  accessTokenTtlSeconds: number;
}

/** Service tokens live as long as access tokens and are renewed by the client before expiry. */
const SERVICE_TOKEN_TTL_SECONDS = 900;

async function sign(key: SigningKey, settings: TokenSettings, subject: string, claims: Record<string, unknown>, ttlSeconds: number) {
  const issuedAt = Math.floor(Date.now() / 1000);
  const expiresAt = issuedAt + ttlSeconds;
  const token = await new SignJWT(claims)
    .setProtectedHeader({ alg: TOKEN_ALGORITHM, kid: key.kid, typ: 'JWT' })
    .setSubject(subject)
    .setIssuer(settings.issuer)
    .setAudience(settings.audience)
    .setIssuedAt(issuedAt)
    .setExpirationTime(expiresAt)
    .setJti(randomUUID())
    .sign(key.privateKey);
  return { token, expiresAt: new Date(expiresAt * 1000) };
}

export function signAccessToken(key: SigningKey, settings: TokenSettings, user: { id: string; role: UserRole }) {
  return sign(key, settings, user.id, { token_use: ACCESS_TOKEN_TYPE, role: user.role }, settings.accessTokenTtlSeconds);
}

export function signServiceToken(key: SigningKey, settings: TokenSettings, service: string, scopes: readonly string[]) {
  return sign(key, settings, `service:${service}`, { token_use: SERVICE_TOKEN_TYPE, scope: scopes.join(' ') }, SERVICE_TOKEN_TTL_SECONDS);
}

/** An opaque refresh token: 256 random bits, shown to the client once, stored only as a hash. */
export function newRefreshToken(): string {
  return `rt_${randomBytes(32).toString('base64url')}`;
}
