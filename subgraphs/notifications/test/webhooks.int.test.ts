// Proves merchant webhooks end to end, with real HTTP receivers on 127.0.0.1 and the platform
// in-process: only merchants (and admins) register endpoints, URLs are checked, the signing secret
// is shown once and stored sealed; each payment event of the merchant is POSTed as
// `{ id, type, createdAt, data }` with a Paygraph-Signature the receiver verifies, retried with
// backoff after a 500 until it is SENT, every attempt recorded; an endpoint that never answers
// ends FAILED after the maximum with a coarse outcome; merchants see only their own endpoints'
// deliveries; the owner disables, enables, deletes an endpoint, rotates its secret (both secrets
// sign during the grace period) and resends a delivery, each change in the audit trail.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { TestUser } from '@paygraph/testing';
import { SIGNATURE_HEADER, verifyWebhookSignature } from '../src/server';
import { errorCode, gql, pay, register, startNotificationsPlatform, topUp, type NotificationsTestPlatform } from './support';
import { createSecretSealer } from '../src/webhooks/secrets';

const ATTEMPTS_MAX = 3;
const REGISTER = `mutation($input: RegisterWebhookEndpointInput!) { registerWebhookEndpoint(input: $input) { id url secret createdAt } }`;
const ENDPOINTS = `{ webhookEndpoints { id url secret } }`;
const DELIVERIES = `query($endpointId: ID!, $first: Int, $after: String) { webhookDeliveries(endpointId: $endpointId, first: $first, after: $after) {
  edges { cursor node { id eventId eventType status createdAt attempts { number attemptedAt succeeded responseStatus error } } } pageInfo { hasNextPage endCursor } } }`;

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  signatureValid: boolean;
  answered: number;
}

/** An endpoint that verifies every request's signature and answers 500 to the first delivery of each event, 200 after. */
async function startReceiver(secretOf: () => string): Promise<{ url: string; received: Received[]; close(): Promise<void> }> {
  const received: Received[] = [];
  const seen = new Set<string>();
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const signatureValid = verifyWebhookSignature(secretOf(), request.headers[SIGNATURE_HEADER.toLowerCase()] as string | undefined, body);
      const eventId = (JSON.parse(body) as { id: string }).id;
      const answered = seen.has(eventId) ? 200 : 500;
      seen.add(eventId);
      received.push({ headers: request.headers, body, signatureValid, answered });
      response.statusCode = answered;
      response.end(answered === 200 ? 'ok' : 'try again');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/paygraph?source=test`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

let started: NotificationsTestPlatform;
let gatewayUrl: string;

beforeAll(async () => {
  started = await startNotificationsPlatform({ DELIVERY_ATTEMPTS_MAX: String(ATTEMPTS_MAX), DELIVERY_RETRY_BASE_MS: '100', DELIVERY_RETRY_MAX_MS: '1000', WEBHOOK_TIMEOUT_MS: '2000' });
  gatewayUrl = started.gatewayUrl;
});

afterAll(async () => {
  await started?.stop();
});

const registerEndpoint = (user: TestUser | undefined, url: string) => gql(gatewayUrl, REGISTER, { input: { url } }, user?.accessToken);

async function deliveriesOf(merchant: TestUser, endpointId: string) {
  const result = await gql(gatewayUrl, DELIVERIES, { endpointId, first: 100 }, merchant.accessToken);
  if (result.errors) throw new Error(JSON.stringify(result.errors));
  return result.data!.webhookDeliveries.edges.map((edge: { node: unknown }) => edge.node) as {
    id: string;
    eventId: string;
    eventType: string;
    status: string;
    attempts: { number: number; succeeded: boolean; responseStatus: number | null; error: string | null; attemptedAt: string }[];
  }[];
}

describe('registerWebhookEndpoint', () => {
  it('is for merchants and admins: buyers are FORBIDDEN, anonymous UNAUTHENTICATED', async () => {
    const buyer = await register(gatewayUrl, 'BUYER');
    expect(errorCode(await registerEndpoint(buyer, 'https://example.com/hooks'))).toBe('FORBIDDEN');
    expect(errorCode(await registerEndpoint(undefined, 'https://example.com/hooks'))).toBe('UNAUTHENTICATED');
    expect(errorCode(await gql(gatewayUrl, ENDPOINTS, {}, buyer.accessToken))).toBe('FORBIDDEN');
  });

  it.each([
    ['another scheme', 'ftp://example.com/hooks'],
    ['not a URL', 'not a url'],
    ['a relative URL', '/relative/path'],
    ['credentials', 'https://user:password@example.com/hooks'],
    ['a fragment', 'https://example.com/hooks#part'],
    ['more than 2048 characters', `https://example.com/${'x'.repeat(2049)}`],
    ['blank', '   '],
  ])('refuses a URL with %s: BAD_USER_INPUT on input.url', async (_label, url) => {
    const merchant = await register(gatewayUrl, 'MERCHANT');
    const result = await registerEndpoint(merchant, url);
    expect(errorCode(result)).toBe('BAD_USER_INPUT');
    expect(result.errors![0]!.extensions!.field).toBe('input.url');
  });

  it('returns the secret once, stores it sealed, and lists endpoints without it; at most 10 per merchant', async () => {
    const merchant = await register(gatewayUrl, 'MERCHANT');
    const created = await registerEndpoint(merchant, 'http://127.0.0.1:9/hooks');
    expect(created.errors).toBeUndefined();
    const endpoint = created.data!.registerWebhookEndpoint;
    expect(endpoint).toMatchObject({ id: expect.stringMatching(/^whe_[0-9a-z]{20}$/), url: 'http://127.0.0.1:9/hooks' });
    expect(endpoint.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect((await gql(gatewayUrl, ENDPOINTS, {}, merchant.accessToken)).data!.webhookEndpoints).toEqual([{ id: endpoint.id, url: endpoint.url, secret: null }]);
    const [row] = await started.database.query<{ secret_sealed: string }>(`select secret_sealed from notifications.webhook_endpoints where id = $1`, [endpoint.id]);
    expect(row!.secret_sealed).not.toContain(endpoint.secret.slice('whsec_'.length));
    expect(createSecretSealer(process.env.SERVICE_SECRET!).open(row!.secret_sealed)).toBe(endpoint.secret);
    for (let index = 2; index <= 10; index += 1) expect((await registerEndpoint(merchant, `https://example.com/hooks/${index}`)).errors).toBeUndefined();
    expect(errorCode(await registerEndpoint(merchant, 'https://example.com/hooks/11'))).toBe('BAD_USER_INPUT');
    expect((await gql(gatewayUrl, ENDPOINTS, {}, merchant.accessToken)).data!.webhookEndpoints).toHaveLength(10);
  });
});

describe('deliveries', () => {
  it('POSTs each payment event signed, retries after a 500 until SENT, and records every attempt', async () => {
    let secret = '';
    const receiver = await startReceiver(() => secret);
    try {
      const merchant = await register(gatewayUrl, 'MERCHANT', 'Hooked Shop');
      const endpoint = (await registerEndpoint(merchant, receiver.url)).data!.registerWebhookEndpoint;
      secret = endpoint.secret;
      const buyer = await register(gatewayUrl, 'BUYER');
      await topUp(gatewayUrl, buyer, '5000');
      const payment = await pay(gatewayUrl, buyer, merchant, '2500');
      const succeeded = await vi.waitFor(
        async () => {
          const found = (await deliveriesOf(merchant, endpoint.id)).find((delivery) => delivery.eventType === 'payment.succeeded');
          if (found?.status !== 'SENT') throw new Error(`payment.succeeded delivery is ${found?.status ?? 'missing'}`);
          return found;
        },
        { timeout: 15_000, interval: 50 },
      );
      expect(succeeded.attempts).toEqual([
        expect.objectContaining({ number: 1, succeeded: false, responseStatus: 500, error: 'HTTP_500' }),
        expect.objectContaining({ number: 2, succeeded: true, responseStatus: 200, error: null }),
      ]);
      // The retry waited the backoff (100 ms after the first failure).
      const [first, second] = succeeded.attempts.map((attempt) => new Date(attempt.attemptedAt).getTime());
      expect(second! - first!).toBeGreaterThanOrEqual(90);

      const forEvent = receiver.received.filter((request) => JSON.parse(request.body).id === succeeded.eventId);
      expect(forEvent.map((request) => request.answered)).toEqual([500, 200]);
      expect(forEvent.every((request) => request.signatureValid)).toBe(true);
      expect(forEvent[0]!.body).toBe(forEvent[1]!.body);
      expect(forEvent[1]!.headers['content-type']).toBe('application/json');
      expect(forEvent[1]!.headers[SIGNATURE_HEADER.toLowerCase()]).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
      const body = JSON.parse(forEvent[1]!.body);
      expect(body).toEqual({
        id: succeeded.eventId,
        type: 'payment.succeeded',
        createdAt: expect.any(String),
        data: expect.objectContaining({ paymentId: payment.id, buyerId: buyer.id, merchantId: merchant.id, status: 'SUCCEEDED', amount: '2500', currency: 'USD', amountCaptured: '2500' }),
      });
      // The signature binds the secret: another secret does not verify it.
      expect(verifyWebhookSignature(`${secret}x`, forEvent[1]!.headers[SIGNATURE_HEADER.toLowerCase()] as string, forEvent[1]!.body)).toBe(false);
      // Every payment event of the merchant is delivered (created, then succeeded), each SENT in the end.
      await vi.waitFor(
        async () => {
          const all = await deliveriesOf(merchant, endpoint.id);
          expect(all.map((delivery) => delivery.eventType).sort()).toEqual(['payment.created', 'payment.succeeded']);
          expect(all.every((delivery) => delivery.status === 'SENT')).toBe(true);
        },
        { timeout: 15_000, interval: 50 },
      );
    } finally {
      await receiver.close();
    }
  });

  it('gives up after the maximum attempts on an endpoint that never answers: FAILED, each attempt recorded', async () => {
    const closed = await startReceiver(() => '');
    const deadUrl = closed.url;
    await closed.close(); // nothing listens there any more: connection refused
    const merchant = await register(gatewayUrl, 'MERCHANT');
    const endpoint = (await registerEndpoint(merchant, deadUrl)).data!.registerWebhookEndpoint;
    const buyer = await register(gatewayUrl, 'BUYER');
    await topUp(gatewayUrl, buyer, '5000');
    await pay(gatewayUrl, buyer, merchant, '700');
    const failed = await vi.waitFor(
      async () => {
        const found = (await deliveriesOf(merchant, endpoint.id)).find((delivery) => delivery.eventType === 'payment.succeeded');
        if (found?.status !== 'FAILED') throw new Error(`payment.succeeded delivery is ${found?.status ?? 'missing'}`);
        return found;
      },
      { timeout: 15_000, interval: 50 },
    );
    expect(failed.attempts.map((attempt) => attempt.number)).toEqual([1, 2, 3]);
    for (const attempt of failed.attempts) {
      expect(attempt).toMatchObject({ succeeded: false, responseStatus: null });
      // A coarse outcome: never the socket error with its address and port.
      expect(attempt.error).toBe('CONNECTION_REFUSED');
    }
  });

  it('shows a merchant only their own endpoints\' deliveries, and delivers them only their own events', async () => {
    const receiver = await startReceiver(() => '');
    try {
      const [owner, other] = await Promise.all([register(gatewayUrl, 'MERCHANT'), register(gatewayUrl, 'MERCHANT')]);
      const ownerEndpoint = (await registerEndpoint(owner, 'http://127.0.0.1:9/owner')).data!.registerWebhookEndpoint;
      const otherEndpoint = (await registerEndpoint(other, receiver.url)).data!.registerWebhookEndpoint;
      expect(errorCode(await gql(gatewayUrl, DELIVERIES, { endpointId: ownerEndpoint.id }, other.accessToken))).toBe('NOT_FOUND');
      expect(errorCode(await gql(gatewayUrl, DELIVERIES, { endpointId: 'whe_nope' }, other.accessToken))).toBe('NOT_FOUND');
      expect(errorCode(await gql(gatewayUrl, DELIVERIES, { endpointId: ownerEndpoint.id }))).toBe('UNAUTHENTICATED');
      const buyer = await register(gatewayUrl, 'BUYER');
      await topUp(gatewayUrl, buyer, '5000');
      const payment = await pay(gatewayUrl, buyer, owner, '900');
      await vi.waitFor(async () => expect((await deliveriesOf(owner, ownerEndpoint.id)).map((delivery) => delivery.eventType)).toContain('payment.succeeded'), { timeout: 15_000, interval: 50 });
      expect(await deliveriesOf(other, otherEndpoint.id)).toEqual([]);
      expect(receiver.received.filter((request) => request.body.includes(payment.id))).toEqual([]);
    } finally {
      await receiver.close();
    }
  });
});

const MANAGE = {
  disable: `mutation($id: ID!) { disableWebhookEndpoint(id: $id) { id enabled } }`,
  enable: `mutation($id: ID!) { enableWebhookEndpoint(id: $id) { id enabled } }`,
  remove: `mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }`,
  rotate: `mutation($input: RotateWebhookSecretInput!) { rotateWebhookSecret(input: $input) { id secret enabled secretRotatedAt previousSecretExpiresAt } }`,
  resend: `mutation($id: ID!) { resendWebhookDelivery(id: $id) { id status attempts { number succeeded } } }`,
};

/** Waits for the merchant's delivery of `eventType` to reach `status`. */
async function deliveryReaching(merchant: TestUser, endpointId: string, eventType: string, status: string) {
  return vi.waitFor(
    async () => {
      const found = (await deliveriesOf(merchant, endpointId)).find((delivery) => delivery.eventType === eventType);
      if (found?.status !== status) throw new Error(`${eventType} delivery is ${found?.status ?? 'missing'}`);
      return found;
    },
    { timeout: 15_000, interval: 50 },
  );
}

describe('endpoint management', () => {
  it('rotates the secret: the new one is shown once and both sign during the grace period; only the owner may', async () => {
    const secrets: string[] = [];
    const receiver = await startReceiver(() => secrets[0] ?? '');
    try {
      const merchant = await register(gatewayUrl, 'MERCHANT');
      const other = await register(gatewayUrl, 'MERCHANT');
      const endpoint = (await registerEndpoint(merchant, receiver.url)).data!.registerWebhookEndpoint;
      expect(errorCode(await gql(gatewayUrl, MANAGE.rotate, { input: { endpointId: endpoint.id } }, other.accessToken))).toBe('NOT_FOUND');
      expect(errorCode(await gql(gatewayUrl, MANAGE.rotate, { input: { endpointId: endpoint.id, gracePeriodSeconds: 604_801 } }, merchant.accessToken))).toBe('BAD_USER_INPUT');
      const rotated = await gql(gatewayUrl, MANAGE.rotate, { input: { endpointId: endpoint.id, gracePeriodSeconds: 3600 } }, merchant.accessToken);
      expect(rotated.errors).toBeUndefined();
      const view = rotated.data!.rotateWebhookSecret;
      expect(view.secret).toMatch(/^whsec_/);
      expect(view.secret).not.toBe(endpoint.secret);
      expect(new Date(view.previousSecretExpiresAt).getTime() - Date.now()).toBeGreaterThan(3500_000);
      secrets.push(view.secret);
      const buyer = await register(gatewayUrl, 'BUYER');
      await topUp(gatewayUrl, buyer, '5000');
      await pay(gatewayUrl, buyer, merchant, '300');
      const sent = await deliveryReaching(merchant, endpoint.id, 'payment.succeeded', 'SENT');
      const delivered = receiver.received.filter((request) => JSON.parse(request.body).id === sent.eventId).at(-1)!;
      const header = delivered.headers[SIGNATURE_HEADER.toLowerCase()] as string;
      expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64},v1=[0-9a-f]{64}$/);
      expect(verifyWebhookSignature(view.secret, header, delivered.body)).toBe(true);
      expect(verifyWebhookSignature(endpoint.secret, header, delivered.body)).toBe(true);
      expect(String(delivered.headers['webhook-signature']).split(' ')).toHaveLength(2);
      // The secret is not shown again.
      expect((await gql(gatewayUrl, ENDPOINTS, {}, merchant.accessToken)).data!.webhookEndpoints).toEqual([{ id: endpoint.id, url: endpoint.url, secret: null }]);
    } finally {
      await receiver.close();
    }
  });

  it('resends a SENT delivery as exactly one more attempt: failing, it ends FAILED with no retries after it', async () => {
    // A receiver that takes every delivery at once (startReceiver refuses the first), then goes away.
    const accepting: Server = createServer((request, response) => {
      request.resume();
      request.on('end', () => response.end('ok'));
    });
    await new Promise<void>((resolve) => accepting.listen(0, '127.0.0.1', resolve));
    const merchant = await register(gatewayUrl, 'MERCHANT');
    const endpoint = (await registerEndpoint(merchant, `http://127.0.0.1:${(accepting.address() as AddressInfo).port}/hooks`)).data!.registerWebhookEndpoint;
    const buyer = await register(gatewayUrl, 'BUYER');
    await topUp(gatewayUrl, buyer, '5000');
    await pay(gatewayUrl, buyer, merchant, '300');
    const sent = await deliveryReaching(merchant, endpoint.id, 'payment.succeeded', 'SENT');
    expect(sent.attempts.map((attempt) => attempt.number)).toEqual([1]);
    accepting.closeAllConnections();
    await new Promise<void>((resolve) => accepting.close(() => resolve()));
    const resent = await gql(gatewayUrl, MANAGE.resend, { id: sent.id }, merchant.accessToken);
    expect(resent.data!.resendWebhookDelivery.status).toBe('PENDING');
    const failed = await deliveryReaching(merchant, endpoint.id, 'payment.succeeded', 'FAILED');
    expect(failed.attempts.map((attempt) => attempt.number)).toEqual([1, 2]);
    // Retries would have followed within DELIVERY_RETRY_BASE_MS (100 ms) and its doublings.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const later = (await deliveriesOf(merchant, endpoint.id)).find((delivery) => delivery.id === sent.id)!;
    expect({ status: later.status, attempts: later.attempts.map((attempt) => attempt.number) }).toEqual({ status: 'FAILED', attempts: [1, 2] });
  });

  it('disables (no new deliveries), enables, resends a FAILED delivery once, and deletes; someone else\'s endpoint is NOT_FOUND', async () => {
    const closed = await startReceiver(() => '');
    const deadUrl = closed.url;
    await closed.close();
    const merchant = await register(gatewayUrl, 'MERCHANT');
    const other = await register(gatewayUrl, 'MERCHANT');
    const endpoint = (await registerEndpoint(merchant, deadUrl)).data!.registerWebhookEndpoint;
    expect(errorCode(await gql(gatewayUrl, MANAGE.disable, { id: endpoint.id }, other.accessToken))).toBe('NOT_FOUND');
    const buyer = await register(gatewayUrl, 'BUYER');
    await topUp(gatewayUrl, buyer, '5000');
    await pay(gatewayUrl, buyer, merchant, '400');
    const failed = await deliveryReaching(merchant, endpoint.id, 'payment.succeeded', 'FAILED');
    expect(failed.attempts).toHaveLength(ATTEMPTS_MAX);
    expect(errorCode(await gql(gatewayUrl, MANAGE.resend, { id: failed.id }, other.accessToken))).toBe('NOT_FOUND');
    const resent = await gql(gatewayUrl, MANAGE.resend, { id: failed.id }, merchant.accessToken);
    expect(resent.errors).toBeUndefined();
    expect(resent.data!.resendWebhookDelivery.status).toBe('PENDING');
    await vi.waitFor(
      async () => {
        const again = (await deliveriesOf(merchant, endpoint.id)).find((delivery) => delivery.id === failed.id)!;
        expect(again.status).toBe('FAILED');
        expect(again.attempts.map((attempt) => attempt.number)).toEqual([1, 2, 3, 4]);
      },
      { timeout: 15_000, interval: 50 },
    );

    expect((await gql(gatewayUrl, MANAGE.disable, { id: endpoint.id }, merchant.accessToken)).data!.disableWebhookEndpoint).toEqual({ id: endpoint.id, enabled: false });
    const before = (await deliveriesOf(merchant, endpoint.id)).length;
    await pay(gatewayUrl, buyer, merchant, '500');
    // The buyer's notification shows the events were applied; the disabled endpoint got no delivery.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await deliveriesOf(merchant, endpoint.id)).toHaveLength(before);
    expect(errorCode(await gql(gatewayUrl, MANAGE.resend, { id: failed.id }, merchant.accessToken))).toBe('NOT_FOUND');
    expect((await gql(gatewayUrl, MANAGE.enable, { id: endpoint.id }, merchant.accessToken)).data!.enableWebhookEndpoint).toEqual({ id: endpoint.id, enabled: true });

    expect((await gql(gatewayUrl, MANAGE.remove, { id: endpoint.id }, other.accessToken)).data!.deleteWebhookEndpoint).toBe(false);
    expect((await gql(gatewayUrl, MANAGE.remove, { id: endpoint.id }, merchant.accessToken)).data!.deleteWebhookEndpoint).toBe(true);
    expect(errorCode(await gql(gatewayUrl, DELIVERIES, { endpointId: endpoint.id }, merchant.accessToken))).toBe('NOT_FOUND');
    expect((await gql(gatewayUrl, ENDPOINTS, {}, merchant.accessToken)).data!.webhookEndpoints).toEqual([]);
  });
});
