// jsonBody against express.json: the same raw requests, byte for byte, to one app with each parser;
// the status and the body the handler saw must be the same, including for the requests the fast
// path hands to express.json (gzip, other charsets, chunked, over the limit, empty).
import { connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listen, type Listening } from '../src/listen';
import { jsonBody, parseJsonText } from '../src/json-body';

const LIMIT = 256;

interface Seen {
  errors: { status: unknown; type: unknown }[];
}

function appWith(parser: express.RequestHandler, seen: Seen): express.Express {
  const app = express();
  app.post('/echo', parser, (request, response) => {
    response.json({ hasBody: 'body' in request, body: request.body ?? null });
  });
  app.use((error: { status?: unknown; type?: unknown }, _request: express.Request, response: express.Response, _next: express.NextFunction) => {
    seen.errors.push({ status: error.status, type: error.type });
    response.status(typeof error.status === 'number' ? error.status : 500).json({ failed: true });
  });
  return app;
}

/** Sends the exact bytes given (head, then each body part after a pause) and reads the answer. */
function send(port: number, head: string, parts: Buffer[], options: { endEarly?: boolean } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let raw = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk) => (raw += chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0);
      const bodyStart = raw.indexOf('\r\n\r\n');
      resolve({ status, body: bodyStart === -1 ? '' : raw.slice(bodyStart + 4) });
    });
    socket.on('connect', async () => {
      socket.write(head);
      for (const part of parts) {
        await new Promise((done) => setTimeout(done, 15));
        socket.write(part);
      }
      if (options.endEarly) socket.destroy();
    });
  });
}

const request = (headers: Record<string, string>, body: Buffer | Buffer[]) => {
  const parts = Array.isArray(body) ? body : [body];
  const lines = ['POST /echo HTTP/1.1', 'Host: 127.0.0.1', 'Connection: close', ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`)];
  return { head: `${lines.join('\r\n')}\r\n\r\n`, parts };
};
const json = (text: string, extra: Record<string, string> = {}) => {
  const body = Buffer.from(text, 'utf8');
  return request({ 'Content-Type': 'application/json', 'Content-Length': String(body.length), ...extra }, body);
};

describe('jsonBody', () => {
  const seenFast: Seen = { errors: [] };
  const seenExpress: Seen = { errors: [] };
  let fast: Listening;
  let reference: Listening;
  let handedOver = 0;
  const countingFallback: express.RequestHandler = (request, response, next) => {
    handedOver += 1;
    express.json({ limit: LIMIT })(request, response, next);
  };
  beforeAll(async () => {
    fast = await listen(appWith(jsonBody({ limit: LIMIT }, countingFallback), seenFast), 0, '127.0.0.1');
    reference = await listen(appWith(express.json({ limit: LIMIT }), seenExpress), 0, '127.0.0.1');
  });
  afterAll(async () => {
    await fast?.close();
    await reference?.close();
  });

  const euro = Buffer.from('{"price":"12 €","name":"Zoë"}', 'utf8');
  const split = euro.indexOf(0xe2) + 1; // inside the euro sign's three bytes
  const gzipped = gzipSync(Buffer.from('{"zipped":true}'));
  const cases: [string, { head: string; parts: Buffer[] }][] = [
    ['an object', json('{"query":"{ me { id } }","variables":{"a":1}}')],
    ['an array (a batch)', json('[{"query":"{ a }"},{"query":"{ b }"}]')],
    ['a UTF-8 charset parameter', json('{"a":1}', { 'Content-Type': 'application/json; charset=utf-8' })],
    ['upper-case type and charset', json('{"a":1}', { 'Content-Type': 'Application/JSON; Charset="UTF-8"' })],
    ['a byte-order mark', request({ 'Content-Type': 'application/json', 'Content-Length': '10' }, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"a":1}')]))],
    ['leading whitespace', json(' \n\t{"a":1}')],
    ['a string (strict mode)', json('"just a string"')],
    ['a number (strict mode)', json('42')],
    ['only whitespace', json('   ')],
    ['broken JSON', json('{"a":')],
    ['a multi-byte character split across packets', request({ 'Content-Type': 'application/json', 'Content-Length': String(euro.length) }, [euro.subarray(0, split), euro.subarray(split)])],
    ['a body at the limit', json(`{"a":"${'x'.repeat(LIMIT - 8)}"}`)], // 6 + (LIMIT - 8) + 2 bytes
    ['a body one byte over the limit', json(`{"a":"${'x'.repeat(LIMIT - 7)}"}`)],
    ['a body well over the limit', json(`{"a":"${'x'.repeat(LIMIT)}"}`)],
    ['gzip', request({ 'Content-Type': 'application/json', 'Content-Encoding': 'gzip', 'Content-Length': String(gzipped.length) }, gzipped)],
    ['an unknown content-encoding', json('{"a":1}', { 'Content-Encoding': 'snappy' })],
    ['a latin1 charset', json('{"a":1}', { 'Content-Type': 'application/json; charset=latin1' })],
    ['text/plain', json('{"a":1}', { 'Content-Type': 'text/plain' })],
    ['application/graphql+json', json('{"a":1}', { 'Content-Type': 'application/graphql+json' })],
    ['no content type', request({ 'Content-Length': '7' }, Buffer.from('{"a":1}'))],
    ['an empty body', request({ 'Content-Type': 'application/json', 'Content-Length': '0' }, [])],
    ['chunked', request({ 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' }, [Buffer.from('7\r\n{"a":1}\r\n0\r\n\r\n')])],
  ];

  it('sizes the limit cases as named', () => {
    const length = (name: string) => Number(/Content-Length: (\d+)/.exec(cases.find(([caseName]) => caseName === name)![1].head)![1]);
    expect(length('a body at the limit')).toBe(LIMIT);
    expect(length('a body one byte over the limit')).toBe(LIMIT + 1);
  });

  it.each(cases)('answers %s as express.json does', async (_name, { head, parts }) => {
    const [mine, theirs] = await Promise.all([send(fast.port, head, parts), send(reference.port, head, parts)]);
    expect(mine.status).toBeGreaterThan(0);
    expect(mine).toEqual(theirs);
  });

  it('reads plain JSON itself and hands express.json only the rest', async () => {
    const plain = json('{"query":"{ me { id } }"}');
    const before = handedOver;
    expect((await send(fast.port, plain.head, plain.parts)).status).toBe(200);
    expect(handedOver).toBe(before);
    const zipped = cases.find(([name]) => name === 'gzip')![1];
    expect((await send(fast.port, zipped.head, zipped.parts)).status).toBe(200);
    expect(handedOver).toBe(before + 1);
  });

  it('gives the error handler the same status and type as body-parser', () => {
    expect(seenFast.errors).toEqual(seenExpress.errors);
    expect(seenFast.errors.map((error) => error.status)).toEqual(expect.arrayContaining([400, 413, 415]));
  });

  it('parses what it reads itself as JSON.parse does, and refuses what strict mode refuses', () => {
    expect(parseJsonText('\ufeff {"a":[1,"é"]}')).toEqual({ a: [1, 'é'] });
    expect(() => parseJsonText('null')).toThrow(expect.objectContaining({ status: 400, type: 'entity.parse.failed' }));
    expect(() => parseJsonText('{"a":1')).toThrow(expect.objectContaining({ status: 400, type: 'entity.parse.failed' }));
  });

  it('fails a request whose body ends before its content-length with a 400, once, and keeps serving', async () => {
    const before = seenFast.errors.length;
    const { head, parts } = request({ 'Content-Type': 'application/json', 'Content-Length': '100' }, Buffer.from('{"a":'));
    await send(fast.port, head, parts, { endEarly: true });
    await new Promise((done) => setTimeout(done, 50));
    expect(seenFast.errors.slice(before)).toEqual([{ status: 400, type: 'request.aborted' }]);
    const after = await send(fast.port, json('{"ok":true}').head, json('{"ok":true}').parts);
    expect(after).toMatchObject({ status: 200 });
    expect(JSON.parse(after.body)).toEqual({ hasBody: true, body: { ok: true } });
  });
});
