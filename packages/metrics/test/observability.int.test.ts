// Proves every process is observable the same way, on the platform as `npm start` runs it (all
// services in this process, each on its own port, logs captured from the logger): after some
// traffic each subgraph's /metrics lists its request, resolver, SQL and pool metrics, the gateway's
// composition polling is counted apart from traffic on both sides, events and deliveries are
// measured, every access-log line carries its fields, and every metric the Grafana dashboard
// queries is one a service exports.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadServiceList, repositoryRoot } from '@paygraph/config';
import { createLogger } from '@paygraph/logging';
import { startPlatform, type Platform } from '@paygraph/platform';
import { gql, registerAndLogin, type TestUser } from '@paygraph/testing';

type LogLine = Record<string, unknown>;
const lines: LogLine[] = [];
const destination = {
  write(chunk: string) {
    for (const line of chunk.split('\n')) if (line.trim()) lines.push(JSON.parse(line) as LogLine);
  },
};

const key = () => `k-${randomBytes(6).toString('hex')}`;
const usd = (amount: string) => ({ amount, currency: 'USD' });
const TRACE_ID = randomBytes(16).toString('hex');
const TRACEPARENT = `00-${TRACE_ID}-${randomBytes(8).toString('hex')}-01`;
const REQUEST_ID = `observability-${randomBytes(4).toString('hex')}`;
const SCRAPE_WAIT_MS = 15_000;

let platform: Platform;
let gatewayUrl: string;
let buyer: TestUser;
/**
 * payOrder observations before this file's payment: a service's metrics belong to its process,
 * and a platform an earlier test file started in the same worker counted its own.
 */
let payOrdersBefore = 0;
const origin = (url: string) => new URL(url).origin;
const scrape = async (url: string) => (await fetch(`${origin(url)}/metrics`)).text();
/** Metric families a scrape declares (`# TYPE name kind`). */
const familiesOf = (text: string) => new Set([...text.matchAll(/^# TYPE (\S+) \S+$/gm)].map((match) => match[1]!));
/** The value of the first sample of `name` whose labels include every given pair. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const match of text.matchAll(new RegExp(`^${name}(?:\\{([^}]*)\\})? (\\S+)$`, 'gm'))) {
    const given = match[1] ?? '';
    if (Object.entries(labels).every(([label, value]) => given.includes(`${label}="${value}"`))) return Number(match[2]);
  }
  return undefined;
}
async function eventually<T>(read: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + SCRAPE_WAIT_MS;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('not observed in time');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

beforeAll(async () => {
  const ports = Object.fromEntries(loadServiceList({}).map((service) => [`${service.name.toUpperCase()}_PORT`, '0']));
  const env = { ...process.env, DATA_DIR: 'memory://', PORT: '0', HOST: '127.0.0.1', RATE_LIMITS: 'off', LOG_LEVEL: 'info', ...ports };
  platform = await startPlatform({ env, logger: createLogger({ level: 'info', name: 'test', destination }) });
  gatewayUrl = platform.gatewayUrl!;
  const urls = { register: gatewayUrl, login: gatewayUrl };
  const merchant = await registerAndLogin(urls, 'MERCHANT');
  buyer = await registerAndLogin(urls, 'BUYER');
  expect((await gql(gatewayUrl, `query Me { me { id } }`, {}, buyer.accessToken, { traceparent: TRACEPARENT, 'x-request-id': REQUEST_ID })).errors).toBeUndefined();
  await gql(gatewayUrl, `mutation Credit($input: CreditWalletInput!) { creditWallet(input: $input) { id } }`, { input: { amount: usd('5000'), idempotencyKey: key() } }, buyer.accessToken);
  payOrdersBefore = sample(await scrape(platform.subgraphs.get('payments')!.url), 'graphql_resolver_duration_seconds_count', { field: 'Mutation.payOrder' }) ?? 0;
  const order = await gql(gatewayUrl, `mutation Order($input: CreateOrderInput!) { createOrder(input: $input) { id } }`, { input: { merchantId: merchant.id, amount: usd('1500') } }, buyer.accessToken);
  const paid = await gql(gatewayUrl, `mutation Pay($input: PayOrderInput!) { payOrder(input: $input) { id status } }`, { input: { orderId: order.data!.createOrder.id, idempotencyKey: key() } }, buyer.accessToken);
  expect(paid.data?.payOrder.status).toBe('SUCCEEDED');
  // Every subgraph's /ready runs its database ping through the timed SQL path.
  for (const subgraph of platform.subgraphs.values()) expect((await fetch(`${origin(subgraph.url)}/ready`)).status).toBe(200);
}, 120_000);

afterAll(async () => {
  await platform?.stop();
});

describe('/metrics of every subgraph', () => {
  it('lists request, resolver, SQL, pool and process metrics, traffic apart from composition polling', async () => {
    for (const subgraph of platform.subgraphs.values()) {
      const text = await scrape(subgraph.url);
      const families = familiesOf(text);
      for (const name of ['graphql_requests_total', 'graphql_request_duration_seconds', 'graphql_resolver_duration_seconds', 'db_query_duration_seconds', 'db_pool_connections', 'db_pool_waiting_queries', 'process_cpu_user_seconds_total', 'nodejs_heap_size_used_bytes']) {
        expect(families, `${subgraph.name} declares ${name}`).toContain(name);
      }
      // The gateway composed the supergraph from every subgraph (introspection and health checks).
      expect(sample(text, 'graphql_requests_total', { kind: 'composition' }), `${subgraph.name} composition`).toBeGreaterThan(0);
      expect(sample(text, 'db_query_duration_seconds_count', { kind: 'statement' }), `${subgraph.name} statements`).toBeGreaterThan(0);
      if (process.env.DATABASE_URL) expect(sample(text, 'db_pool_connections_max'), `${subgraph.name} pool`).toBeGreaterThan(0);
    }
    const users = await scrape(platform.subgraphs.get('users')!.url);
    expect(sample(users, 'graphql_requests_total', { kind: 'traffic', outcome: 'ok' })).toBeGreaterThan(0);
    expect(sample(users, 'graphql_resolver_duration_seconds_count', { field: 'Query.me' })).toBeGreaterThan(0);
    const payments = await scrape(platform.subgraphs.get('payments')!.url);
    expect(sample(payments, 'graphql_resolver_duration_seconds_count', { field: 'Mutation.payOrder' })).toBe(payOrdersBefore + 1);
    expect(sample(payments, 'db_query_duration_seconds_count', { kind: 'transaction' })).toBeGreaterThan(0);
  });

  it('shows each service its own metrics although they share one process', async () => {
    const users = await scrape(platform.subgraphs.get('users')!.url);
    const payments = await scrape(platform.subgraphs.get('payments')!.url);
    expect(sample(payments, 'graphql_resolver_duration_seconds_count', { field: 'Query.me' })).toBeUndefined();
    expect(sample(users, 'graphql_resolver_duration_seconds_count', { field: 'Mutation.payOrder' })).toBeUndefined();
  });

  it('measures the outbox of an emitting service and the progress of the durable consumer', async () => {
    const payments = await scrape(platform.subgraphs.get('payments')!.url);
    expect(sample(payments, 'events_log_head_position', { source: 'payments' })).toBeGreaterThan(0);
    expect(sample(payments, 'events_outbox_lag_seconds', { source: 'payments' })).toBeGreaterThanOrEqual(0);
    const notificationsUrl = platform.subgraphs.get('notifications')!.url;
    const position = await eventually(async () => sample(await scrape(notificationsUrl), 'events_consumer_position', { consumer: 'notifications', source: 'payments' }));
    expect(position).toBeGreaterThan(0);
    const notifications = await scrape(notificationsUrl);
    for (const name of ['notifications_delivery_queue_depth', 'notifications_delivery_attempts_total', 'notifications_webhook_attempts_total', 'events_consumer_delay_seconds', 'events_consumer_applied_total']) {
      expect(familiesOf(notifications)).toContain(name);
    }
    expect(sample(notifications, 'notifications_delivery_queue_depth', { state: 'due' })).toBeGreaterThanOrEqual(0);
  });
});

describe('/metrics of the gateway', () => {
  it('counts composition polling apart from traffic, and its WebSocket connections and subscriptions', async () => {
    const text = await scrape(gatewayUrl);
    expect(sample(text, 'subgraph_composition_fetch_duration_seconds_count', { subgraph: 'users' })).toBeGreaterThan(0);
    expect(sample(text, 'subgraph_fetch_duration_seconds_count', { subgraph: 'users', outcome: 'ok' })).toBeGreaterThan(0);
    expect(sample(text, 'graphql_requests_total', { operation: 'Me', outcome: 'ok' })).toBe(1);
    expect(sample(text, 'websocket_connections_active')).toBe(0);
    expect(sample(text, 'graphql_subscriptions_active')).toBe(0);
  });
});

describe('access log', () => {
  const requestLines = () => lines.filter((line) => line.msg === 'request');

  it('writes one JSON line per request at the gateway with method, operation, status, duration, request, trace and user ids', () => {
    const atGateway = requestLines().filter((line) => line.service === 'gateway' && line.requestId === REQUEST_ID);
    expect(atGateway).toHaveLength(1);
    expect(atGateway[0]).toMatchObject({ level: 30, method: 'POST', path: '/graphql', operation: 'Me', status: 200, traceId: TRACE_ID, userId: buyer.id });
    expect(atGateway[0]!.durationMs).toBeTypeOf('number');
  });

  it('writes the subgraph hop with the same request id and the user the gateway forwarded', () => {
    const atUsers = requestLines().filter((line) => line.service === 'users' && line.requestId === REQUEST_ID);
    expect(atUsers).toHaveLength(1);
    expect(atUsers[0]).toMatchObject({ method: 'POST', path: '/graphql', status: 200, userId: buyer.id });
    expect(String(atUsers[0]!.operation)).toMatch(/^Me__users__\d+$/);
  });

  it('logs every GraphQL request of every subgraph, and a service caller as caller', () => {
    const services = new Set(requestLines().map((line) => line.service));
    for (const name of [...platform.subgraphs.keys(), 'gateway']) expect(services, name).toContain(name);
    // payments asks risk and the ledger with its service credential.
    expect(requestLines().some((line) => line.service === 'ledger' && line.caller === 'payments')).toBe(true);
  });

  it('keeps probes out of the info log', () => {
    expect(requestLines().filter((line) => line.path === '/ready' || line.path === '/metrics')).toEqual([]);
  });
});

describe('the Grafana dashboard', () => {
  it('queries only metrics the services export', async () => {
    const dashboard = JSON.parse(readFileSync(path.join(repositoryRoot, 'deploy/grafana/dashboards/paygraph.json'), 'utf8')) as { panels: { targets?: { expr?: string }[] }[] };
    const expressions = dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => target.expr ?? ''));
    expect(expressions.length).toBeGreaterThan(10);
    const exported = new Set<string>();
    for (const url of [gatewayUrl, ...[...platform.subgraphs.values()].map((subgraph) => subgraph.url)]) {
      for (const family of familiesOf(await scrape(url))) {
        exported.add(family);
        for (const suffix of ['_bucket', '_count', '_sum']) exported.add(`${family}${suffix}`);
      }
    }
    // The dashboard writes every metric with a selector (`name{job=~"$service"}`): what precedes a `{` is a metric.
    const metrics = [...new Set(expressions.flatMap((expression) => [...expression.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\{/g)].map((match) => match[1]!)))];
    for (const expression of expressions) expect(expression, 'every query names a metric with a selector').toMatch(/[a-z_]\{/);
    expect(metrics.length).toBeGreaterThan(10);
    for (const name of metrics) expect(exported, `the dashboard queries ${name}`).toContain(name);
  });
});
