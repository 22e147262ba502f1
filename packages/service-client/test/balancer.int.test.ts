// Proves requests spread over several instances and survive one dying: two real HTTP servers on
// loopback, one closed (then one that drops connections mid-request); calls that could not connect
// are resent to the survivor, reads are resent after a broken connection, writes are not, and the
// closed instance returns to rotation once its /health answers.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createServiceClient } from '../src';
import { createInstancePool, isConnectFailure, isConnectionLost, isReadOperation, isReadRequestBody, type InstancePool } from '../src/balancer';
import { postText } from '../src/http';

type Behaviour = 'answer' | 'drop';

interface Instance {
  name: string;
  port: number;
  url: string;
  hits: { read: number; write: number };
  behaviour: Behaviour;
  server: Server;
  kill(): Promise<void>;
  restart(): Promise<void>;
}

const opened: Instance[] = [];
const pools: InstancePool[] = [];

async function listen(server: Server, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

/** A GraphQL-shaped endpoint that answers `{ data: { instance } }`, serves /health, counts hits. */
async function startInstance(name: string): Promise<Instance> {
  const instance = { name, hits: { read: 0, write: 0 }, behaviour: 'answer' as Behaviour } as Instance;
  const handler = (request: IncomingMessage, response: ServerResponse) => {
    if (request.url === '/health') {
      response.end('{"status":"ok"}');
      return;
    }
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      const query = (JSON.parse(body) as { query: string }).query;
      instance.hits[isReadOperation(query) ? 'read' : 'write'] += 1;
      // The request reached this instance, which dies before answering.
      if (instance.behaviour === 'drop') {
        request.socket.destroy();
        return;
      }
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify({ data: { instance: name } }));
    });
  };
  instance.server = createServer(handler);
  instance.port = await listen(instance.server, 0);
  instance.url = `http://127.0.0.1:${instance.port}/graphql`;
  instance.kill = async () => {
    instance.server.closeAllConnections();
    await new Promise<void>((resolve) => instance.server.close(() => resolve()));
  };
  instance.restart = async () => {
    instance.server = createServer(handler);
    await listen(instance.server, instance.port);
  };
  opened.push(instance);
  return instance;
}

function pool(urls: string[]): InstancePool {
  const created = createInstancePool(urls);
  pools.push(created);
  return created;
}

const call = (target: InstancePool, query: string) =>
  target.send((url) => postText(url, { 'content-type': 'application/json' }, JSON.stringify({ query }), 2_000), { read: isReadOperation(query) });

const instanceOf = (text: string) => (JSON.parse(text) as { data: { instance: string } }).data.instance;

afterEach(async () => {
  for (const created of pools.splice(0)) created.close();
  for (const instance of opened.splice(0)) if (instance.server.listening) await instance.kill();
});

describe('instance pool', () => {
  it('spreads requests round robin over the instances', async () => {
    const [a, b] = [await startInstance('a'), await startInstance('b')];
    const target = pool([a.url, b.url]);
    const answered = [];
    for (let index = 0; index < 10; index += 1) answered.push(instanceOf((await call(target, 'query { x }')).text));
    expect(answered.filter((name) => name === 'a')).toHaveLength(5);
    expect(answered.filter((name) => name === 'b')).toHaveLength(5);
  });

  it('resends every call that could not connect, takes the dead instance out and back into rotation', async () => {
    const [a, b] = [await startInstance('a'), await startInstance('b')];
    const target = pool([a.url, b.url]);
    await a.kill();
    // Writes too: nothing reached a server when the connection was refused.
    const answered = [];
    for (let index = 0; index < 6; index += 1) {
      answered.push(instanceOf((await call(target, index % 2 ? 'mutation { pay }' : 'query { x }')).text));
    }
    expect(answered).toEqual(['b', 'b', 'b', 'b', 'b', 'b']);
    expect(target.available()).toEqual([b.url]);
    expect(b.hits).toEqual({ read: 3, write: 3 });

    await a.restart();
    // Bounded wait: the first probes come after 250 ms, 500 ms, 1 s (with jitter).
    const deadline = Date.now() + 5_000;
    while (target.available().length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(target.available()).toEqual([a.url, b.url]);
    const after = [];
    for (let index = 0; index < 4; index += 1) after.push(instanceOf((await call(target, 'query { x }')).text));
    expect(after.sort()).toEqual(['a', 'a', 'b', 'b']);
  });

  it('resends a read whose connection broke mid-request, never a write', async () => {
    const [a, b] = [await startInstance('a'), await startInstance('b')];
    a.behaviour = 'drop';
    const target = pool([a.url, b.url]);
    // Reads: whichever instance comes first, every read ends answered by b.
    for (let index = 0; index < 4; index += 1) expect(instanceOf((await call(target, 'query { x }')).text)).toBe('b');
    expect(a.hits.read).toBe(2);

    // Writes: the one that reached a and lost its connection fails; it is not sent to b.
    const outcomes = await Promise.allSettled([call(target, 'mutation { pay }'), call(target, 'mutation { pay }')]);
    const failed = outcomes.filter((outcome) => outcome.status === 'rejected');
    expect(failed).toHaveLength(1);
    expect(isConnectionLost((failed[0] as PromiseRejectedResult).reason)).toBe(true);
    expect(a.hits.write).toBe(1);
    expect(b.hits.write).toBe(1);
    // A broken connection is not a refused one: a stays in rotation.
    expect(target.available()).toHaveLength(2);
  });

  it('rethrows the connect error itself when no instance answers', async () => {
    const [a, b] = [await startInstance('a'), await startInstance('b')];
    const target = pool([a.url, b.url]);
    await a.kill();
    await b.kill();
    const error = await call(target, 'mutation { pay }').catch((caught: unknown) => caught);
    expect(isConnectFailure(error)).toBe(true);
    expect((error as { code?: string }).code).toBe('ECONNREFUSED');
  });
});

describe('service client over several instances', () => {
  it('keeps answering while one instance is down', async () => {
    const [a, b] = [await startInstance('a'), await startInstance('b')];
    const client = createServiceClient({
      service: 'payments',
      serviceSecret: 'x'.repeat(32),
      directory: { url: () => a.url, urls: () => [a.url, b.url] },
      tokenProvider: async () => 'token',
    });
    const first = await Promise.all(Array.from({ length: 4 }, () => client.request<{ instance: string }>('ledger', 'mutation { post }')));
    expect(first.map((data) => data.instance).sort()).toEqual(['a', 'a', 'b', 'b']);
    await a.kill();
    // Idle keep-alive sockets to `a` see their end within a tick; a write sent on one before that
    // is ambiguous (it may have reached a) and is rightly not resent: let them notice first.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const during = await Promise.all(Array.from({ length: 4 }, () => client.request<{ instance: string }>('ledger', 'mutation { post }')));
    expect(during.map((data) => data.instance)).toEqual(['b', 'b', 'b', 'b']);
    for (const created of [a, b]) created.server.closeAllConnections();
  });
});

describe('operation kinds', () => {
  it('counts only query operations as reads', () => {
    expect(isReadOperation('query Q { a }')).toBe(true);
    expect(isReadOperation('  { a }')).toBe(true);
    expect(isReadOperation('mutation { a }')).toBe(false);
    expect(isReadOperation('# comment\nquery { a }')).toBe(false);
    expect(isReadOperation('queryX')).toBe(false);
    expect(isReadRequestBody(JSON.stringify({ query: 'query($r:[_Any!]!){_entities(representations:$r){__typename}}', variables: {} }))).toBe(true);
    expect(isReadRequestBody(JSON.stringify({ query: 'mutation{payOrder}', variables: { query: 'query' } }))).toBe(false);
    expect(isReadRequestBody(JSON.stringify({ variables: {}, query: 'query { a }' }))).toBe(false);
    expect(isReadRequestBody(undefined)).toBe(false);
  });
});
