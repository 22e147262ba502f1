/**
 * Merging identical in-flight subgraph reads (issue 14), as Hive Gateway does by default: while a
 * query to a subgraph is in flight, an identical one (same subgraph, same document, variables and
 * operation name, same authorization, gateway credential and every other forwarded header that
 * could change the answer) waits for the first one's response instead of sending its own.
 *
 * Never merged:
 * - writes: only a `query` operation (isReadRequestBody, the rule the balancer resends by) is a
 *   candidate, so a mutation always reaches the subgraph once per request;
 * - requests of different callers: the key holds the headers, so two tokens never share an answer.
 * Headers that only correlate a request (request id, trace context) are left out of the key: the
 * subgraph logs and traces the first request's ids for the merged ones.
 *
 * Each waiter receives the same buffered HTTP response (its text) and parses it itself, so no two
 * requests share a mutable result; an error (unreachable, timeout) reaches every waiter.
 */
import { isReadRequestBody } from '@paygraph/service-client';

/** Forwarded headers that never change a subgraph's answer, only how it is logged or traced. */
export const CORRELATION_HEADERS: ReadonlySet<string> = new Set(['x-request-id', 'traceparent', 'tracestate', 'baggage']);

/**
 * The merge key of a subgraph request, or null when it must not be merged (not a read). Header
 * names are compared lower-cased and sorted, so the order they were set in does not matter.
 */
export function inflightReadKey(headers: Readonly<Record<string, string>> | undefined, body: string | undefined): string | null {
  if (body === undefined || !isReadRequestBody(body)) return null;
  const entries: string[] = [];
  for (const name in headers) {
    const lower = name.toLowerCase();
    if (!CORRELATION_HEADERS.has(lower)) entries.push(`${lower}:${headers[name]}`);
  }
  entries.sort();
  // A newline cannot occur in a header name or value (HTTP forbids it), so the parts cannot run together.
  return `${entries.join('\n')}\n\n${body}`;
}

export interface InflightMerger<T> {
  /** Runs `work`, or joins the identical one in flight; a null key always runs `work`. */
  run(key: string | null, work: () => Promise<T>): Promise<T>;
  /** Requests in flight now (bounded by the requests in flight: an entry leaves when it settles). */
  readonly size: number;
}

export function createInflightMerger<T>(): InflightMerger<T> {
  const inflight = new Map<string, Promise<T>>();
  return {
    run(key, work) {
      if (key === null) return work();
      const pending = inflight.get(key);
      if (pending) return pending;
      // Started a microtask later so that even a synchronous throw settles `started` (and leaves the map).
      const started: Promise<T> = Promise.resolve()
        .then(work)
        .finally(() => {
          if (inflight.get(key) === started) inflight.delete(key);
        });
      inflight.set(key, started);
      return started;
    },
    get size() {
      return inflight.size;
    },
  };
}
