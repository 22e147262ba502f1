/**
 * Webhook signatures, in the manner of Stripe-Signature: every delivery carries
 * `Paygraph-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`. The
 * timestamp is signed with the body, so a captured delivery cannot be replayed later than the
 * receiver's tolerance. Merchants verify with `verifyWebhookSignature` (or the same few lines in
 * their language) over the raw request body, before parsing it.
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

/** The header value for `rawBody` signed at `timestampSeconds` (the sender's clock). */
export function signWebhookPayload(secret: string, rawBody: string, timestampSeconds: number): string {
  return `t=${timestampSeconds},v1=${hmacHex(secret, timestampSeconds, rawBody)}`;
}

/**
 * True when `header` holds a v1 signature of `rawBody` by `secret` whose timestamp is within
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
