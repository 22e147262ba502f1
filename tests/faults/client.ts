/**
 * The fault suite's HTTP client: one GraphQL request with a deadline, its answer sorted into
 * acknowledged, rejected (a definite business answer: nothing changed) or ambiguous (the client
 * cannot know whether the change happened: network error, timeout, SERVICE_UNAVAILABLE, 5xx), and
 * every answer counted by code. `gql` of @paygraph/testing has no deadline and throws on a
 * non-JSON body; a client under faults must do neither, hence this small wrapper around fetch.
 */

/** A request that has not answered by then is abandoned and counted as TIMEOUT (the issue saw 10 s hangs). */
export const REQUEST_TIMEOUT_MS = 8_000;
/** An outage must be answered within this (issue 10: SERVICE_UNAVAILABLE within 2 s). */
export const OUTAGE_ANSWER_MS_MAX = 2_000;

/** Codes that are a definite answer: the server decided and nothing changed (or the change was refused). */
const DEFINITE_CODES = new Set(['INSUFFICIENT_FUNDS', 'INVALID_STATE', 'BAD_USER_INPUT', 'NOT_FOUND', 'FORBIDDEN', 'IDEMPOTENCY_KEY_REUSED']);

export type Answer =
  | { kind: 'ok'; data: Record<string, any>; ms: number }
  | { kind: 'rejected'; code: string; message: string; ms: number }
  | { kind: 'ambiguous'; code: string; message: string; ms: number };

export interface ErrorSample {
  code: string;
  ms: number;
  at: number;
  message: string;
}

/** Counters of one scenario. */
export class Stats {
  operations = 0;
  acknowledged = 0;
  readonly errorsByCode = new Map<string, number>();
  /** Every non-ok answer with its latency and time, for the outage checks. */
  readonly errorSamples: ErrorSample[] = [];

  record(answer: Answer, write: boolean) {
    this.operations += 1;
    if (answer.kind === 'ok') {
      if (write) this.acknowledged += 1;
      return;
    }
    this.errorsByCode.set(answer.code, (this.errorsByCode.get(answer.code) ?? 0) + 1);
    if (this.errorSamples.length < ERROR_SAMPLES_MAX) this.errorSamples.push({ code: answer.code, ms: answer.ms, at: Date.now() - answer.ms, message: answer.message.slice(0, 200) });
  }

  errorsObject(): Record<string, number> {
    return Object.fromEntries([...this.errorsByCode.entries()].sort((left, right) => right[1] - left[1]));
  }
}

const ERROR_SAMPLES_MAX = 50_000;

export async function request(url: string, query: string, variables: Record<string, unknown>, token: string | null, timeoutMs = REQUEST_TIMEOUT_MS): Promise<Answer> {
  const startedAt = Date.now();
  const elapsed = () => Date.now() - startedAt;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  let response: Response;
  let text: string;
  try {
    response = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ query, variables }), signal: AbortSignal.timeout(timeoutMs) });
    text = await response.text();
  } catch (error) {
    const name = (error as Error).name;
    if (name === 'TimeoutError' || name === 'AbortError') return { kind: 'ambiguous', code: 'TIMEOUT', message: `no answer within ${timeoutMs} ms`, ms: elapsed() };
    const cause = (error as { cause?: { code?: string } }).cause?.code;
    return { kind: 'ambiguous', code: `NETWORK_${cause ?? 'ERROR'}`, message: String((error as Error).message), ms: elapsed() };
  }
  let body: { data?: Record<string, any> | null; errors?: { message: string; extensions?: { code?: string } }[] };
  try {
    body = JSON.parse(text);
  } catch {
    return { kind: 'ambiguous', code: `HTTP_${response.status}`, message: text.slice(0, 200), ms: elapsed() };
  }
  const error = body.errors?.[0];
  if (!error && body.data) return { kind: 'ok', data: body.data, ms: elapsed() };
  const code = error?.extensions?.code ?? `HTTP_${response.status}`;
  const message = error?.message ?? text.slice(0, 200);
  return DEFINITE_CODES.has(code) ? { kind: 'rejected', code, message, ms: elapsed() } : { kind: 'ambiguous', code, message, ms: elapsed() };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A small seeded generator (mulberry32), so a run's mix of operations can be repeated. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4_294_967_296;
  };
}
