// Proves tracing is off unless the standard OTEL_* variables ask for it, and costs nothing then:
// no endpoint means no tracing (whatever else is set), a start resolves null, helpers call straight
// through (same headers object, no header added, no span recorded); and that the settings and
// statement summaries are read as the spec and our SQL need (no parameter values in a summary).
import { describe, expect, it, vi } from 'vitest';
import { ConfigError } from '@paygraph/config';
import {
  currentTraceParent,
  startTracing,
  statementSummary,
  traceEvent,
  traceOutgoing,
  traceRequests,
  traceStatement,
  tracerFor,
  tracingOn,
  tracingSettings,
} from '@paygraph/telemetry';

describe('tracing settings', () => {
  it('is off without an OTLP endpoint, whatever else is set', () => {
    expect(tracingSettings({})).toBeNull();
    expect(tracingSettings({ OTEL_SERVICE_NAME: 'shop', OTEL_TRACES_SAMPLER: 'always_on', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' })).toBeNull();
  });

  it('is off with OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none even with an endpoint', () => {
    expect(tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'true' })).toBeNull();
    expect(tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_TRACES_EXPORTER: 'none' })).toBeNull();
  });

  it('posts to <endpoint>/v1/traces, or to the traces endpoint as given, over http/protobuf by default', () => {
    expect(tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' })).toMatchObject({
      tracesUrl: 'http://collector:4318/v1/traces',
      protocol: 'http/protobuf',
      sampler: 'parentbased_always_on',
      samplerRatio: 1,
      serviceName: undefined,
    });
    expect(
      tracingSettings({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://ignored:4318',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://traces.example/custom',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_SERVICE_NAME: 'shop',
        OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
        OTEL_TRACES_SAMPLER_ARG: '0.25',
        OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20abc,x-tenant=t1',
        OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=staging',
      }),
    ).toMatchObject({
      tracesUrl: 'https://traces.example/custom',
      protocol: 'http/json',
      serviceName: 'shop',
      sampler: 'parentbased_traceidratio',
      samplerRatio: 0.25,
      headers: { authorization: 'Bearer abc', 'x-tenant': 't1' },
      resourceAttributes: { 'deployment.environment.name': 'staging' },
    });
  });

  it('refuses what it cannot honour with a one-line configuration error', () => {
    const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' };
    expect(() => tracingSettings({ ...endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toThrow(ConfigError);
    expect(() => tracingSettings({ ...endpoint, OTEL_TRACES_SAMPLER: 'sometimes' })).toThrow(/OTEL_TRACES_SAMPLER/);
    expect(() => tracingSettings({ ...endpoint, OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '1.5' })).toThrow(/OTEL_TRACES_SAMPLER_ARG/);
    expect(() => tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' })).toThrow(/OTEL_EXPORTER_OTLP_ENDPOINT/);
    expect(() => tracingSettings({ ...endpoint, OTEL_BSP_SCHEDULE_DELAY: '-1' })).toThrow(/OTEL_BSP_SCHEDULE_DELAY/);
  });
});

describe('tracing off (no OTEL variables)', () => {
  it('starts nothing and every helper calls straight through', async () => {
    expect(await startTracing({}, { service: null })).toBeNull();
    expect(tracingOn()).toBe(false);
    expect(tracerFor('payments').startSpan('anything').isRecording()).toBe(false);
    expect(currentTraceParent()).toBeNull();

    // The call to another service gets the caller's own headers object: no traceparent added.
    const headers = { 'content-type': 'application/json' };
    const send = vi.fn(async (given: Record<string, string>) => ({ status: 200, given }));
    const response = await traceOutgoing('http://127.0.0.1:4003/graphql', headers, send);
    expect(response.given).toBe(headers);
    expect(headers).toEqual({ 'content-type': 'application/json' });

    // Requests pass through without a span; statements and events run as they are.
    const next = vi.fn();
    traceRequests('gateway')({ headers: { traceparent: `00-${'1'.repeat(32)}-${'2'.repeat(16)}-01` }, method: 'POST', url: '/graphql' } as never, {} as never, next);
    expect(next).toHaveBeenCalledOnce();
    expect(await traceStatement('ledger', 'select 1', async () => 'ran')).toBe('ran');
    expect(await traceEvent('notifications', { id: 'evt_1', type: 'payment.succeeded', source: 'payments', traceParent: null }, async () => 'applied')).toBe('applied');
  });
});

describe('statement summaries', () => {
  it('name the operation and the first table, never a value', () => {
    expect(statementSummary(`select * from payments.payments where id = $1 and note = 'secret'`)).toEqual({ summary: 'SELECT payments.payments', operation: 'SELECT', collection: 'payments.payments' });
    expect(statementSummary(`insert into "payments".outbox_events (id) values ($1)`).summary).toBe('INSERT payments.outbox_events');
    expect(statementSummary(`UPDATE ledger.accounts SET balance = balance - $1 WHERE id = $2`).summary).toBe('UPDATE ledger.accounts');
    expect(statementSummary(`with head as (select max(position) as p from "users".outbox_events) update "users".outbox_events o set position = 1`).summary).toBe('WITH users.outbox_events');
    expect(statementSummary('select 1').summary).toBe('SELECT');
    expect(statementSummary(`select pg_advisory_xact_lock(hashtext($1))`).summary).toBe('SELECT');
  });
});
