// Proves what a start with the standard variables exports, against an OTLP/HTTP receiver on
// 127.0.0.1: http/protobuf (the spec's default) and http/json bodies at /v1/traces with each
// service's spans under its own service.name in one process (OTEL_SERVICE_NAME names the only
// service of a one-service process), and nothing at all under OTEL_TRACES_SAMPLER=always_off.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTracing, tracerFor } from '@paygraph/telemetry';

const requests: { path: string; contentType: string; body: Buffer }[] = [];
let receiver: Server;
let endpoint: string;

beforeAll(async () => {
  receiver = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      requests.push({ path: request.url ?? '', contentType: String(request.headers['content-type']), body: Buffer.concat(chunks) });
      response.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => receiver.close(() => resolve()));
});

async function exportOneSpanEach(env: NodeJS.ProcessEnv, service: string | null, services: string[]): Promise<typeof requests> {
  requests.length = 0;
  const tracing = await startTracing({ OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, ...env }, { service });
  expect(tracing).not.toBeNull();
  for (const name of services) tracerFor(name).startSpan(`work in ${name}`).end();
  await tracing!.shutdown(); // flushes
  return [...requests];
}

it('exports http/protobuf by default, one service.name per service in the launcher', async () => {
  const sent = await exportOneSpanEach({}, null, ['payments', 'ledger']);
  expect(sent.length).toBeGreaterThan(0);
  expect(new Set(sent.map((request) => `${request.path} ${request.contentType}`))).toEqual(new Set(['/v1/traces application/x-protobuf']));
  const bytes = Buffer.concat(sent.map((request) => request.body)).toString('latin1');
  for (const text of ['payments', 'ledger', 'work in payments', 'work in ledger', 'service.namespace', 'paygraph']) expect(bytes).toContain(text);
});

it('exports http/json, the one service of a process named by OTEL_SERVICE_NAME', async () => {
  const sent = await exportOneSpanEach({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_SERVICE_NAME: 'payments-eu' }, 'payments', ['payments']);
  expect(sent.map((request) => request.contentType)).toEqual(['application/json']);
  const body = JSON.parse(sent[0]!.body.toString('utf8')) as { resourceSpans: { resource: { attributes: { key: string; value: { stringValue?: string } }[] }; scopeSpans: { spans: { name: string }[] }[] }[] };
  const [resourceSpans] = body.resourceSpans;
  expect(resourceSpans!.resource.attributes).toContainEqual({ key: 'service.name', value: { stringValue: 'payments-eu' } });
  expect(resourceSpans!.scopeSpans.flatMap((scope) => scope.spans.map((span) => span.name))).toEqual(['work in payments']);
});

it('exports nothing when the sampler says always_off', async () => {
  const sent = await exportOneSpanEach({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_TRACES_SAMPLER: 'always_off' }, null, ['gateway']);
  expect(sent).toEqual([]);
});
