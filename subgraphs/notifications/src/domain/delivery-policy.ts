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
