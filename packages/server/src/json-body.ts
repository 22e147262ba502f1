/**
 * The JSON body of `POST /graphql`, at the gateway and in every subgraph: express.json's result
 * for the requests every client sends (`content-type: application/json`, UTF-8, a content-length
 * within the limit, no content-encoding), read without its stack of helpers per request
 * (type-is, content-type, raw-body, iconv-lite, on-finished, http-errors: about 4% of the
 * gateway's busy CPU under bench:gateway). Every other request (gzip, another charset, chunked,
 * empty, over the limit, a content type that only looks like JSON) goes to express.json itself,
 * so its answers (415, 413 after the body is drained, skipped bodies) stay exactly express's.
 *
 * What the fast path does as body-parser 2 does: a leading byte-order mark is dropped (iconv-lite
 * does), an empty object is not special-cased (those go to express.json), strict mode refuses a
 * body that is not an object or an array, a parse failure is an error with status 400 and
 * type `entity.parse.failed` for the error handler, a request that ends early is a 400.
 */
import type { IncomingMessage } from 'node:http';
import express from 'express';

/** `application/json`, alone or with a UTF-8 charset: anything else is express.json's to judge. */
function isPlainJson(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  if (contentType.length === 16) return contentType.toLowerCase() === 'application/json';
  const semicolon = contentType.indexOf(';');
  if (semicolon === -1 || contentType.slice(0, semicolon).trim().toLowerCase() !== 'application/json') return false;
  const parameters = contentType.slice(semicolon + 1).trim().toLowerCase();
  return parameters === 'charset=utf-8' || parameters === 'charset="utf-8"';
}

/** A decimal content-length, else -1 (chunked or malformed: express.json's). */
function declaredLength(header: string | undefined): number {
  if (header === undefined || header.length === 0 || header.length > 15) return -1;
  for (let index = 0; index < header.length; index += 1) {
    const code = header.charCodeAt(index);
    if (code < 48 || code > 57) return -1;
  }
  return Number(header);
}

const httpError = (status: number, message: string, type: string, cause?: unknown) =>
  Object.assign(new Error(message, cause === undefined ? undefined : { cause }), { status, statusCode: status, expose: true, type });

/** Whitespace as JSON defines it (RFC 8259): space, tab, line feed, carriage return. */
const isJsonWhitespace = (code: number) => code === 0x20 || code === 0x09 || code === 0x0a || code === 0x0d;

export function parseJsonText(text: string): unknown {
  const withoutMark = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  let start = 0;
  while (start < withoutMark.length && isJsonWhitespace(withoutMark.charCodeAt(start))) start += 1;
  const first = withoutMark[start];
  if (first !== '{' && first !== '[') throw httpError(400, 'Request body is not a JSON object or array', 'entity.parse.failed');
  try {
    return JSON.parse(withoutMark);
  } catch (error) {
    throw httpError(400, 'Request body is not valid JSON', 'entity.parse.failed', error);
  }
}

/**
 * `limit` in bytes (a number, so the fast path and express.json read it alike). `fallback` is
 * express.json with the same limit; a test passes its own to see which requests reach it.
 */
export function jsonBody(options: { limit: number }, fallback: express.RequestHandler = express.json({ limit: options.limit })): express.RequestHandler {
  const { limit } = options;
  return (request, response, next) => {
    const headers = request.headers;
    const length = declaredLength(headers['content-length']);
    const encoding = headers['content-encoding'];
    if (
      length <= 0 ||
      length > limit ||
      (encoding !== undefined && encoding.toLowerCase() !== 'identity') ||
      !isPlainJson(headers['content-type']) ||
      request.readableDidRead ||
      request.readableEnded ||
      request.body !== undefined
    ) {
      fallback(request, response, next);
      return;
    }
    readBody(request, length, (error, text) => {
      if (error) {
        next(error);
        return;
      }
      try {
        request.body = parseJsonText(text!);
      } catch (parseError) {
        next(parseError);
        return;
      }
      next();
    });
  };
}

/** The body's bytes as UTF-8 text; node's HTTP parser delivers no more than the content-length. */
function readBody(request: IncomingMessage, length: number, done: (error: unknown, text?: string) => void): void {
  let first: Buffer | undefined;
  let chunks: Buffer[] | undefined;
  let received = 0;
  let settled = false;
  const finish = (error: unknown, text?: string) => {
    if (settled) return;
    settled = true;
    request.off('data', onData);
    request.off('end', onEnd);
    request.off('error', onError);
    request.off('close', onClose);
    done(error, text);
  };
  const onData = (chunk: Buffer) => {
    received += chunk.length;
    if (first === undefined) first = chunk;
    else (chunks ??= [first]).push(chunk);
  };
  const onEnd = () => {
    if (received !== length) {
      finish(httpError(400, 'request size did not match content length', 'request.size.invalid'));
      return;
    }
    const body = chunks ? Buffer.concat(chunks, received) : first!;
    finish(null, body.toString('utf8'));
  };
  const onError = (error: unknown) => finish(httpError(400, 'request aborted', 'request.aborted', error));
  const onClose = () => {
    if (!request.readableEnded) finish(httpError(400, 'request aborted', 'request.aborted'));
  };
  request.on('data', onData);
  request.on('end', onEnd);
  request.on('error', onError);
  request.on('close', onClose);
}
