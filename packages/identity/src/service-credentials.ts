import { createHmac, timingSafeEqual } from 'node:crypto';
import { currentSecret, deriveKey, secretsOf, type SecretRing } from './secrets';

/**
 * Service-to-service credentials. Every service holds a credential derived from the platform's
 * SERVICE_SECRET and its own name; auth exchanges it for a short-lived service token carrying the
 * scopes below. Users never see either: no public operation issues them.
 */
export const SERVICE_SCOPES: Readonly<Record<string, readonly string[]>> = {
  users: ['auth:credentials:write'],
  auth: ['users:read', 'audit:write'],
  wallet: ['ledger:write'],
  ledger: [],
  risk: ['users:read', 'audit:write'],
  payments: ['users:read', 'risk:assess', 'wallet:open', 'ledger:write', 'audit:write'],
  gateway: ['payments:events:read'],
  notifications: ['users:read', 'audit:write'],
};

/** Service credentials have a key of their own, derived from the platform secret. */
const CREDENTIAL_KEY_PURPOSE = { salt: 'paygraph-identity', info: 'service-credentials' };

function credentialWith(secret: string, service: string): string {
  return createHmac('sha256', deriveKey(secret, CREDENTIAL_KEY_PURPOSE)).update(`paygraph-service-credential:${service}`).digest('base64url');
}

/** A service's credential, from the current platform secret. */
export function serviceCredential(ring: SecretRing, service: string): string {
  return credentialWith(currentSecret(ring), service);
}

/**
 * The header that tells a subgraph a request comes from the gateway: subgraphs answer only the
 * gateway (this header) and services (a service token), so a subgraph reached directly, from
 * inside the network, gives nothing away (`_service`, `_entities` included).
 */
export const GATEWAY_CREDENTIAL_HEADER = 'x-paygraph-gateway';

/** The gateway's credential for that header, from the current platform secret. */
export const gatewayCredential = (ring: SecretRing): string => serviceCredential(ring, 'gateway');

/** Accepts a credential made from any secret of the ring (the previous one too, during a rotation). */
export function verifyServiceCredential(ring: SecretRing, service: string, credential: string): boolean {
  const given = Buffer.from(credential);
  return secretsOf(ring).some((secret) => {
    const expected = Buffer.from(credentialWith(secret, service));
    return expected.length === given.length && timingSafeEqual(expected, given);
  });
}
