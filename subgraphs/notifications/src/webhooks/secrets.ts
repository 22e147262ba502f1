/**
 * Webhook signing secrets: shown to the merchant once, at registration, and kept so this service
 * can sign with them, so they cannot be hashed. They are stored sealed (packages/identity
 * secret-sealer: AES-256-GCM under a key derived from SERVICE_SECRET for this purpose). During a
 * SERVICE_SECRET rotation the previous secret still opens them, and at start-up the service seals
 * them again under the current one (audited as `secret.resealed`); a secret sealed under neither
 * is unreadable and its deliveries fail until the merchant registers the endpoint again.
 */
import { randomBytes } from 'node:crypto';
import { createSecretSealer as sealerFor, type SecretRing, type SecretSealer } from '@paygraph/identity';

export type { SecretSealer };

const SECRET_PREFIX = 'whsec_';
const SECRET_BYTES = 32;

/**
 * A new signing secret: `whsec_` and 32 random bytes in standard base64, the form Standard
 * Webhooks libraries decode into their key (signature.ts). Older secrets were base64url; both sign.
 */
export function newWebhookSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(SECRET_BYTES).toString('base64')}`;
}

/** The purpose of the webhook secrets' sealing key (its HKDF info), as audit records name it. */
export const WEBHOOK_SECRET_SEAL_PURPOSE = 'webhook-secret-encryption';

export function createSecretSealer(serviceSecrets: SecretRing): SecretSealer {
  return sealerFor(serviceSecrets, { salt: 'paygraph-notifications', info: WEBHOOK_SECRET_SEAL_PURPOSE });
}
