// Proves webhook egress cannot be steered inward: every inward address named in issue 12 (and the
// other special-purpose ranges) is refused literally and behind a host name (an injected resolver
// plays DNS), at registration (BAD_USER_INPUT with the reason) and at send time, where a real
// receiver on 127.0.0.1 gets nothing even when the name resolved publicly at registration (DNS
// rebinding); with private addresses allowed the same receiver gets the delivery signed by every
// secret in force (Paygraph-Signature and Standard Webhooks headers); merchants see coarse outcomes.
import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webhookOutcome } from '../src/domain/delivery-policy';
import { vetWebhookUrl } from '../src/domain/webhook-url';
import { addressProblem, createWebhookAgent, destinationProblem, systemResolveAll, type ResolveAll } from '../src/webhooks/egress';
import { sendWebhook } from '../src/webhooks/sender';
import { verifyWebhookSignature } from '../src/webhooks/signature';

const INWARD_ADDRESSES = [
  '127.0.0.1', '127.1.2.3', '10.0.0.5', '172.16.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '100.127.255.254', '198.18.0.1', '198.19.255.255',
  '0.0.0.0', '255.255.255.255', '224.0.0.1', '239.255.255.250', '240.0.0.1', '192.0.2.1', '198.51.100.7', '203.0.113.9', '192.0.0.8',
  '::1', '::', '::127.0.0.1', '::ffff:127.0.0.1', '::ffff:10.0.0.1', '64:ff9b::a9fe:a9fe', '64:ff9b::808:808', '64:ff9b:1::a00:1', '2002:7f00:1::1', '2002:a9fe:a9fe::', '2002:808:808::1',
  'fc00::1', 'fd12:3456::1', 'fe80::1', 'ff02::1', '2001:db8::1', '2001::1', '100::1',
];
const PUBLIC_ADDRESSES = ['93.184.216.34', '8.8.8.8', '172.32.0.1', '100.128.0.1', '198.20.0.1', '2606:4700:4700::1111'];

/** A resolver for made-up names, as DNS would answer them; anything else does not resolve. */
function fakeDns(answers: Record<string, string[]>): ResolveAll {
  return async (hostname) => {
    const addresses = answers[hostname];
    if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
}

const NAMED_INWARD: Record<string, string[]> = {
  vm: ['10.0.0.5'],
  'localtest.me': ['127.0.0.1'],
  '127.0.0.1.nip.io': ['127.0.0.1'],
  'metadata.google.internal': ['169.254.169.254'],
  'nat64.example': ['64:ff9b::a9fe:a9fe'],
  'benchmark.example': ['198.18.0.1'],
  // One public and one private answer: refused, whichever the socket would have taken.
  'mixed.example': ['93.184.216.34', '127.0.0.1'],
};
const dns = fakeDns({ ...NAMED_INWARD, 'shop.example': ['93.184.216.34', '2606:4700:4700::1111'] });
const denied = { privateAddressesAllowed: false, resolveAll: dns };

describe('addressProblem', () => {
  it.each(INWARD_ADDRESSES)('refuses %s', (address) => expect(addressProblem(address)).toEqual(expect.any(String)));
  it.each(PUBLIC_ADDRESSES)('accepts the public address %s', (address) => expect(addressProblem(address)).toBeNull());

  it('refuses the whole 6to4 range (2002::/16), even one embedding a public IPv4 address (2002:808:808::1 is 8.8.8.8)', async () => {
    for (const address of ['2002:808:808::1', '2002::', '2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff']) expect(addressProblem(address)).toMatch(/6to4/);
    await expect(vetWebhookUrl('http://[2002:808:808::1]/hooks', denied)).rejects.toMatchObject({ message: /6to4/, extensions: { code: 'BAD_USER_INPUT' } });
    expect(await destinationProblem('sixtofour.example', fakeDns({ 'sixtofour.example': ['2002:808:808::1'] }))).toMatch(/resolves to 2002:808:808::1, a 6to4 address/);
  });
});

describe('registration (vetWebhookUrl) with private addresses denied', () => {
  it.each(Object.keys(NAMED_INWARD))('refuses http://%s:8080/ which resolves inward, with the reason', async (host) => {
    await expect(vetWebhookUrl(`http://${host}:8080/hooks`, denied)).rejects.toMatchObject({ message: expect.stringMatching(/internal address: .*resolves to/), extensions: { code: 'BAD_USER_INPUT', field: 'input.url' } });
  });

  it.each(['http://127.0.0.1/', 'http://[::127.0.0.1]/', 'http://[64:ff9b::a9fe:a9fe]/', 'http://198.18.0.1/', 'http://[::ffff:7f00:1]/', 'http://localhost:3000/', 'http://api.localhost/'])('refuses the literal %s', async (url) => {
    await expect(vetWebhookUrl(url, denied)).rejects.toMatchObject({ extensions: { code: 'BAD_USER_INPUT' } });
  });

  it('refuses localhost through the system resolver too, and a name that does not resolve', async () => {
    expect(await destinationProblem('localhost', systemResolveAll)).toMatch(/loopback/);
    await expect(vetWebhookUrl('https://nowhere.invalid/', denied)).rejects.toMatchObject({ message: /does not resolve/, extensions: { code: 'BAD_USER_INPUT' } });
  });

  it('accepts a name whose every address is public, and anything when private addresses are allowed', async () => {
    expect(await vetWebhookUrl('https://shop.example/hooks', denied)).toBe('https://shop.example/hooks');
    expect(await vetWebhookUrl('http://vm:8080/', { privateAddressesAllowed: true, resolveAll: dns })).toBe('http://vm:8080/');
  });
});

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

let receiver: Server;
let port: number;
const received: Received[] = [];

beforeAll(async () => {
  receiver = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      received.push({ headers: request.headers, body: Buffer.concat(chunks).toString('utf8') });
      response.statusCode = request.url === '/fail' ? 503 : 200;
      response.end('ok');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  port = (receiver.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise<void>((resolve) => receiver.close(() => resolve()));
});

const request = (url: string, secrets = ['whsec_bmV3LXNlY3JldC0wMTIzNDU2Nzg5']) => ({ url, secrets, body: '{"id":"evt_1","type":"payment.succeeded"}', deliveryId: 'dlv_1', eventId: 'evt_1' });

describe('sending (sendWebhook through the egress agent)', () => {
  it('refuses at send time a name that resolved publicly at registration and now resolves to 127.0.0.1 (rebinding): the receiver gets nothing', async () => {
    let answer = '93.184.216.34';
    const rebinding: ResolveAll = async () => [{ address: answer, family: 4 }];
    expect(await vetWebhookUrl(`http://rebind.example:${port}/hooks`, { privateAddressesAllowed: false, resolveAll: rebinding })).toBe(`http://rebind.example:${port}/hooks`);
    answer = '127.0.0.1';
    const agent = createWebhookAgent({ privateAddressesAllowed: false, connectTimeoutMs: 2_000, resolveAll: rebinding });
    const before = received.length;
    try {
      const failure = await sendWebhook(request(`http://rebind.example:${port}/hooks`), { timeoutMs: 2_000, agent, privateAddressesAllowed: false }).catch((error: unknown) => error);
      expect(webhookOutcome(failure)).toBe('ADDRESS_REFUSED');
      // localhost (by name, system resolver) and a literal loopback are refused the same way.
      for (const url of [`http://localhost:${port}/hooks`, `http://127.0.0.1:${port}/hooks`, `http://[::ffff:127.0.0.1]:${port}/hooks`]) {
        const system = createWebhookAgent({ privateAddressesAllowed: false, connectTimeoutMs: 2_000 });
        expect(webhookOutcome(await sendWebhook(request(url), { timeoutMs: 2_000, agent: system, privateAddressesAllowed: false }).catch((error: unknown) => error))).toBe('ADDRESS_REFUSED');
        await system.close();
      }
    } finally {
      await agent.close();
    }
    expect(received.length).toBe(before);
  });

  it('delivers with private addresses allowed, signed by every secret in force in both header families', async () => {
    const agent = createWebhookAgent({ privateAddressesAllowed: true, connectTimeoutMs: 2_000 });
    const secrets = ['whsec_bmV3LXNlY3JldC0wMTIzNDU2Nzg5', 'whsec_b2xkLXNlY3JldC0wMTIzNDU2Nzg5'];
    try {
      expect(await sendWebhook(request(`http://127.0.0.1:${port}/hooks`, secrets), { timeoutMs: 2_000, agent, privateAddressesAllowed: true })).toBe(200);
    } finally {
      await agent.close();
    }
    const got = received.at(-1)!;
    const header = String(got.headers['paygraph-signature']);
    expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64},v1=[0-9a-f]{64}$/);
    // A receiver holding either secret accepts it; a third one does not.
    expect(verifyWebhookSignature(secrets[0]!, header, got.body)).toBe(true);
    expect(verifyWebhookSignature(secrets[1]!, header, got.body)).toBe(true);
    expect(verifyWebhookSignature('whsec_other', header, got.body)).toBe(false);
    // Standard Webhooks: v1,<base64 HMAC of "<id>.<timestamp>.<body>"> under the base64-decoded key, one per secret.
    expect(got.headers['webhook-id']).toBe('evt_1');
    const timestamp = String(got.headers['webhook-timestamp']);
    const expected = secrets.map((secret) => `v1,${createHmac('sha256', Buffer.from(secret.slice('whsec_'.length), 'base64')).update(`evt_1.${timestamp}.${got.body}`).digest('base64')}`);
    expect(String(got.headers['webhook-signature']).split(' ')).toEqual(expected);
  });

  it('reports coarse outcomes only: HTTP_<status>, CONNECTION_REFUSED, DNS_ERROR', async () => {
    const agent = createWebhookAgent({ privateAddressesAllowed: true, connectTimeoutMs: 2_000 });
    try {
      const options = { timeoutMs: 2_000, agent, privateAddressesAllowed: true };
      expect(webhookOutcome(await sendWebhook(request(`http://127.0.0.1:${port}/fail`), options).catch((error: unknown) => error))).toBe('HTTP_503');
      const closed = createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const closedPort = (closed.address() as AddressInfo).port;
      await new Promise<void>((resolve) => closed.close(() => resolve()));
      expect(webhookOutcome(await sendWebhook(request(`http://127.0.0.1:${closedPort}/`), options).catch((error: unknown) => error))).toBe('CONNECTION_REFUSED');
      expect(webhookOutcome(await sendWebhook(request('http://nowhere.invalid/'), options).catch((error: unknown) => error))).toBe('DNS_ERROR');
    } finally {
      await agent.close();
    }
    expect(webhookOutcome(Object.assign(new Error('The operation was aborted due to timeout'), { name: 'TimeoutError' }))).toBe('TIMEOUT');
    expect(webhookOutcome(new Error('fetch failed', { cause: Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }) }))).toBe('TLS_ERROR');
  });
});
