/**
 * Webhook signatures, in the manner of Stripe-Signature: every delivery carries
 * `Paygraph-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`. The
 * timestamp is signed with the body, so a captured delivery cannot be replayed later than the
 * receiver's tolerance. Merchants verify with `verifyWebhookSignature` (or the same few lines in
 * their language) over the raw request body, before parsing it.
 *
 * During a secret rotation's grace period the header carries one v1 per secret, newest first
 * (`t=...,v1=<new>,v1=<old>`, as Stripe does); a receiver accepts the delivery when any v1 matches
 * the secret it holds, so it can switch secrets whenever it likes within the grace period.
 *
 * Every delivery also carries the Standard Webhooks headers (standardwebhooks.com), which merchants'
 * existing libraries verify: `webhook-id` (the event id, the same on every retry),
 * `webhook-timestamp` (unix seconds) and `webhook-signature: v1,<base64 HMAC-SHA256(key,
 * "<id>.<timestamp>.<body>")>` (space-separated, one per secret), where the key is the base64
 * decoding of the secret after its `whsec_` prefix. Both header families sign the same bytes with the
 * same secrets; use whichever your stack verifies.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'Paygraph-Signature';
/** How old (or how far in the future) a signature's timestamp may be by default. */
export const SIGNATURE_TOLERANCE_SECONDS_DEFAULT = 300;
/** Longest header accepted: a few v1 signatures (several secrets during a rotation) fit. */
const HEADER_LENGTH_MAX = 1024;

function hmacHex(secret: string, timestamp: number, rawBody: string | Buffer): string {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest('hex');
}

/**
 * The header value for `rawBody` signed at `timestampSeconds` (the sender's clock) by `secret`, or
 * by each of several secrets (newest first) during a rotation.
 */
export function signWebhookPayload(secret: string | readonly string[], rawBody: string, timestampSeconds: number): string {
  const secrets = typeof secret === 'string' ? [secret] : secret;
  return [`t=${timestampSeconds}`, ...secrets.map((each) => `v1=${hmacHex(each, timestampSeconds, rawBody)}`)].join(',');
}

export const STANDARD_ID_HEADER = 'webhook-id';
export const STANDARD_TIMESTAMP_HEADER = 'webhook-timestamp';
export const STANDARD_SIGNATURE_HEADER = 'webhook-signature';
const SECRET_PREFIX = 'whsec_';

/** The Standard Webhooks signing key of a `whsec_...` secret: the base64 decoding of what follows the prefix. */
function standardKey(secret: string): Buffer {
  return Buffer.from(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret, 'base64');
}

/** The Standard Webhooks headers of one delivery, signed by each secret (newest first). */
export function standardWebhookHeaders(secrets: readonly string[], messageId: string, rawBody: string, timestampSeconds: number): Record<string, string> {
  const signatures = secrets.map((secret) => `v1,${createHmac('sha256', standardKey(secret)).update(`${messageId}.${timestampSeconds}.`).update(rawBody).digest('base64')}`);
  return { [STANDARD_ID_HEADER]: messageId, [STANDARD_TIMESTAMP_HEADER]: String(timestampSeconds), [STANDARD_SIGNATURE_HEADER]: signatures.join(' ') };
}

/**
 * True when `header` holds a v1 signature (any one of them, when it carries several) of `rawBody` by `secret` whose timestamp is within
 * `toleranceSeconds` of `now` (ms since the epoch). False for anything else: no header, a
 * malformed one, another secret, a changed body, a stale or future timestamp.
 */
export function verifyWebhookSignature(
  secret: string,
  header: string | null | undefined,
  rawBody: string | Buffer,
  options: { toleranceSeconds?: number; now?: number } = {},
): boolean {
  const { toleranceSeconds = SIGNATURE_TOLERANCE_SECONDS_DEFAULT, now = Date.now() } = options;
  if (!header || header.length > HEADER_LENGTH_MAX || secret.length === 0) return false;
  let timestamp: number | null = null;
  const signatures: string[] = [];
  for (const part of header.split(',')) {
    const separator = part.indexOf('=');
    if (separator <= 0) return false;
    const key = part.slice(0, separator).trim();
    const value = part.slice(separator + 1).trim();
    if (key === 't') {
      if (timestamp !== null || !/^\d{1,12}$/.test(value)) return false;
      timestamp = Number(value);
    } else if (key === 'v1' && /^[0-9a-f]{64}$/.test(value)) {
      signatures.push(value);
    }
  }
  if (timestamp === null || signatures.length === 0) return false;
  if (Math.abs(Math.floor(now / 1000) - timestamp) > toleranceSeconds) return false;
  const expected = Buffer.from(hmacHex(secret, timestamp, rawBody), 'hex');
  // Compared in constant time; every candidate is checked so timing does not say which matched.
  let valid = false;
  for (const signature of signatures) valid = timingSafeEqual(expected, Buffer.from(signature, 'hex')) || valid;
  return valid;
}
