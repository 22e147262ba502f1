/**
 * The access log: one JSON line per HTTP request, at the gateway and in every subgraph, written
 * when the response is finished (or the client went away): method, path, GraphQL operation name,
 * status, duration, request id, trace id and user id. It costs one object and one log write per
 * request: nothing is parsed that the request does not already carry (the body is parsed by then;
 * a document without an operationName gives the name of its first operation, read with one
 * anchored pattern over its first characters).
 *
 * Probes and scrapes (/health, /ready, /metrics) are logged at debug: at info they would bury
 * the traffic (compose checks every service every 5 s).
 */
import type express from 'express';
import { trace } from '@opentelemetry/api';
import type { Viewer } from '@paygraph/identity';
import { REQUEST_ID_HEADER, requestIdFrom, unredactedLogger, type Logger } from '@paygraph/logging';

/** What a request's line says beyond what the HTTP exchange shows; filled in while it runs. */
export interface AccessRecord {
  requestId: string;
  /** The W3C trace id: the incoming traceparent's, or the request's span once tracing started one. */
  traceId?: string;
  /** A user's id; services log as `caller` instead. */
  userId?: string;
  caller?: string;
}

const records = new WeakMap<express.Request, AccessRecord>();

/** The request's access record (absent where no access log runs, e.g. in unit tests of handlers). */
export function accessRecordOf(request: express.Request): AccessRecord | undefined {
  return records.get(request);
}

/**
 * Notes who made the request (called once the bearer token is verified, inside the request's span
 * when tracing is on: its trace id is the one to log, also for a request that came without one).
 */
export function recordViewer(request: express.Request, viewer: Viewer): void {
  const record = records.get(request);
  if (!record) return;
  record.traceId = activeTraceId() ?? record.traceId;
  if (viewer.kind === 'user') record.userId = viewer.userId;
  else if (viewer.kind === 'service') record.caller = viewer.service;
}

const QUIET_PATHS: ReadonlySet<string> = new Set(['/health', '/ready', '/metrics']);
/** The first operation's name of a document, within its first characters (no full parse). */
const OPERATION_NAME_PATTERN = /^\s*(?:query|mutation|subscription)\s+([_A-Za-z][_0-9A-Za-z]*)/;
const OPERATION_SCAN_CHARACTERS_MAX = 200;
/** W3C traceparent: version-traceid-parentid-flags; the trace id is 32 lowercase hex digits, not all zero. */
const TRACEPARENT_PATTERN = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/;
const INVALID_TRACE_ID = '00000000000000000000000000000000';

export function operationNameOf(request: express.Request): string | undefined {
  const source = (request.body && typeof request.body === 'object' ? request.body : request.query) as { operationName?: unknown; query?: unknown } | undefined;
  if (!source) return undefined;
  if (typeof source.operationName === 'string' && source.operationName) return source.operationName;
  if (typeof source.query !== 'string') return undefined;
  return OPERATION_NAME_PATTERN.exec(source.query.slice(0, OPERATION_SCAN_CHARACTERS_MAX))?.[1];
}

function activeTraceId(): string | undefined {
  const active = trace.getActiveSpan()?.spanContext().traceId;
  return active && active !== INVALID_TRACE_ID ? active : undefined;
}

/** The trace this request belongs to: the active OpenTelemetry span's, else the incoming traceparent's. */
export function traceIdOf(request: express.Request): string | undefined {
  const active = activeTraceId();
  if (active) return active;
  const header = request.headers.traceparent;
  if (typeof header !== 'string') return undefined;
  const traceId = TRACEPARENT_PATTERN.exec(header.trim())?.[1];
  return traceId && traceId !== INVALID_TRACE_ID ? traceId : undefined;
}

/** Express middleware writing the access log of `logger` (a service's logger: it carries `service`). */
export function accessLog(logger: Logger): express.RequestHandler {
  // The line's fields are fixed and hold no credential: written without redaction (gated by `logger`'s level below).
  const lines = unredactedLogger(logger);
  return (request, response, next) => {
    const started = process.hrtime.bigint();
    const record: AccessRecord = { requestId: requestIdFrom(request.headers[REQUEST_ID_HEADER]), traceId: traceIdOf(request) };
    records.set(request, record);
    // Read now: mounted routers (/graphql) rewrite request.path for their handlers.
    const path = request.path;
    response.once('close', () => {
      const quiet = QUIET_PATHS.has(path);
      if (quiet ? !logger.isLevelEnabled('debug') : !logger.isLevelEnabled('info')) return;
      const line = {
        method: request.method,
        path,
        operation: operationNameOf(request),
        status: response.writableFinished ? response.statusCode : 499,
        durationMs: Math.round(Number(process.hrtime.bigint() - started) / 1e4) / 100,
        requestId: record.requestId,
        traceId: record.traceId,
        userId: record.userId,
        caller: record.caller,
      };
      if (quiet) lines.debug(line, 'request');
      else lines.info(line, 'request');
    });
    next();
  };
}
