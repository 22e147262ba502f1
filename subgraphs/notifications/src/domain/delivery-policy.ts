/** Retry rules of every delivery (email, sms, push, webhook). Pure: no I/O. */

/** Longest error text kept per attempt: enough to diagnose, bounded in the database. */
export const ATTEMPT_ERROR_LENGTH_MAX = 500;

/**
 * Wait before the attempt after failed attempt number `attempt` (1-based): the base, doubling
 * after each failure, never more than `maxMs`. With 1 s: 1 s, 2 s, 4 s, 8 s...
 */
export function retryDelayMs(attempt: number, options: { baseMs: number; maxMs: number }): number {
  if (!Number.isInteger(attempt) || attempt < 1) throw new Error(`attempt must be a positive integer, got ${attempt}`);
  // 2 ** 40 already exceeds any configured maximum; the exponent is bounded so the number stays finite.
  return Math.min(options.baseMs * 2 ** Math.min(attempt - 1, 40), options.maxMs);
}

/** What a delivery becomes after an attempt: sent, failed for good, or pending its next attempt. */
export function statusAfterAttempt(succeeded: boolean, attempt: number, attemptsMax: number): 'SENT' | 'FAILED' | 'PENDING' {
  if (succeeded) return 'SENT';
  return attempt >= attemptsMax ? 'FAILED' : 'PENDING';
}

/** One line of error text, truncated: kept with the attempt, never a stack trace. */
export function attemptErrorText(error: unknown): string {
  let text = error instanceof Error ? error.message : String(error);
  const cause = error instanceof Error ? (error as Error & { cause?: unknown }).cause : undefined;
  // fetch() says only "fetch failed"; the reason (ECONNREFUSED, a timeout) is in its cause.
  if (cause instanceof Error && cause.message && !text.includes(cause.message)) text = `${text}: ${cause.message}`;
  const line = text.replace(/\s+/g, ' ').trim() || 'unknown error';
  return line.length > ATTEMPT_ERROR_LENGTH_MAX ? `${line.slice(0, ATTEMPT_ERROR_LENGTH_MAX - 1)}…` : line;
}

/**
 * What a merchant is told about a failed webhook attempt: a coarse, closed outcome, never the
 * socket error (which names addresses and ports: a port scanner for every merchant) nor an
 * internal detail. The raw error goes to the server log only.
 *
 * | outcome | meaning |
 * |---|---|
 * | `HTTP_<status>` | the endpoint answered a non-2xx status (3xx included: redirects are not followed) |
 * | `ADDRESS_REFUSED` | the host is, or resolves to, a loopback, private or other non-public address |
 * | `DNS_ERROR` | the host name did not resolve |
 * | `CONNECTION_REFUSED` | nothing listens at the address and port |
 * | `CONNECTION_RESET` | the connection broke before an answer |
 * | `TIMEOUT` | no answer within WEBHOOK_TIMEOUT_MS (or the connection could not be made in time) |
 * | `TLS_ERROR` | the TLS handshake or the certificate failed |
 * | `ENDPOINT_DISABLED` | the endpoint was disabled or deleted before the attempt |
 * | `SECRET_UNREADABLE` | the signing secret could not be unsealed (SERVICE_SECRET changed): rotate it |
 * | `NETWORK_ERROR` | any other failure to send |
 */
export const WEBHOOK_OUTCOMES = ['ADDRESS_REFUSED', 'DNS_ERROR', 'CONNECTION_REFUSED', 'CONNECTION_RESET', 'TIMEOUT', 'TLS_ERROR', 'ENDPOINT_DISABLED', 'SECRET_UNREADABLE', 'NETWORK_ERROR'] as const;
export type WebhookOutcome = (typeof WEBHOOK_OUTCOMES)[number] | `HTTP_${number}`;

/** Error causes are followed this deep (fetch wraps the socket error in "fetch failed"). */
const CAUSE_DEPTH_MAX = 5;

export function webhookOutcome(error: unknown): WebhookOutcome {
  const codes: string[] = [];
  const names: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < CAUSE_DEPTH_MAX && current instanceof Error; depth += 1) {
    const status = (current as { status?: unknown }).status;
    if (current.name === 'WebhookResponseError' && typeof status === 'number') return `HTTP_${status}`;
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
    names.push(current.name);
    current = (current as { cause?: unknown }).cause;
  }
  const has = (...wanted: string[]) => codes.some((code) => wanted.includes(code));
  if (has('ADDRESS_REFUSED') || names.includes('AddressRefusedError')) return 'ADDRESS_REFUSED';
  if (has('ENDPOINT_DISABLED')) return 'ENDPOINT_DISABLED';
  if (has('SECRET_UNREADABLE')) return 'SECRET_UNREADABLE';
  if (has('ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NODATA', 'EAI_NONAME')) return 'DNS_ERROR';
  if (has('ECONNREFUSED')) return 'CONNECTION_REFUSED';
  if (names.includes('TimeoutError') || names.includes('AbortError') || names.includes('ConnectTimeoutError') || has('ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ABORT_ERR')) return 'TIMEOUT';
  if (codes.some((code) => code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL') || code.includes('CERT') || code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' || code === 'EPROTO')) return 'TLS_ERROR';
  if (has('ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED')) return 'CONNECTION_RESET';
  return 'NETWORK_ERROR';
}
