// Proves, through the gateway with the platform in-process and WEBHOOK_PRIVATE_ADDRESSES=deny (the
// production setting), that a merchant cannot point webhooks inward: every inward address from
// issue 12 is BAD_USER_INPUT at registration, literally or behind a host name (a test resolver
// plays DNS), and a name that resolved publicly at registration but resolves to 127.0.0.1 at send
// time (DNS rebinding) is refused at each attempt (ADDRESS_REFUSED): the receiver listening on
// 127.0.0.1 gets nothing.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { webhookEgress } from '../src/server';
import type { ResolveAll } from '../src/webhooks/egress';
import { errorCode, gql, pay, register, startNotificationsPlatform, topUp, type NotificationsTestPlatform } from './support';

const REGISTER = `mutation($input: RegisterWebhookEndpointInput!) { registerWebhookEndpoint(input: $input) { id url } }`;
const DELIVERIES = `query($endpointId: ID!) { webhookDeliveries(endpointId: $endpointId, first: 100) { edges { node { eventType status attempts { number succeeded responseStatus error } } } } }`;

/** What the test's DNS answers; changed by the rebinding test between registration and send. */
const answers: Record<string, string[]> = {
  vm: ['10.0.0.5'],
  'localtest.me': ['127.0.0.1'],
  '127.0.0.1.nip.io': ['127.0.0.1'],
  'metadata.google.internal': ['169.254.169.254'],
  'rebind.example': ['93.184.216.34'],
};
const testDns: ResolveAll = async (hostname) => {
  const found = answers[hostname];
  if (!found) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
  return found.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
};

let started: NotificationsTestPlatform;
let gatewayUrl: string;
let receiver: Server;
let receiverPort: number;
let receivedCount = 0;

beforeAll(async () => {
  webhookEgress.resolveAll = testDns;
  receiver = createServer((_request, response) => {
    receivedCount += 1;
    response.end('ok');
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverPort = (receiver.address() as AddressInfo).port;
  started = await startNotificationsPlatform({ WEBHOOK_PRIVATE_ADDRESSES: 'deny', DELIVERY_ATTEMPTS_MAX: '2', DELIVERY_RETRY_BASE_MS: '100', DELIVERY_RETRY_MAX_MS: '200', WEBHOOK_TIMEOUT_MS: '2000' });
  gatewayUrl = started.gatewayUrl;
});

afterAll(async () => {
  await started?.stop();
  webhookEgress.resolveAll = null;
  await new Promise<void>((resolve) => receiver.close(() => resolve()));
});

describe('registration in production mode', () => {
  it.each([
    'http://vm:8080/',
    'http://localtest.me/hooks',
    'http://127.0.0.1.nip.io/hooks',
    'http://metadata.google.internal/computeMetadata/v1/',
    'http://[::127.0.0.1]/',
    'http://[64:ff9b::a9fe:a9fe]/',
    'http://198.18.0.1/',
    'http://localhost:4000/',
    'http://127.0.0.1:4000/',
    'http://[::ffff:169.254.169.254]/',
    'http://100.64.0.1/',
  ])('refuses %s with BAD_USER_INPUT and the reason', async (url) => {
    const merchant = await register(gatewayUrl, 'MERCHANT');
    const result = await gql(gatewayUrl, REGISTER, { input: { url } }, merchant.accessToken);
    expect(errorCode(result)).toBe('BAD_USER_INPUT');
    expect(result.errors![0]!.message).toMatch(/internal address: /);
    expect(result.errors![0]!.extensions!.field).toBe('input.url');
  });
});

describe('sending in production mode', () => {
  it('refuses a host name that resolves to 127.0.0.1 at send time although it resolved publicly at registration (rebinding)', async () => {
    const merchant = await register(gatewayUrl, 'MERCHANT');
    const url = `http://rebind.example:${receiverPort}/hooks`;
    const created = await gql(gatewayUrl, REGISTER, { input: { url } }, merchant.accessToken);
    expect(created.errors).toBeUndefined();
    const endpointId = created.data!.registerWebhookEndpoint.id as string;
    answers['rebind.example'] = ['127.0.0.1'];
    const buyer = await register(gatewayUrl, 'BUYER');
    await topUp(gatewayUrl, buyer, '5000');
    await pay(gatewayUrl, buyer, merchant, '250');
    const failed = await vi.waitFor(
      async () => {
        const result = await gql(gatewayUrl, DELIVERIES, { endpointId }, merchant.accessToken);
        const found = result.data!.webhookDeliveries.edges.map((edge: { node: { eventType: string; status: string; attempts: { error: string | null }[] } }) => edge.node).find((node: { eventType: string }) => node.eventType === 'payment.succeeded');
        if (found?.status !== 'FAILED') throw new Error(`delivery is ${found?.status ?? 'missing'}`);
        return found;
      },
      { timeout: 15_000, interval: 50 },
    );
    expect(failed.attempts).toEqual([
      { number: 1, succeeded: false, responseStatus: null, error: 'ADDRESS_REFUSED' },
      { number: 2, succeeded: false, responseStatus: null, error: 'ADDRESS_REFUSED' },
    ]);
    expect(receivedCount).toBe(0);
  });
});
