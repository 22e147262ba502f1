import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Service-to-service credentials. Every service holds a credential derived from the platform's
 * SERVICE_SECRET and its own name; auth exchanges it for a short-lived service token carrying the
 * scopes below. Users never see either: no public operation issues them.
 */
export const SERVICE_SCOPES: Readonly<Record<string, readonly string[]>> = {
  users: ['auth:credentials:write'],
  auth: ['users:read'],
  wallet: ['ledger:write'],
  ledger: [],
  risk: ['users:read'],
  payments: ['users:read', 'risk:assess', 'wallet:open', 'ledger:write'],
  gateway: ['payments:events:read'],
  notifications: ['users:read'],
};

export function serviceCredential(serviceSecret: string, service: string): string {
  return createHmac('sha256', serviceSecret).update(`paygraph-service-credential:${service}`).digest('base64url');
}

export function verifyServiceCredential(serviceSecret: string, service: string, credential: string): boolean {
  const expected = Buffer.from(serviceCredential(serviceSecret, service));
  const given = Buffer.from(credential);
  return expected.length === given.length && timingSafeEqual(expected, given);
}
