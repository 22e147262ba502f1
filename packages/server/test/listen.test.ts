// listen()'s close: in-flight requests finish, and their keep-alive connections end as soon as
// they are idle, not when the grace period cuts them.
import { request, Agent } from 'node:http';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { listen } from '../src/listen';

describe('listen().close', () => {
  it('lets an in-flight request finish, then ends its keep-alive connection at once', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let arrived!: () => void;
    const inFlight = new Promise<void>((resolve) => (arrived = resolve));
    const listening = await listen(async (_req, res) => {
      arrived();
      await held;
      res.end('done');
    }, 0, '127.0.0.1');
    const agent = new Agent({ keepAlive: true });
    try {
      const response = new Promise<{ body: string; socketClosed: Promise<void> }>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: listening.port, path: '/', agent }, (res) => {
          let body = '';
          res.on('data', (chunk) => (body += chunk));
          res.on('end', () => resolve({ body, socketClosed: new Promise((closed) => req.socket!.once('close', () => closed())) }));
        });
        req.on('error', reject);
        req.end();
      });
      await inFlight;
      const started = Date.now();
      const closed = listening.close();
      setTimeout(release, 100);
      const { body, socketClosed } = await response;
      expect(body).toBe('done');
      await closed;
      await socketClosed;
      // Without the sweep the connection stays open until the 5 s grace period cuts it.
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      release();
      agent.destroy();
    }
  });
});

describe('listen(): requests the HTTP parser refuses', () => {
  const raw = (port: number, text: string) =>
    new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.end(text));
      let answer = '';
      socket.on('data', (chunk) => (answer += chunk));
      socket.on('end', () => resolve(answer));
      socket.on('error', reject);
    });

  it('answers headers past the limit with 431 and a GraphQL error body, malformed HTTP with 400', async () => {
    const listening = await listen((_req, res) => res.end('handled'), 0, '127.0.0.1');
    try {
      const large = await raw(listening.port, `GET /graphql HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
      expect(large).toMatch(/^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
      expect(JSON.parse(large.slice(large.indexOf('\r\n\r\n') + 4))).toEqual({ errors: [{ message: 'The request headers are too large.', extensions: { code: 'BAD_REQUEST' } }] });
      const malformed = await raw(listening.port, 'NOT HTTP AT ALL\r\n\r\n');
      expect(malformed).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
      expect(JSON.parse(malformed.slice(malformed.indexOf('\r\n\r\n') + 4)).errors[0].extensions).toEqual({ code: 'BAD_REQUEST' });
    } finally {
      await listening.close();
    }
  });

  it('never writes into a response already under way: the connection is cut instead', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const listening = await listen((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('part of an answer');
      void held.then(() => res.end());
    }, 0, '127.0.0.1');
    try {
      const received = await new Promise<string>((resolve, reject) => {
        let answer = '';
        const socket = connect(listening.port, '127.0.0.1', () => socket.write('GET /a HTTP/1.1\r\nHost: x\r\n\r\n'));
        socket.on('data', (chunk) => {
          answer += chunk;
          // The first answer has begun: the next request on the same connection cannot be parsed.
          if (answer.includes('part of an answer') && !answer.includes('X-Big')) socket.write(`GET /b HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
        });
        socket.on('close', () => resolve(answer));
        socket.on('error', reject);
      });
      expect(received).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      expect(received).not.toContain('431');
      expect(received).not.toContain('BAD_REQUEST');
    } finally {
      release();
      await listening.close();
    }
  });
});
