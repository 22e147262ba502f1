/**
 * HTTP between our own services: undici's request() on one keep-alive agent per process. Measured
 * here (PERFORMANCE.md), the WHATWG fetch and Apollo's default fetcher cost about twice the CPU per
 * call; the gateway hop and every service call go through this instead.
 */
import { Agent, request } from 'undici';
import { traceOutgoing } from '@paygraph/telemetry';

/**
 * Opening a connection to one of our services gives up after this long (undici's default is
 * 10 s): a refused connection fails at once anyway, this bounds a host that does not answer, so
 * the caller answers SERVICE_UNAVAILABLE within ~2 s.
 */
export const SERVICE_CONNECT_TIMEOUT_MS = 1_000;

/** Bounded: sockets per origin and how long an idle one is kept. */
const agent = new Agent({ connections: 128, keepAliveTimeout: 30_000, keepAliveMaxTimeout: 60_000, connect: { timeout: SERVICE_CONNECT_TIMEOUT_MS } });

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

export async function postText(url: string, headers: Record<string, string>, body: string, timeoutMs: number): Promise<HttpResponse> {
  // A CLIENT span and the W3C traceparent header when tracing is on (@paygraph/telemetry); else a plain call.
  return traceOutgoing(url, headers, async (outgoing) => {
    // The whole call (headers and body) is bounded by a timer cleared when the call ends.
    // AbortSignal.timeout bounds it the same way, but its timer runs out after every call, answered
    // or not, and builds a DOMException each time: 2% of the gateway's CPU under bench:gateway.
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new DOMException(`The call took longer than ${timeoutMs} ms`, 'TimeoutError')), timeoutMs);
    try {
      const response = await request(url, {
        method: 'POST',
        headers: outgoing,
        body,
        dispatcher: agent,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        signal: controller.signal,
      });
      return { status: response.statusCode, headers: response.headers, text: await response.body.text() };
    } finally {
      clearTimeout(timer);
    }
  });
}

/**
 * The few members of a fetch Response that Apollo's RemoteGraphQLDataSource reads, over undici's
 * request(). Re-check on every @apollo/gateway upgrade.
 */
export function keepAliveFetcher(timeoutMs: number) {
  return async (url: string, init?: { method?: string; headers?: Record<string, string>; body?: string }) => {
    const response = await postText(url, init?.headers ?? {}, init?.body ?? '', timeoutMs);
    const header = (name: string) => {
      const value = response.headers[name.toLowerCase()];
      return Array.isArray(value) ? value.join(', ') : (value ?? null);
    };
    return {
      ok: response.status >= 200 && response.status < 300,
      status: response.status,
      statusText: '',
      url,
      headers: { get: header, has: (name: string) => header(name) !== null },
      json: async () => JSON.parse(response.text) as unknown,
      text: async () => response.text,
    };
  };
}
