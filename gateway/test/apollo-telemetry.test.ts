// Proves Apollo's outbound telemetry (hourly usage metrics to apollographql.com, whose set-up runs
// the cloud resource detectors that probe the GCP metadata server) stays off unless the operator
// turns it on: after keepApolloTelemetryOff, constructing @apollo/gateway's ApolloGateway never builds
// that exporter; with APOLLO_TELEMETRY_DISABLED=false set by the operator it does (spied, nothing sent).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { afterEach, expect, it, vi } from 'vitest';
import { ApolloGateway } from '@apollo/gateway';
import { keepApolloTelemetryOff } from '@paygraph/telemetry';
import { STATIC_SUPERGRAPH_FILE } from '../src/gateway';

// The module whose exporter (and resource detection) the gateway's constructor calls by property.
const apolloTelemetry = createRequire(createRequire(import.meta.url).resolve('@apollo/gateway'))('./utilities/opentelemetry.js') as {
  createDataCollectionExporter: () => { shutdown(): Promise<void> };
};
const supergraphSdl = readFileSync(STATIC_SUPERGRAPH_FILE, 'utf8');
const saved = process.env.APOLLO_TELEMETRY_DISABLED;

afterEach(() => {
  vi.restoreAllMocks();
  if (saved === undefined) delete process.env.APOLLO_TELEMETRY_DISABLED;
  else process.env.APOLLO_TELEMETRY_DISABLED = saved;
});

function constructGateway(): number {
  const exporter = vi.spyOn(apolloTelemetry, 'createDataCollectionExporter').mockReturnValue({ shutdown: async () => {} });
  new ApolloGateway({ supergraphSdl });
  return exporter.mock.calls.length;
}

it('builds no Apollo telemetry exporter (no metadata probe) unless the operator asks', () => {
  delete process.env.APOLLO_TELEMETRY_DISABLED;
  keepApolloTelemetryOff();
  expect(process.env.APOLLO_TELEMETRY_DISABLED).toBe('true');
  expect(constructGateway()).toBe(0);
});

it('leaves an explicit APOLLO_TELEMETRY_DISABLED=false alone: Apollo telemetry is on', () => {
  process.env.APOLLO_TELEMETRY_DISABLED = 'false';
  keepApolloTelemetryOff();
  expect(process.env.APOLLO_TELEMETRY_DISABLED).toBe('false');
  expect(constructGateway()).toBe(1);
});
