// Proves that the gateway's subgraph hop merges identical in-flight reads and nothing else: the
// data source talks to a counting HTTP subgraph that holds every answer until the test releases
// it, so requests sent together are in flight together; the subgraph's count says how many
// requests really reached it.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { GATEWAY_CREDENTIAL_HEADER } from '@paygraph/identity';
import { SubgraphDataSource } from '../src/data-source';
import { inflightReadKey } from '../src/dedupe';
import type { GatewayMetrics } from '../src/metrics';

/** Bounded waits for requests that should arrive; the assertions follow, whatever arrived. */
const ARRIVAL_WAIT_MS_MAX = 3_000;

interface Received {
  authorization: string | undefined;
  requestId: string | undefined;
  body: string;
}

let server: Server;
let url: string;
let received: Received[] = [];
let held: (() => void)[] = [];
/** What the subgraph answers: the default echoes the token; a test may answer an error instead. */
let answer: (request: Received) => { status: number; body: unknown } = (request) => ({ status: 200, body: { data: { me: { token: request.authorization ?? null } } } });

async function readBody(request: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of request) text += chunk;
  return text;
}

beforeAll(async () => {
  server = createServer((request, response) => {
    void readBody(request).then((body) => {
      const entry = { authorization: request.headers.authorization, requestId: request.headers['x-request-id'] as string | undefined, body };
      received.push(entry);
      held.push(() => {
        const { status, body: payload } = answer(entry);
        response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(payload));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
});

afterEach(() => {
  for (const release of held.splice(0)) release();
  received = [];
  answer = (request) => ({ status: 200, body: { data: { me: { token: request.authorization ?? null } } } });
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const metrics = { observeSubgraphFetch: () => {} } as unknown as GatewayMetrics;
const source = () => new SubgraphDataSource({ name: 'users', url, timeoutMs: 5_000, metrics, callerCredential: 'gateway-credential' });

function send(dataSource: SubgraphDataSource, query: string, token: string, requestId: string, variables: Record<string, unknown> = {}) {
  return dataSource.process({
    kind: 'incoming operation',
    request: { query, variables, operationName: undefined },
    context: { authorization: `Bearer ${token}`, requestId },
    incomingRequestContext: {},
    pathInIncomingRequest: [],
  } as unknown as Parameters<SubgraphDataSource['process']>[0]);
}

/** Waits until `count` requests reached the subgraph (or the bound passed), then lets them all answer. */
async function releaseWhen(count: number): Promise<void> {
  const deadline = Date.now() + ARRIVAL_WAIT_MS_MAX;
  while (received.length < count && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  // A few more turns of the event loop: a request that should not exist would arrive now.
  for (let turn = 0; turn < 20; turn += 1) await new Promise((resolve) => setImmediate(resolve));
  for (const release of held.splice(0)) release();
}

describe('merging identical in-flight subgraph reads', () => {
  it('sends concurrent identical queries with one token as one subgraph request, and answers each caller', async () => {
    const dataSource = source();
    const calls = [1, 2, 3, 4, 5].map((index) => send(dataSource, '{ me { id } }', 'token-a', `request-${index}`));
    await releaseWhen(1);
    const results = await Promise.all(calls);
    expect(received).toHaveLength(1);
    for (const result of results) expect(result.data).toEqual({ me: { token: 'Bearer token-a' } });
    // Each caller parses its own copy: the gateway shapes results in place.
    expect(new Set(results.map((result) => result.data)).size).toBe(5);
    // Sequential requests are not merged: the first is no longer in flight.
    const later = send(dataSource, '{ me { id } }', 'token-a', 'request-6');
    await releaseWhen(2);
    await later;
    expect(received).toHaveLength(2);
  });

  it('never merges requests carrying different tokens', async () => {
    const dataSource = source();
    const calls = [send(dataSource, '{ me { id } }', 'token-a', 'r1'), send(dataSource, '{ me { id } }', 'token-b', 'r2')];
    await releaseWhen(2);
    const [first, second] = await Promise.all(calls);
    expect(received.map((request) => request.authorization).sort()).toEqual(['Bearer token-a', 'Bearer token-b']);
    expect(first!.data).toEqual({ me: { token: 'Bearer token-a' } });
    expect(second!.data).toEqual({ me: { token: 'Bearer token-b' } });
  });

  it('never merges different variables or documents', async () => {
    const dataSource = source();
    const calls = [
      send(dataSource, 'query($id: ID!) { user(id: $id) { id } }', 'token-a', 'r1', { id: 'usr_1' }),
      send(dataSource, 'query($id: ID!) { user(id: $id) { id } }', 'token-a', 'r2', { id: 'usr_2' }),
      send(dataSource, '{ me { name } }', 'token-a', 'r3'),
    ];
    await releaseWhen(3);
    await Promise.all(calls);
    expect(received).toHaveLength(3);
  });

  it('never merges mutations', async () => {
    const dataSource = source();
    const mutation = 'mutation($input: CreditWalletInput!) { creditWallet(input: $input) { id } }';
    const variables = { input: { amount: { amount: '100', currency: 'USD' }, idempotencyKey: 'same-key' } };
    const calls = [send(dataSource, mutation, 'token-a', 'r1', variables), send(dataSource, mutation, 'token-a', 'r2', variables)];
    await releaseWhen(2);
    await Promise.all(calls);
    expect(received).toHaveLength(2);
    expect(received.map((request) => request.requestId).sort()).toEqual(['r1', 'r2']);
  });

  it('delivers an error answer to every merged caller', async () => {
    answer = () => ({ status: 200, body: { data: null, errors: [{ message: 'You must be logged in.', extensions: { code: 'UNAUTHENTICATED' } }] } });
    const dataSource = source();
    const calls = [1, 2, 3].map((index) => send(dataSource, '{ me { id } }', 'token-a', `r${index}`));
    await releaseWhen(1);
    const results = await Promise.all(calls);
    expect(received).toHaveLength(1);
    for (const result of results) expect(result.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('delivers a failed request (HTTP 503) to every merged caller as SERVICE_UNAVAILABLE', async () => {
    answer = () => ({ status: 503, body: { errors: [{ message: 'down' }] } });
    const dataSource = source();
    const calls = [1, 2, 3].map((index) => send(dataSource, '{ me { id } }', 'token-a', `r${index}`).then(() => null, (error: { extensions?: { code?: unknown } }) => error.extensions?.code));
    await releaseWhen(1);
    expect(await Promise.all(calls)).toEqual(['SERVICE_UNAVAILABLE', 'SERVICE_UNAVAILABLE', 'SERVICE_UNAVAILABLE']);
    expect(received).toHaveLength(1);
  });
});

describe('inflightReadKey', () => {
  const body = JSON.stringify({ query: '{ me { id } }', variables: {} });

  it('is null for anything but a query operation', () => {
    expect(inflightReadKey({}, JSON.stringify({ query: 'mutation { logout }' }))).toBeNull();
    expect(inflightReadKey({}, JSON.stringify({ query: 'subscription { x }' }))).toBeNull();
    expect(inflightReadKey({}, JSON.stringify({ query: '# comment\nquery { me { id } }' }))).toBeNull();
    expect(inflightReadKey({}, undefined)).toBeNull();
    expect(inflightReadKey({}, body)).not.toBeNull();
  });

  it('holds every header that can change the answer, whatever their order, and no correlation header', () => {
    const base = { authorization: 'Bearer a', [GATEWAY_CREDENTIAL_HEADER]: 'c', 'x-paygraph-client-address': 'addr' };
    const key = inflightReadKey(base, body);
    expect(inflightReadKey({ 'x-paygraph-client-address': 'addr', [GATEWAY_CREDENTIAL_HEADER]: 'c', Authorization: 'Bearer a' }, body)).toBe(key);
    expect(inflightReadKey({ ...base, 'x-request-id': 'r1', traceparent: '00-abc-def-01' }, body)).toBe(key);
    expect(inflightReadKey({ ...base, authorization: 'Bearer b' }, body)).not.toBe(key);
    expect(inflightReadKey({ ...base, [GATEWAY_CREDENTIAL_HEADER]: 'other' }, body)).not.toBe(key);
    expect(inflightReadKey({ ...base, 'x-paygraph-client-address': 'other' }, body)).not.toBe(key);
    expect(inflightReadKey({ authorization: 'Bearer a', [GATEWAY_CREDENTIAL_HEADER]: 'c' }, body)).not.toBe(key);
  });
});
