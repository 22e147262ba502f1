import { createRemoteJWKSet, customFetch, decodeJwt, jwtVerify, type FetchImplementation, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { serviceUnavailable, unauthenticated } from '@paygraph/errors';
import { USER_ROLES, type UserRole, type Viewer } from './viewer';

/** The only signature algorithm accepted: pinned so `alg: none` or HMAC confusion cannot pass. */
export const TOKEN_ALGORITHM = 'EdDSA';
/** The `token_use` claim: which kind of token this is. */
export const ACCESS_TOKEN_TYPE = 'access';
export const SERVICE_TOKEN_TYPE = 'service';

export interface TokenVerifierOptions {
  /** Where the public keys come from: a JWKS URL, or a key resolver (auth uses its own keys). */
  keys: string | JWTVerifyGetKey;
  /** How a JWKS URL is fetched (by default fetch): e.g. over several auth instances (service-client). */
  fetchKeys?: FetchImplementation;
  issuer: string;
  audience: string;
  /** Which token types this endpoint accepts; the public gateway takes access tokens only. */
  accept?: ReadonlyArray<typeof ACCESS_TOKEN_TYPE | typeof SERVICE_TOKEN_TYPE>;
}

export type TokenVerifier = (authorizationHeader: string | undefined | null) => Promise<Viewer>;

/** Verified tokens remembered per verifier (bounded; the oldest is forgotten first). */
const VERIFIED_TOKENS_CACHED_MAX = 10_000;

// The scheme is case-insensitive (RFC 9110 11.1): "bearer" and "BEARER" are Bearer.
const bearer = /^Bearer ([A-Za-z0-9._~+/=-]{1,4096})$/i;

function viewerFromClaims(payload: JWTPayload, accept: ReadonlyArray<string>): Viewer {
  const type = payload.token_use;
  if (typeof type !== 'string' || !accept.includes(type)) throw unauthenticated('This kind of token is not accepted here.');
  if (type === ACCESS_TOKEN_TYPE) {
    const role = payload.role;
    if (typeof payload.sub !== 'string' || !USER_ROLES.includes(role as UserRole)) throw unauthenticated('Invalid access token.');
    return { kind: 'user', userId: payload.sub, role: role as UserRole };
  }
  const service = typeof payload.sub === 'string' && payload.sub.startsWith('service:') ? payload.sub.slice('service:'.length) : null;
  const scope = typeof payload.scope === 'string' ? payload.scope : '';
  if (!service) throw unauthenticated('Invalid service token.');
  return { kind: 'service', service, scopes: new Set(scope.split(' ').filter(Boolean)) };
}

/** The refusal of a token whose signature and claims held but whose time ran out. */
export const EXPIRED_TOKEN_MESSAGE = 'The access token has expired: refresh it.';

/** True for the verifier's refusal of an expired token (and of no other kind of bad token). */
export const isExpiredTokenError = (error: unknown): boolean => error instanceof Error && error.message === EXPIRED_TOKEN_MESSAGE;

/** Fetching auth's public keys gives up after this long, so the request still answers within ~2 s. */
const JWKS_TIMEOUT_MS = 1_500;

/**
 * Turns an `Authorization` header into a viewer. No header is anonymous; a header that is present
 * but not a valid token (malformed, forged, expired, wrong issuer or audience) is UNAUTHENTICATED.
 */
export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  const keys =
    typeof options.keys === 'string'
      ? createRemoteJWKSet(new URL(options.keys), { cooldownDuration: 5_000, timeoutDuration: JWKS_TIMEOUT_MS, ...(options.fetchKeys ? { [customFetch]: options.fetchKeys } : {}) })
      : options.keys;
  const accept = options.accept ?? [ACCESS_TOKEN_TYPE, SERVICE_TOKEN_TYPE];
  // A token's signature and claims never change: once verified, only its expiry is checked again.
  const verified = new Map<string, { viewer: Viewer; expiresAtMs: number }>();
  return async (header) => {
    if (header === undefined || header === null || header === '') return { kind: 'anonymous' };
    const match = bearer.exec(header);
    if (!match) throw unauthenticated('The Authorization header must be "Bearer <accessToken>".');
    const hit = verified.get(match[1]!);
    if (hit) {
      if (Date.now() < hit.expiresAtMs) return hit.viewer;
      verified.delete(match[1]!);
      throw unauthenticated(EXPIRED_TOKEN_MESSAGE);
    }
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(match[1]!, keys, {
        issuer: options.issuer,
        audience: options.audience,
        algorithms: [TOKEN_ALGORITHM],
        requiredClaims: ['exp', 'iat', 'sub'],
      }));
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === 'ERR_JWT_EXPIRED') throw unauthenticated(EXPIRED_TOKEN_MESSAGE);
      // The key service did not answer: retryable, not the caller's fault (issue 10).
      if (code === 'ERR_JWKS_TIMEOUT' || code === 'ERR_JOSE_GENERIC') throw serviceUnavailable();
      throw unauthenticated('Invalid access token.');
    }
    const viewer = viewerFromClaims(payload, accept);
    if (verified.size >= VERIFIED_TOKENS_CACHED_MAX) verified.delete(verified.keys().next().value!);
    verified.set(match[1]!, { viewer, expiresAtMs: payload.exp! * 1000 });
    return viewer;
  };
}

/**
 * When a bearer token expires (ms since the epoch), read from its claims without verifying them:
 * only for a token the verifier already accepted (e.g. to end a WebSocket session on time).
 */
export function tokenExpiresAtMs(authorizationHeader: string): number | null {
  const match = bearer.exec(authorizationHeader);
  if (!match) return null;
  try {
    const { exp } = decodeJwt(match[1]!);
    return typeof exp === 'number' ? exp * 1000 : null;
  } catch {
    return null;
  }
}
