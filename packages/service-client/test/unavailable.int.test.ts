// Proves that a service call which cannot get an answer is the public, retryable
// SERVICE_UNAVAILABLE, fast, and that a callee's own SERVICE_UNAVAILABLE passes through, with real
// HTTP on loopback: a port nobody listens on, a server that never answers, a 503 without a GraphQL
// body, and a subgraph-shaped answer carrying SERVICE_UNAVAILABLE. A callee's internal error stays
// a ServiceCallError (masked as internal by the caller's server).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { createServiceClient, ServiceCallError } from '../src';

const ANSWER_BOUND_MS = 2_000;
const servers: Server[] = [];

async function serve(handler: Parameters<typeof createServer>[1]): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
}

async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}/graphql`;
}

afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

function clientFor(url: string, timeoutMs?: number) {
  return createServiceClient({
    service: 'payments',
    serviceSecret: 'unused',
    directory: { url: () => url },
    tokenProvider: async () => 'token',
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
  });
}

async function failure(promise: Promise<unknown>): Promise<{ error: unknown; elapsedMs: number }> {
  const started = Date.now();
  const error = await promise.then(
    () => null,
    (caught: unknown) => caught,
  );
  return { error, elapsedMs: Date.now() - started };
}

const codeOf = (error: unknown) => (error as { extensions?: { code?: unknown } } | null)?.extensions?.code;

describe('calls that get no answer', () => {
  it('a refused connection is SERVICE_UNAVAILABLE at once', async () => {
    const { error, elapsedMs } = await failure(clientFor(await closedPortUrl()).request('risk', '{ __typename }'));
    expect(codeOf(error)).toBe('SERVICE_UNAVAILABLE');
    expect((error as Error).message).not.toMatch(/127\.0\.0\.1|ECONNREFUSED/);
    expect(elapsedMs).toBeLessThan(ANSWER_BOUND_MS);
  });

  it('a callee that does not answer within the timeout is SERVICE_UNAVAILABLE', async () => {
    const url = await serve(() => {
      // Never answers.
    });
    const { error, elapsedMs } = await failure(clientFor(url, 500).request('risk', '{ __typename }'));
    expect(codeOf(error)).toBe('SERVICE_UNAVAILABLE');
    expect(elapsedMs).toBeLessThan(ANSWER_BOUND_MS);
  });

  it('a callee whose answer trickles in past the timeout is SERVICE_UNAVAILABLE: the timeout bounds the whole call', async () => {
    // Headers at once, then a byte every 100 ms: each read is within undici's body timeout, so only
    // the bound on the whole call ends it.
    const url = await serve((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      const drip = setInterval(() => response.write(' '), 100);
      response.on('close', () => clearInterval(drip));
    });
    const { error, elapsedMs } = await failure(clientFor(url, 500).request('risk', '{ __typename }'));
    expect(codeOf(error)).toBe('SERVICE_UNAVAILABLE');
    expect(elapsedMs).toBeLessThan(ANSWER_BOUND_MS);
  });

  it('a 503 without a GraphQL body (a proxy, a restarting callee) is SERVICE_UNAVAILABLE', async () => {
    const url = await serve((_request, response) => {
      response.writeHead(503, { 'content-type': 'text/plain' }).end('upstream unavailable');
    });
    const { error } = await failure(clientFor(url).request('risk', '{ __typename }'));
    expect(codeOf(error)).toBe('SERVICE_UNAVAILABLE');
  });
});

describe('calls that get an answer', () => {
  it("a callee's SERVICE_UNAVAILABLE passes through with its code", async () => {
    const url = await serve((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ message: 'database down', extensions: { code: 'SERVICE_UNAVAILABLE' } }], data: null }));
    });
    const { error } = await failure(clientFor(url).request('ledger', '{ __typename }'));
    expect(codeOf(error)).toBe('SERVICE_UNAVAILABLE');
  });

  it("a callee's internal error stays a ServiceCallError (internal, not retryable by contract)", async () => {
    const url = await serve((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } }], data: null }));
    });
    const { error } = await failure(clientFor(url).request('ledger', '{ __typename }'));
    expect(error).toBeInstanceOf(ServiceCallError);
  });
});
