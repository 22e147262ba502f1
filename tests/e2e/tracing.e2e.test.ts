// Proves OpenTelemetry traces end to end on the platform `npm start` runs: with the standard OTEL_*
// variables pointing at an OTLP/HTTP JSON receiver run by this test, a payment sent with a given W3C
// traceparent yields one trace under that trace id, with spans from the gateway, payments, risk and
// ledger (each under its own service.name), SQL statement spans as children, a connected span tree,
// the notification for that payment applied in a span of the same trace that links to it, and the
// merchant's webhook delivery for it sent in a span of that trace too.
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { ownDatabaseWhenShared, type OwnDatabase } from '../support/own-database';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { gql, registerAndLogin, type TestUser } from '@paygraph/testing';
import { startTestPlatform, type Platform } from '@paygraph/platform';

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
}
interface OtlpAttribute {
  key: string;
  value: OtlpValue;
}
interface ReceivedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  attributes: Record<string, string>;
  links: { traceId: string; spanId: string }[];
}

const received: ReceivedSpan[] = [];
const contentTypes = new Set<string>();
let receiver: Server;
let webhookReceiver: Server;
let platform: Platform;
let gatewayUrl: string;
// On PostgreSQL every test file's platform shares DATABASE_URL, and any of their delivery workers
// may claim this platform's deliveries (as any instance of a deployment may): untraced processes
// would send them. This platform gets a database of its own so its deliveries are its own.
let ownDatabase: OwnDatabase | undefined;

const attributesOf = (list: OtlpAttribute[] | undefined) =>
  Object.fromEntries((list ?? []).map((attribute) => [attribute.key, String(attribute.value.stringValue ?? attribute.value.intValue ?? '')]));

/** Collects spans from OTLP/HTTP JSON export requests (the resource's service.name on each span). */
function collect(body: string): void {
  const request = JSON.parse(body) as {
    resourceSpans?: {
      resource?: { attributes?: OtlpAttribute[] };
      scopeSpans?: { spans?: (Omit<ReceivedSpan, 'service' | 'attributes'> & { attributes?: OtlpAttribute[] })[] }[];
    }[];
  };
  for (const resourceSpans of request.resourceSpans ?? []) {
    const service = attributesOf(resourceSpans.resource?.attributes)['service.name'] ?? '';
    for (const scope of resourceSpans.scopeSpans ?? []) {
      for (const span of scope.spans ?? []) {
        received.push({ ...span, service, parentSpanId: span.parentSpanId ?? '', links: span.links ?? [], attributes: attributesOf(span.attributes) });
      }
    }
  }
}

const usd = (amount: string) => ({ amount, currency: 'USD' });
const key = () => `k-${randomBytes(6).toString('hex')}`;

beforeAll(async () => {
  receiver = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      contentTypes.add(String(request.headers['content-type']));
      if (request.url === '/v1/traces') collect(Buffer.concat(chunks).toString('utf8'));
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  webhookReceiver = createServer((request, response) => {
    request.resume();
    request.on('end', () => response.end('ok'));
  });
  await new Promise<void>((resolve) => webhookReceiver.listen(0, '127.0.0.1', resolve));
  ownDatabase = await ownDatabaseWhenShared('tracing');
  platform = await startTestPlatform({
    env: {
      ...ownDatabase.env,
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      // Only requests that arrive sampled are traced: everything exported here is this test's trace.
      OTEL_TRACES_SAMPLER: 'parentbased_always_off',
      OTEL_BSP_SCHEDULE_DELAY: '100',
    },
  });
  gatewayUrl = platform.gatewayUrl!;
});

afterAll(async () => {
  await platform?.stop();
  await new Promise<void>((resolve) => receiver?.close(() => resolve()));
  await new Promise<void>((resolve) => webhookReceiver?.close(() => resolve()));
  await ownDatabase?.drop();
});

async function orderToPay(): Promise<{ buyer: TestUser; orderId: string }> {
  const urls = { register: gatewayUrl, login: gatewayUrl };
  const merchant = await registerAndLogin(urls, 'MERCHANT');
  const endpoint = await gql(gatewayUrl, `mutation($input: RegisterWebhookEndpointInput!) { registerWebhookEndpoint(input: $input) { id } }`, { input: { url: `http://127.0.0.1:${(webhookReceiver.address() as AddressInfo).port}/hooks` } }, merchant.accessToken);
  expect(endpoint.errors).toBeUndefined();
  const buyer = await registerAndLogin(urls, 'BUYER');
  const credited = await gql(gatewayUrl, `mutation($input: CreditWalletInput!) { creditWallet(input: $input) { id } }`, { input: { amount: usd('10000'), idempotencyKey: key() } }, buyer.accessToken);
  expect(credited.errors).toBeUndefined();
  const order = await gql(gatewayUrl, `mutation($input: CreateOrderInput!) { createOrder(input: $input) { id } }`, { input: { merchantId: merchant.id, amount: usd('2500') } }, buyer.accessToken);
  expect(order.errors).toBeUndefined();
  return { buyer, orderId: order.data!.createOrder.id };
}

describe('traces', () => {
  it('follows a payment with the caller\'s traceparent from the gateway through payments, risk and ledger to SQL and the notification', async () => {
    const { buyer, orderId } = await orderToPay();
    // Nothing before the traced request was sampled (parentbased_always_off, no traceparent).
    expect(received).toEqual([]);

    const traceId = randomBytes(16).toString('hex');
    const callerSpanId = randomBytes(8).toString('hex');
    const paid = await gql(
      gatewayUrl,
      `mutation Pay($input: PayOrderInput!) { payOrder(input: $input) { id status } }`,
      { input: { orderId, idempotencyKey: key() } },
      buyer.accessToken,
      { traceparent: `00-${traceId}-${callerSpanId}-01` },
    );
    expect(paid.errors).toBeUndefined();
    expect(paid.data!.payOrder.status).toBe('SUCCEEDED');

    await vi.waitFor(
      () => {
        const services = new Set(received.map((span) => span.service));
        for (const service of ['gateway', 'payments', 'risk', 'ledger', 'notifications']) expect(services).toContain(service);
        expect(received.some((span) => span.service === 'notifications' && span.name === 'process payment.succeeded')).toBe(true);
        expect(received.some((span) => span.service === 'notifications' && span.name === 'deliver WEBHOOK')).toBe(true);
        // The gateway's server span ends last (when its response closes), possibly after the deliveries.
        expect(received.some((span) => span.service === 'gateway' && span.name === 'POST /graphql')).toBe(true);
        // Each service exports in its own batches: a span can arrive before its parent (a transaction
        // or a relay pass still open, or in a later batch). Wait until every parent has arrived; the
        // tree is asserted below.
        const ids = new Set(received.map((span) => span.spanId));
        for (const span of received) if (span.parentSpanId !== callerSpanId) expect(ids.has(span.parentSpanId), `${span.service} ${span.name} waits for its parent`).toBe(true);
      },
      { timeout: 20_000, interval: 100 },
    );

    // One trace: the caller's.
    expect(new Set(received.map((span) => span.traceId))).toEqual(new Set([traceId]));
    expect(contentTypes).toEqual(new Set(['application/json']));

    // The gateway's server span continues the caller's span; every other span's parent is in the trace.
    const byId = new Map(received.map((span) => [span.spanId, span]));
    const gatewayRoot = received.find((span) => span.service === 'gateway' && span.name === 'POST /graphql');
    expect(gatewayRoot).toMatchObject({ parentSpanId: callerSpanId, attributes: expect.objectContaining({ 'http.response.status_code': '200' }) });
    // @apollo/gateway's own spans report to the gateway's provider, inside the request.
    const apolloRequest = received.find((span) => span.service === 'gateway' && span.name === 'gateway.request');
    expect(apolloRequest).toMatchObject({ parentSpanId: gatewayRoot!.spanId, attributes: expect.objectContaining({ 'graphql.operation.name': 'Pay' }) });
    expect(received.some((span) => span.service === 'gateway' && span.name === 'gateway.fetch')).toBe(true);
    for (const span of received) {
      if (span === gatewayRoot) continue;
      expect(byId.has(span.parentSpanId), `${span.service} ${span.name} has its parent in the trace`).toBe(true);
    }

    // payments' server span is reached from the gateway's client span (the undici hop carried traceparent).
    const paymentsServer = received.find((span) => span.service === 'payments' && span.name === 'POST /graphql' && span.attributes['graphql.operation.name'] !== undefined)
      ?? received.find((span) => span.service === 'payments' && span.name === 'POST /graphql');
    expect(paymentsServer).toBeDefined();
    expect(byId.get(paymentsServer!.parentSpanId)).toMatchObject({ service: 'gateway', name: 'POST' });
    expect(byId.get(byId.get(paymentsServer!.parentSpanId)!.parentSpanId)).toMatchObject({ service: 'gateway', name: 'gateway.fetch' });
    // risk and ledger are called by payments through the service client.
    for (const callee of ['risk', 'ledger']) {
      const fromPayments = received.filter((span) => span.service === callee && span.name === 'POST /graphql' && byId.get(span.parentSpanId)?.service === 'payments');
      expect(fromPayments.map((span) => byId.get(span.parentSpanId)?.name), `${callee} called by payments`).toContain('POST');
    }

    // SQL: statement spans with db.system and a summary, children of the service's spans, no values.
    const statements = received.filter((span) => span.attributes['db.system'] === 'postgresql' && span.attributes['db.query.summary']);
    expect(new Set(statements.map((span) => span.service))).toEqual(expect.objectContaining(new Set(['payments', 'ledger'])));
    for (const statement of statements) {
      expect(statement.name).toBe(statement.attributes['db.query.summary']);
      expect(statement.name).toMatch(/^[A-Z]+( [\w.$]+)?$/);
      expect(byId.get(statement.parentSpanId)?.service).toBe(statement.service);
    }
    expect(statements.some((span) => span.service === 'ledger' && byId.get(span.parentSpanId)?.name === 'transaction')).toBe(true);

    // The notification for this payment: applied in a span of this trace that links to the payment's context.
    const notification = received.find((span) => span.service === 'notifications' && span.name === 'process payment.succeeded')!;
    expect(byId.get(notification.parentSpanId)?.service).toBe('payments');
    expect(notification.links).toEqual([expect.objectContaining({ traceId, spanId: notification.parentSpanId })]);
    // The webhook delivery (sent later by the delivery worker) continues the same trace and links to it.
    const deliveries = received.filter((span) => span.service === 'notifications' && span.name === 'deliver WEBHOOK');
    for (const delivery of deliveries) {
      expect(byId.get(delivery.parentSpanId)?.service).toBe('payments');
      expect(delivery.links).toEqual([expect.objectContaining({ traceId, spanId: delivery.parentSpanId })]);
      expect(delivery.attributes).toMatchObject({ 'paygraph.delivery.channel': 'WEBHOOK', 'paygraph.delivery.attempt': '1' });
    }
  });
});
